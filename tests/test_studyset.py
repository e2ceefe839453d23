"""The study-set rule on real trials checked by hand, and the definition file's checks."""

from __future__ import annotations

import dataclasses

import pytest

from trialmap.errors import DefinitionError
from trialmap.refresh import process
from trialmap.studyset import STEPS, flow_counts, load_definition, parse_definition, select

# Each was read by hand in the raw JSON (title, interventions, conditions, MeSH).
INCLUDED = {
    # allogeneic bone-marrow MSCs injected around Crohn's fistulas (GALENE), MeSH Crohn Disease
    "NCT02677350": "ibd",
    # MSCs vs best available therapy for steroid-refractory acute GvHD
    "NCT04629833": "gvhd",
    # Prochymal (remestemcel-L, named by product only) in new-onset type 1 diabetes
    "NCT00690066": "type1_diabetes",
    # MSCs for ARDS, MeSH Respiratory Distress Syndrome
    "NCT04347967": "ards_lung_injury",
    # MSCs for dry eye in Sjögren's syndrome
    "NCT04615455": "rheumatic_autoimmune",
}
EXCLUDED = {
    # MSC-derived exosomes in ischaemic stroke: a cell-free product, not MSC therapy
    "NCT03384433": "msc_confirmed",
    # iPS-cell-derived cardiomyocyte sheets: not MSCs at all
    "NCT04696328": "msc_confirmed",
    # "epithelial-mesenchymal transition" in Barrett's oesophagus: a biology phrase, not cells
    "NCT02579460": "msc_confirmed",
    # exosome-based prostate cancer diagnostics
    "NCT03694483": "msc_confirmed",
    # Prochymal expanded access for GvHD: not a trial (study type EXPANDED_ACCESS)
    "NCT00759018": "study_type",
    # allogeneic MSCs in osteoarthritis: OA is a judgement call switched off by default
    "NCT01453738": "in_scope",
    # allogeneic MSCs in Alzheimer's disease: neither inflammatory nor autoimmune here
    "NCT02833792": "in_scope",
}


@pytest.fixture(scope="module")
def log(result):
    return result.inclusion_log.set_index("nct_id")


@pytest.mark.parametrize(("nct", "category"), INCLUDED.items())
def test_hand_checked_trials_are_in_with_their_category(result, log, nct, category):
    assert bool(log.at[nct, "included"]), log.at[nct, "reason"]
    cats = set(result.categories.loc[result.categories["nct_id"] == nct, "category"])
    assert category in cats


@pytest.mark.parametrize(("nct", "step"), EXCLUDED.items())
def test_hand_checked_trials_are_out_at_the_right_step(log, nct, step):
    assert not log.at[nct, "included"]
    assert log.at[nct, "step"] == step
    assert log.at[nct, "reason"]


def test_every_record_has_one_log_row_and_the_flow_adds_up(result):
    log = result.inclusion_log
    assert len(log) == 1783 and log["nct_id"].is_unique
    flow = flow_counts(log).set_index("step")
    assert list(flow.index) == list(STEPS)
    assert flow.at["records_read", "n_remaining"] == 1783
    assert flow["n_excluded"].sum() + flow.at["with_mapped_country", "n_remaining"] == 1783
    assert flow.at["with_mapped_country", "n_remaining"] == int(log["included"].sum())
    # The archive mixes MSC with iPSC, exosome and engineered-cell trials.
    assert 1100 < flow.at["msc_confirmed", "n_remaining"] < 1400


def test_every_mesh_id_of_the_default_definition_occurs_in_the_real_records(tables, definition):
    seen = set(tables.conditions["mesh_id"].dropna())
    for cat in definition.categories:
        missing = set(cat.mesh) - seen
        assert not missing, f"{cat.key}: {missing} not in any bundled record"


def test_switching_osteoarthritis_on_brings_osteoarthritis_trials_in(bundled_snapshot, definition):
    on = dataclasses.replace(definition, switches={**definition.switches, "osteoarthritis": True})
    result = process(bundled_snapshot, on)
    log = result.inclusion_log.set_index("nct_id")
    assert log.at["NCT01453738", "included"]
    default = process(bundled_snapshot, definition)
    assert log["included"].sum() > default.inclusion_log["included"].sum()


def test_select_keeps_only_trials_with_a_mapped_site(tables, definition):
    # Blank every country: nothing can be mapped, so nothing is included.
    no_iso = tables.replace(sites=tables.sites.assign(iso3=None))
    log, cats = select(no_iso, definition)
    assert not log["included"].any() and cats.empty
    assert (log["step"] == "with_mapped_country").sum() > 200


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (("[msc]\n", "[msc]\ncolour = 'blue'\n"), r":\d+: unknown key 'colour' in \[msc\]"),
        (('mesh = ["D000006086"]', 'mesh = ["D6086"]'), r":\d+: invalid MeSH descriptor id 'D6086'"),
        (("'mesenchym(?:al|e)',", "'mesenchym(al',"), r":\d+: bad regular expression"),
        (('switch = "covid19"', 'switch = "covid"'), r":\d+: .*names switch 'covid'"),
        (("[definition]", "[definiton]"), r"unknown section \[definiton\]"),
        (("version = \"2\"", "version = "), r":14: not valid TOML"),
    ],
)
def test_a_malformed_definition_is_a_clear_error_naming_the_line(tmp_path, patch, message):
    from importlib import resources

    text = (resources.files("trialmap") / "data" / "studyset.toml").read_text(encoding="utf-8")
    old, new = patch
    assert old in text
    bad = tmp_path / "mine.toml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DefinitionError, match=message):
        load_definition(bad)


def test_the_default_definition_parses_and_names_itself(definition):
    assert definition.label == "msc-inflammatory-autoimmune v2"
    assert {c.key for c in definition.active_categories()} >= {"gvhd", "ibd", "covid19"}
    assert "osteoarthritis" not in {c.key for c in definition.active_categories()}
    with pytest.raises(DefinitionError, match="does not exist"):
        load_definition("/nonexistent/definition.toml")
    assert parse_definition(
        "[definition]\nname='x'\nversion='2'\n[msc]\n[categories]\n"
    ).categories == ()
