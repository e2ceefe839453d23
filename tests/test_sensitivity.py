"""Sensitivity of per-country counts to the study-set choices, on the bundled snapshot."""

from __future__ import annotations

import dataclasses
import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from trialmap.aggregate import country_counts
from trialmap.sensitivity import sensitivity, variants
from trialmap.studyset import select


@pytest.fixture(scope="module")
def sens(result, definition):
    return sensitivity(result.tables, definition)


def test_variants_cover_evidence_and_every_switch(definition):
    names = list(variants(definition))
    assert names[:4] == ["default", "evidence=mesh", "evidence=keyword", "evidence=both"]
    assert {"osteoarthritis=on", "covid19=off", "liver_cirrhosis=on", "derived_products=on"} <= set(names)


def test_default_column_is_the_run_and_each_variant_is_recomputable(sens, result, definition):
    wide, summary = sens
    w = wide.set_index("iso3")
    cc = result.country_counts.set_index("iso3")["n_trials"]
    assert w.loc[cc.index, "default"].to_dict() == cc.to_dict()
    s = summary.set_index("variant")
    assert s.at["default", "n_trials"] == len(result.included) and s.at["default", "n_changed"] == 0
    # Osteoarthritis on: recompute independently and compare one country.
    on = dataclasses.replace(definition, switches={**definition.switches, "osteoarthritis": True})
    log, _ = select(result.tables, on)
    ids = log.loc[log["included"], "nct_id"]
    again = country_counts(result.tables.sites, ids).set_index("iso3")["n_trials"]
    assert w.loc[again.index, "osteoarthritis=on"].to_dict() == again.to_dict()
    assert s.at["osteoarthritis=on", "n_trials"] > s.at["default", "n_trials"]
    assert s.at["covid19=off", "n_trials"] < s.at["default", "n_trials"]
    # Every variant moves at least one country except possibly none; the big switches move many.
    assert s.at["osteoarthritis=on", "n_changed"] >= 10
    assert s.at["evidence=keyword", "max_abs_change"] > 0


def test_sensitivity_figure(sens):
    from trialmap.figures.sensitivity import sensitivity_plot

    wide, _ = sens
    ax = sensitivity_plot(wide, top=10, source_line="Data: ClinicalTrials.gov")
    try:
        default = next(c for c in ax.collections if c.get_gid() == "variant-default")
        assert len(default.get_offsets()) == 10
        # The top row is the leading country, drawn at its default count.
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[-1] == wide.at[0, "country"]
        assert default.get_offsets()[-1][0] == wide.at[0, "default"]
        assert {c.get_gid() for c in ax.collections} >= {"variant-evidence=mesh", "variant-covid19=off"}
    finally:
        plt.close(ax.figure)


def test_sensitivity_command(tmp_path, capsys):
    import shutil

    from trialmap.__main__ import main

    from .conftest import BUNDLED_ID, RAW

    shutil.copytree(RAW / BUNDLED_ID, tmp_path / "raw" / BUNDLED_ID)
    argv = ["--data-dir", str(tmp_path), "sensitivity", "--top", "5", "--counting-rule", "fractional"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "osteoarthritis=on" in out and "United States" in out
    folder = tmp_path / "processed" / f"{BUNDLED_ID}_sensitivity-fractional"
    # Fractional shares of each variant add up to its number of trials.
    wide = pd.read_csv(folder / "sensitivity_counts.csv")
    summary = pd.read_csv(folder / "sensitivity_summary.csv").set_index("variant")
    for v in ("default", "evidence=mesh", "covid19=off"):
        assert wide[v].sum() == pytest.approx(summary.at[v, "n_trials"])
    for name in ("sensitivity_counts.csv", "sensitivity_summary.csv", "sensitivity.pdf", "sensitivity.png"):
        assert (folder / name).stat().st_size > 100
    assert not json.dumps(sorted(p.name for p in folder.parent.iterdir())).count(".tmp-")
