"""The shipped definitions: selectable by name, generic texts, what each selects on the bundled snapshot."""

from __future__ import annotations

import re

import pytest

from trialmap.errors import DefinitionError
from trialmap.studyset import (
    category_counts,
    flow_counts,
    list_definitions,
    load_definition,
    select,
    step_labels,
    step_prose,
)

from .conftest import ROOT

SHIPPED = ["msc-inflammatory-autoimmune", "ipsc-derived", "msc-any-condition"]


def test_list_definitions_names_each_with_title_and_version():
    infos = list_definitions()
    assert [i.name for i in infos] == SHIPPED  # the default first
    assert {i.name: i.version for i in infos} == {
        "msc-inflammatory-autoimmune": "3", "ipsc-derived": "1", "msc-any-condition": "1"}
    assert all(i.title for i in infos)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_definition_loads_by_name(name):
    d = load_definition(name)
    assert d.name == name
    assert load_definition(d.source if d.source != "default" else None).name == name


def test_a_definition_loads_by_path_and_an_unknown_name_is_a_clear_error(tmp_path):
    from trialmap.studyset import definition_text

    mine = tmp_path / "mine.toml"
    mine.write_text(definition_text("ipsc-derived").replace('name = "ipsc-derived"', 'name = "mine"'),
                    encoding="utf-8")
    assert load_definition(mine).name == "mine"
    assert load_definition(str(mine)).source == str(mine)
    with pytest.raises(DefinitionError, match=r"neither a shipped definition .*msc-any-condition"):
        load_definition("msc-any-disease")


def test_the_v2_file_with_its_msc_section_still_loads():
    d = load_definition(ROOT / "tests" / "data" / "studyset_labels" / "studyset_v2.toml")
    assert d.label == "msc-inflammatory-autoimmune v2"
    assert d.intervention.name == "MSC" and "remestemcel" in d.intervention.products


def test_msc_any_condition_shares_the_default_msc_rule(definition):
    anyc = load_definition("msc-any-condition")
    assert anyc.intervention == definition.intervention
    assert anyc.any_condition and not anyc.categories


def test_counts_under_each_shipped_definition(result):
    counts = {}
    for name in SHIPPED:
        log, cats = select(result.tables, load_definition(name))
        counts[name] = flow_counts(log).set_index("step")["n_remaining"].to_dict()
        if name != "msc-inflammatory-autoimmune":
            cc = category_counts(cats, load_definition(name))
            assert cc["category"].tolist() == ["all"]
            assert cc["n_trials"].iloc[0] == counts[name]["with_mapped_country"]
    assert counts["msc-inflammatory-autoimmune"]["in_scope"] == 325
    assert counts["msc-inflammatory-autoimmune"]["with_mapped_country"] == 300
    # Any condition: every interventional MSC trial is in scope.
    anyc = counts["msc-any-condition"]
    assert anyc["in_scope"] == anyc["study_type"] == 1178
    assert counts["msc-inflammatory-autoimmune"]["study_type"] == 1178
    assert anyc["with_mapped_country"] == 1062
    assert counts["ipsc-derived"]["intervention_confirmed"] == 13
    assert counts["ipsc-derived"]["with_mapped_country"] == 11


def test_an_ipsc_run_writes_no_msc_in_any_generated_text(result):
    """Every text the study-set layer generates for an ipsc-derived run: flow labels and
    sentences, every inclusion-log reason, category labels, the drawn flow diagram."""
    import matplotlib.pyplot as plt

    from trialmap.figures.flow import flow_diagram

    d = load_definition("ipsc-derived")
    log, cats = select(result.tables, d)
    texts = [d.title, d.scope, d.description, *d.texts().values(), *step_labels(d).values(),
             *step_prose(d).values(), *log["reason"].unique(), *category_counts(cats, d)["label"],
             *cats["evidence"], *cats["match"]]
    ax = flow_diagram(flow_counts(log), log, labels=step_labels(d), title=d.title)
    try:
        texts += [t.get_text() for t in ax.texts]
    finally:
        plt.close(ax.figure)
    offending = [t for t in texts if re.search(r"\bMSCs?\b|mesenchym", str(t), re.IGNORECASE)]
    assert not offending
    assert "no iPSC-derived cell intervention or title" in set(log["reason"])
    assert step_labels(d)["intervention_confirmed"] == "iPSC-derived cell intervention confirmed"
