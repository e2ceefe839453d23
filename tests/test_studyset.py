"""The study-set rule on real trials checked by hand, and the definition file's checks."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from trialmap import pipeline
from trialmap.errors import DefinitionError
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
    # FURESTEM-CD (umbilical cord blood MSCs, named by product code only) in Crohn's disease
    "NCT02000362": "ibd",
    # SCM-CGH: arms say "bone marrow-derived mesenchymal stem cells"; chronic GvHD
    "NCT04189432": "gvhd",
    # SCM-AGH, same cells, in atopic dermatitis
    "NCT04179760": "inflammatory_skin",
    # AVB-114: autologous adipose mesenchymal cells on a fistula plug, Crohn's perianal fistula
    "NCT04847739": "ibd",
    # darvadstrocel (Cx601) in Crohn's perianal fistula, 8 European countries + Israel
    "NCT01541579": "ibd",
}
EXCLUDED = {
    # MSC-derived exosomes in ischaemic stroke: a cell-free product, not MSC therapy
    "NCT03384433": "intervention_confirmed",
    # iPS-cell-derived cardiomyocyte sheets: not MSCs at all
    "NCT04696328": "intervention_confirmed",
    # "epithelial-mesenchymal transition" in Barrett's oesophagus: a biology phrase, not cells
    "NCT02579460": "intervention_confirmed",
    # exosome-based prostate cancer diagnostics
    "NCT03694483": "intervention_confirmed",
    # Prochymal expanded access for GvHD: not a trial (study type EXPANDED_ACCESS)
    "NCT00759018": "study_type",
    # allogeneic MSCs in osteoarthritis: OA is a judgement call switched off by default
    "NCT01453738": "in_scope",
    # allogeneic MSCs in Alzheimer's disease: neither inflammatory nor autoimmune here
    "NCT02833792": "in_scope",
    # sepsis study that only takes samples (a bone marrow sample "(mesenchymal stem cells)")
    "NCT02789995": "intervention_confirmed",
    # IBD study of intestinal MSCs in biopsies: no treatment at all
    "NCT03115749": "intervention_confirmed",
    # adipose stromal vascular fraction in systemic sclerosis: SVF is not an MSC product
    "NCT03060551": "intervention_confirmed",
    # ExoFlo, MSC-derived extracellular vesicles, in Crohn's disease
    "NCT05130983": "intervention_confirmed",
    # UC-MSCs plus conditioned medium for keloid: an MSC trial, but keloid is out of scope
    "NCT04326959": "in_scope",
    # BRTX-100, bone marrow MSCs grown in platelet lysate, in lumbar disc disease
    "NCT04042844": "in_scope",
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
    assert list(flow.index) == [s for s in STEPS if s != "posted_by_as_of"]
    assert flow.at["records_read", "n_remaining"] == 1783
    assert flow["n_excluded"].sum() + flow.at["with_mapped_country", "n_remaining"] == 1783
    assert flow.at["with_mapped_country", "n_remaining"] == int(log["included"].sum())
    # The archive mixes MSC with iPSC, exosome and engineered-cell trials.
    assert 1100 < flow.at["intervention_confirmed", "n_remaining"] < 1400


def test_every_mesh_id_of_the_default_definition_occurs_in_the_real_records(tables, definition):
    seen = set(tables.conditions["mesh_id"].dropna())
    for cat in definition.categories:
        missing = set(cat.mesh) - seen
        assert not missing, f"{cat.key}: {missing} not in any bundled record"


def test_switching_osteoarthritis_on_brings_osteoarthritis_trials_in(bundled_snapshot, definition):
    on = dataclasses.replace(definition, switches={**definition.switches, "osteoarthritis": True})
    result = pipeline.run(bundled_snapshot, on)
    log = result.inclusion_log.set_index("nct_id")
    assert log.at["NCT01453738", "included"]
    default = pipeline.run(bundled_snapshot, definition)
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
        (("[intervention]\n", "[intervention]\ncolour = 'blue'\n"),
         r":\d+: unknown key 'colour' in \[intervention\]"),
        (('group = "autoimmune"', 'group = "autoimune"'), r":\d+: \[categories.multiple_sclerosis\] group"),
        (("covid19 = true ", "covid19 = 'yes' "), r":\d+: switch 'covid19' must be true or false"),
        (('label = "Type 1 diabetes"', 'label = "Type 1 diabetes"\nkeyword = ["t1d"]'),
         r":\d+: unknown key 'keyword' in \[categories.type1_diabetes\]"),
        (('mesh = ["D000006086"]', 'mesh = ["D6086"]'), r":\d+: invalid MeSH descriptor id 'D6086'"),
        (("'mesench[yi]m(?:al|e)',", "'mesenchym(al',"), r":\d+: bad regular expression"),
        (('switch = "covid19"', 'switch = "covid"'), r":\d+: .*names switch 'covid'"),
        (("[definition]", "[definiton]"), r"unknown section \[definiton\]"),
        (("version = \"3\"", "version = "), r":\d+: not valid TOML"),
        (("not_if = ['biliary atresia']", "not_if = ['biliary (atresia']"), r":\d+: bad regular expression"),
        (('[conditions]\n', '[conditions]\ncolour = 1\n'), r":\d+: unknown key 'colour' in \[conditions\]"),
    ],
)
def test_a_malformed_definition_is_a_clear_error_naming_the_line(tmp_path, patch, message):

    from trialmap.studyset import default_definition_text

    text = default_definition_text()
    old, new = patch
    assert old in text
    bad = tmp_path / "mine.toml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DefinitionError, match=message) as err:
        load_definition(bad)
    # The line named is the line that was changed (or added).
    line = int(str(err.value).split(":")[1])
    changed = bad.read_text(encoding="utf-8").splitlines()[line - 1]
    assert new.split("\n")[-1].strip().split(" ")[0] in changed or new.strip() in changed


def test_the_default_definition_parses_and_names_itself(definition):
    assert definition.label == "msc-inflammatory-autoimmune v3"
    assert definition.title == "MSC trials in inflammatory and autoimmune disease"
    assert definition.intervention.name == "MSC"
    assert list(definition.groups) == ["autoimmune", "inflammatory"]
    assert len(repr(definition)) < 400
    assert {c.key for c in definition.active_categories()} >= {"gvhd", "ibd", "covid19"}
    assert "osteoarthritis" not in {c.key for c in definition.active_categories()}
    with pytest.raises(DefinitionError, match="does not exist"):
        load_definition("/nonexistent/definition.toml")
    assert parse_definition(
        "[definition]\nname='x'\nversion='2'\n[intervention]\npatterns=['x']\n[categories]\n"
    ).categories == ()


def test_the_default_file_written_out_loads_as_a_user_file(tmp_path, capsys, definition):
    from trialmap.__main__ import main

    assert main(["definition"]) == 0
    mine = tmp_path / "mine.toml"
    mine.write_text(capsys.readouterr().out, encoding="utf-8")
    loaded = load_definition(mine)
    assert loaded.source == str(mine)
    assert dataclasses.replace(loaded, source="default") == definition


def test_with_switches_and_unknown_switch(definition):
    from trialmap.studyset import with_switches

    on = with_switches(definition, {"osteoarthritis": True})
    assert "osteoarthritis" in {c.key for c in on.active_categories()}
    with pytest.raises(DefinitionError, match="unknown switch 'osteoarthritis_knee'"):
        with_switches(definition, {"osteoarthritis_knee": True})


def test_msc_rule_reasons_on_hand_checked_records(tables, definition):
    from trialmap.studyset import intervention_evidence

    ev = intervention_evidence(tables, definition).set_index("nct_id")
    # The intervention names both UC-MSCs and conditioned medium: the MSC part decides.
    assert ev.at["NCT04326959", "confirmed"]
    assert ev.at["NCT04326959", "reason"].startswith("intervention: Umbilical Cord-Mesenchymal")
    assert ev.at["NCT03384433", "reason"] == "cell-free derivative of MSC only: exosome"
    assert ev.at["NCT02789995", "reason"] == "interventions are sample collection only, not a treatment"
    assert not ev.at["NCT02579460", "confirmed"]  # epithelial-mesenchymal transition
    # With derived products switched on, exosome trials count as MSC trials.
    on = dataclasses.replace(definition, switches={**definition.switches, "derived_products": True})
    assert intervention_evidence(tables, on).set_index("nct_id").at["NCT03384433", "confirmed"]


def test_as_of_keeps_only_trials_posted_by_then(result, definition):
    tables = result.tables  # sites with iso3
    log, _ = select(tables, definition, as_of="2018-06-30")
    log = log.set_index("nct_id")
    posted = tables.studies.set_index("nct_id")["first_posted"]
    included = log.index[log["included"].to_numpy()]
    assert (posted[included] <= "2018-06-30").all()
    default_in = set(result.included)
    # Nothing else changes: the replay is the default set cut at the date.
    assert set(included) == {n for n in default_in if posted[n] <= pd.Timestamp("2018-06-30")}
    assert 50 < len(included) < len(default_in)
    assert log.at["NCT04347967", "step"] == "posted_by_as_of"  # ARDS, posted 2020-04-15
    assert log.at["NCT04347967", "reason"] == "first posted 2020-04-15, after 2018-06-30"
    assert log.at["NCT02677350", "included"]  # ADMIRE-CD follow-up, posted 2016
    flow = flow_counts(log.reset_index(), as_of=True).set_index("step")
    assert flow.at["posted_by_as_of", "n_excluded"] == int((posted > "2018-06-30").sum())


def test_category_counts_table(result, definition):
    from trialmap.studyset import category_counts

    cc = category_counts(result.categories, definition).set_index("category")
    cats = result.categories
    for key in ("gvhd", "ibd", "covid19"):
        assert cc.at[key, "n_trials"] == cats.loc[cats["category"] == key, "nct_id"].nunique() > 10
    assert cc.at["all", "n_trials"] == len(result.included)
    assert "osteoarthritis" not in cc.index  # switched off
    assert result.category_counts.equals(category_counts(result.categories, definition))
    by = cc.drop(index=[i for i in cc.index if i.startswith("all")])
    assert ((by["n_by_mesh"] + by["n_by_keyword"]) >= by["n_trials"]).all()


@pytest.mark.parametrize("match", ["mesh", "keyword", "both"])
def test_classify_match_modes(tables, definition, match):
    from trialmap.studyset import classify

    default = classify(tables, definition)
    got = classify(tables, definition, match)
    if match == "mesh":
        mesh_fields = {"mesh", "mesh_ancestor", "condition_mesh", "condition_mesh_ancestor"}
        assert set(got["matched_by"]) <= mesh_fields
    elif match == "keyword":
        assert set(got["matched_by"]) <= {"title", "condition", "keyword"}
    else:
        # Any evidence, no precedence: a superset of what counts by default.
        assert set(got["nct_id"]) >= set(default.loc[default["counts"], "nct_id"])
    assert got["counts"].all()  # the plain modes set nothing aside
    assert not got.empty


def test_flow_diagram_draws_every_step_with_its_count(result):
    import matplotlib.pyplot as plt


    ax = result.figure("flow")
    try:
        texts = {t.get_gid(): t.get_text() for t in ax.figure.findobj(plt.Text) if t.get_gid()}
        for row in result.flow.itertuples():
            assert texts[f"flow-{row.step}"].endswith(f"n = {row.n_remaining:,}")
            if row.n_excluded:
                assert texts[f"flow-excluded-{row.step}"].startswith(f"Excluded: n = {row.n_excluded:,}")
        step = "msc_confirmed" if "flow-excluded-msc_confirmed" in texts else "intervention_confirmed"
        assert "Samples collected only" in texts[f"flow-excluded-{step}"]
        assert result.snapshot.id in texts["source-line"]
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize("name", ["msc-inflammatory-autoimmune", "msc-any-condition", "ipsc-derived"])
def test_deciding_in_batches_gives_the_same_log_and_categories(bundled_snapshot, name):
    """The rules are per study: batches of 250 of the 1,783 real records (as 50,000 are at
    registry scale) give the one-batch answer, row for row."""
    tables, _ = pipeline.locate(pipeline.read(bundled_snapshot))
    definition = load_definition(name)
    whole_log, whole_cats = select(tables, definition)
    log, cats = select(tables, definition, batch=250)
    pd.testing.assert_frame_equal(log, whole_log)
    pd.testing.assert_frame_equal(cats, whole_cats)
    assert whole_log["included"].sum() > 10
