"""A run aimed at another question says nothing about MSCs in any text trialmap generates."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import trialmap as tm

MSC = re.compile(r"\bMSCs?\b|mesenchym", re.IGNORECASE)


@pytest.fixture(scope="module")
def ipsc_outputs(tmp_path_factory, bundled_snapshot):
    run = tm.run(bundled_snapshot, definition="ipsc-derived")
    return run, run.write(tmp_path_factory.mktemp("ipsc"), figures="all")


def test_ipsc_run_generates_no_msc_text(ipsc_outputs):
    run, out = ipsc_outputs
    assert 0 < len(run.included) < 20 and run.definition.title.startswith("Trials of iPSC-derived")
    # Texts trialmap writes itself. Record quotes (titles, intervention names after "field: ")
    # and the snapshot's own manifest (its query was an MSC search) are the registry's words.
    generated = [
        (out / "flow.csv").read_text(), (out / "category_counts.csv").read_text(),
        json.dumps({k: v for k, v in json.loads((out / "provenance.json").read_text()).items()
                    if k in ("definition", "description", "counting_rule", "source_line", "flow")}),
    ]
    methods = (out / "methods.md").read_text()
    generated.append(re.sub(r"\*\*Data source\.\*\*[^\n]*", "", methods))
    for sidecar in (out / "figures").glob("*.json"):
        fig = json.loads(sidecar.read_text())["figure"]
        generated += [fig.get("caption", ""), fig.get("title", "")]
    log = pd.read_csv(out / "inclusion_log.csv", keep_default_na=False)
    generated += [r.split(": ", 1)[0] for r in log["reason"].unique()]  # the rule's words, not the quote
    for text in generated:
        assert not MSC.search(text), MSC.search(text).group(0) + " in: " + text[:200]


def test_every_shipped_definition_runs_and_names_itself(bundled_snapshot):
    names = [d["name"] for d in tm.list_definitions()]
    assert names[0] == "msc-inflammatory-autoimmune"
    assert {"msc-any-condition", "ipsc-derived"} <= set(names)
    sizes = {n: len(tm.run(bundled_snapshot, definition=n).included) for n in names}
    # Any condition holds the inflammatory/autoimmune set; iPSC products are few.
    assert sizes["msc-any-condition"] > sizes["msc-inflammatory-autoimmune"] > sizes["ipsc-derived"] > 0
