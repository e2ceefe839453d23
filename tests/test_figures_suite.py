"""Regions, timeline and change figures (numbers checked against the raw records), and the
figure suite as the main command writes it (every file read back)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pypdf import PdfReader

from trialmap import aggregate, boundaries, countries
from trialmap.aggregate import ALL
from trialmap.errors import OutputError
from trialmap.figures import (
    change_map,
    compare_runs,
    country_change,
    posted_by,
    regions_bar,
    timeline,
    trial_changes,
    yearly_counts,
)
from trialmap.figures.change import change_colors
from trialmap.figures.export import PROVENANCE_KEY
from trialmap.figures.suite import DEFAULT_FIGURES, FigureSpec, figure_names, write_figures
from trialmap.figures.worldmap import Classes
from trialmap.methods import methods_markdown

from .test_figures import by_gid

V2 = Path(__file__).parent / "data" / "ctgov"


def _year(text):
    return int(re.search(r"\d{4}", text).group()) if text else None


def _raw_trial(study):
    ps = study["ProtocolSection"]
    status = ps["StatusModule"]
    locations = ps.get("ContactsLocationsModule", {}).get("LocationList", {}).get("Location", [])
    return {
        "start": _year(status.get("StartDateStruct", {}).get("StartDate")),
        "posted": pd.Timestamp(status["StudyFirstPostDateStruct"]["StudyFirstPostDate"]),
        "countries": {loc.get("LocationCountry") for loc in locations},
    }


@pytest.fixture(scope="module")
def raw(result, raw_records):
    """The included trials as parsed straight from the tarball (not through trialmap's readers)."""
    return {i: _raw_trial(raw_records[i]) for i in result.included}


# -- regions -------------------------------------------------------------------


def test_region_bars_are_the_region_counts_with_eu27_inside_europe(result):
    ax = regions_bar(result.region_counts, width="single")
    try:
        rc = result.region_counts.set_index("region")["n_trials"]
        for region in ("Europe", "Asia", "Americas", "Africa", "Oceania"):
            assert by_gid(ax, f"bar-{region}").get_width() == rc[region]
        assert by_gid(ax, "subset-EU27").get_width() == rc["EU27"] < rc["Europe"]
        assert by_gid(ax, "value-Europe").get_text() == (
            f"{rc['Europe']} (of which EU27 {rc['EU27']}, light inner bar)")
        # Largest first, top to bottom; the subset is not a row of its own.
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels == ["Asia", "Americas", "Europe", "Oceania", "Africa"]
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize("width", ["single", "double"])
def test_region_axis_covers_every_bar_and_ends_at_a_tick(result, width):
    """No bar runs past the end of the axis line, the line ends at its last tick, and the rule
    above the no-location row stops where the axis does (not at the page edge)."""
    ax = regions_bar(result.region_counts, width=width, no_location=25)
    try:
        lo, hi = ax.spines["bottom"].get_bounds()
        longest = max(p.get_width() for p in ax.patches if (p.get_gid() or "").startswith("bar-"))
        assert lo == 0 and longest <= hi == max(ax.get_xticks())
        assert hi < ax.get_xlim()[1]  # room for the value labels stays
        (rule,) = [c for c in ax.collections if c.get_gid() == "no-location-rule"]
        assert rule.get_segments()[0][:, 0].tolist() == [0, hi]
    finally:
        plt.close(ax.figure)


# -- timeline ------------------------------------------------------------------


def test_yearly_counts_match_start_years_in_the_raw_records(result, raw):
    y = yearly_counts(result.tables.studies, result.tables.sites, result.included, top=3)
    total = y[y["iso3"] == ALL].set_index("year")["n_trials"]
    starts = pd.Series([t["start"] for t in raw.values() if t["start"]]).value_counts()
    assert total[total > 0].to_dict() == starts.to_dict()
    assert total.index.tolist() == list(range(min(starts.index), max(starts.index) + 1))
    assert y.loc[y["iso3"] != ALL, "iso3"].drop_duplicates().tolist() == ["CHN", "USA", "ESP"]
    usa = y[y["iso3"] == "USA"].set_index("year")["n_trials"]
    raw_usa = pd.Series([t["start"] for t in raw.values()
                         if t["start"] and "United States" in t["countries"]])
    assert usa[usa > 0].to_dict() == raw_usa.value_counts().to_dict()
    assert usa[2020] == usa.max()  # the COVID-19 year


def test_timeline_draws_small_multiples_with_the_partial_year_in_every_series(result):
    y = yearly_counts(result.tables.studies, result.tables.sites, result.included)
    ax = timeline(y, data_date="2022-01-21", source_line="Data: x", width="double")
    try:
        fig = ax.figure
        for iso in (ALL, "USA", "CHN", "ESP", "KOR"):
            gid = "bars-all" if iso == ALL else f"bars-{iso}"
            bars = [p for p in fig.findobj() if getattr(p, "get_gid", lambda: None)() == gid]
            rows = y[y["iso3"] == iso]
            assert [b.get_height() for b in bars] == rows["n_trials"].tolist(), iso
            # The registry data date's year is partial, in every series (hatched, lighter)
            hatched = {round(b.get_x() + b.get_width() / 2) for b in bars if b.get_hatch()}
            assert hatched == {2022}, iso
        panels = [a for a in fig.axes
                  if (a.get_gid() or "").startswith("panel-") and a.get_gid() != "panel-all"]
        assert [a.get_gid() for a in panels] == ["panel-CHN", "panel-USA", "panel-ESP", "panel-KOR"]
        assert len({a.get_ylim() for a in panels}) == 1  # one scale for the countries
        assert panels[1].get_title(loc="left") == "United States (USA)"
    finally:
        plt.close(ax.figure)


# -- change --------------------------------------------------------------------


def test_two_date_change_matches_first_posted_dates_in_the_raw_records(result, raw):
    t = result.tables
    before = posted_by(t.studies, result.included, "2020-01-21")
    assert set(before) == {i for i, r in raw.items() if r["posted"] <= pd.Timestamp("2020-01-21")}
    names = result.country_counts.set_index("iso3")["country"].to_dict()
    change = country_change(aggregate.country_counts(t.sites, before, names), result.country_counts)
    assert (change["n_after"] - change["n_before"] == change["change"]).all()
    new = {i for i, r in raw.items() if r["posted"] > pd.Timestamp("2020-01-21")}
    for iso, name in (("USA", "United States"), ("CHN", "China")):
        expected = sum(name in raw[i]["countries"] for i in new)
        assert change.set_index("iso3").at[iso, "change"] == expected
    assert change.iloc[0]["iso3"] == "USA" and change.iloc[0]["change"] == change["change"].max()
    trials = trial_changes(before, result.included, t.studies, t.sites)
    assert set(trials["nct_id"]) == new and set(trials["change"]) == {"added"}
    assert (trials["first_posted"] > pd.Timestamp("2020-01-21")).all()


@pytest.fixture(scope="module")
def two_exports():
    """Two real website JSON exports read as two runs; the 10 studies are a subset of the 50."""
    from trialmap.sources import v2

    runs = []
    for name in ("ctg-studies-50.json", "ctg-studies-10.json"):
        tables = v2.read(V2 / name)
        sites = tables.sites.assign(iso3=countries.to_iso3(tables.sites["country"]))
        tables = tables.replace(sites=sites)
        ids = pd.Index(tables.studies["nct_id"])
        runs.append(SimpleNamespace(tables=tables, included=ids,
                                    country_counts=aggregate.country_counts(sites, ids)))
    return runs


def test_two_snapshot_change_lists_removed_trials_and_losses(two_exports):
    before, after = two_exports
    change, trials = compare_runs(before, after)
    removed = set(before.included) - set(after.included)
    assert len(removed) == 40 and set(trials.loc[trials["change"] == "removed", "nct_id"]) == removed
    assert (trials["change"] == "added").sum() == 0
    assert (change["change"] <= 0).all() and (change["change"] < 0).any()
    # Each country's loss is the removed trials with a site there.
    sites = before.tables.sites
    for row in change[change["change"] < 0].head(5).itertuples():
        lost = sites[(sites["iso3"] == row.iso3) & sites["nct_id"].isin(removed)]["nct_id"].nunique()
        assert row.change == -lost


def test_change_map_colours_gains_and_hatches_losses(two_exports):
    before, after = two_exports
    world = boundaries.load_world()
    for old, new in ((before, after), (after, before)):
        change, _ = compare_runs(old, new)
        ax = change_map(change, world, before_label="50", after_label="10", width="single")
        try:
            faces = by_gid(ax, "countries").get_facecolors()
            gains = change.set_index("iso3")["change"].clip(lower=0).astype(float)
            classes = Classes.from_values(gains[gains > 0], "", cmap="OrRd", value_range=(0.3, 1.0))
            expected = change_colors(world["iso3"].map(change.set_index("iso3")["change"]).fillna(0), classes)
            assert np.allclose(faces, np.asarray(expected))
            top = change.iloc[0] if old is after else change.sort_values("change").iloc[0]
            kind = "gain" if top["change"] > 0 else "loss"
            assert by_gid(ax, f"{kind}-{top['iso3']}").get_text().startswith(top["iso3"])
            has_losses = any(a.get_gid() == "losses" for a in ax.get_children())
            assert has_losses == bool((change["change"] < 0).any())
        finally:
            plt.close(ax.figure)


@pytest.mark.parametrize("width", ["double", "single"])
def test_change_map_labels_keep_off_the_had_trials_hatch(result, width):
    """The "had trials, none new" hatch is data: no label hides it (CHN +17 sat on Russia's
    dots at 89 mm, FRA +3 on Britain's and TUR +3 on Georgia's at 183 mm)."""
    import shapely

    from trialmap.figures.layout import renderer
    from trialmap.figures.suite import draw

    ax = draw(result, "change", width)
    try:
        fig = ax.figure
        hatched = by_gid(ax, "unchanged")
        paths = [p.transformed(hatched.get_transform()) for p in hatched.get_paths()]
        # a path may hold several rings (islands): each polygon, made valid, then the union
        hatch = shapely.union_all([shapely.make_valid(shapely.Polygon(ring)) for p in paths
                                   for ring in p.to_polygons() if len(ring) >= 4])
        assert hatch.area > 0
        labels = [t for t in ax.texts if (t.get_gid() or "").startswith(("gain-", "loss-"))]
        assert len(labels) >= (7 if width == "double" else 4)
        for t in labels:
            b = t.get_window_extent(renderer(fig))
            box = shapely.box(b.x0, b.y0, b.x1, b.y1)
            # a label centred on another country reads as that country's; a corner over a
            # coast is the placer's trade-off against a longer leader
            assert not hatch.contains(box.centroid), t.get_text()
            assert box.intersection(hatch).area <= 0.15 * box.area, t.get_text()
    finally:
        plt.close(ax.figure)


# -- the suite, as the main command writes it ----------------------------------


@pytest.fixture(scope="module")
def suite(result, tmp_path_factory):
    """The whole suite at both widths; PDF only to keep the test fast (every format is read
    back in test_export.py, PNG for Figure 1 below, the main command's full set in test_cli.py)."""
    out = tmp_path_factory.mktemp("figures")
    exports = write_figures(result, out, result.provenance(["--data-dir", "x"]), formats=("pdf",))
    return out, exports


def test_suite_writes_every_figure_at_both_widths(suite):
    figs, exports = suite
    assert [e.sidecar.name for e in exports] == [
        f"{f.name}{'' if w == 'double' else '_' + w}.json" for f in DEFAULT_FIGURES for w in f.widths]
    for spec in DEFAULT_FIGURES:
        for stem, width in ((spec.name, 183.0), (f"{spec.name}_single", 89.0)):
            side = json.loads((figs / f"{stem}.json").read_text())
            assert side["figure"]["width_mm"] == width
            assert side["figure"]["min_font_pt"] >= 6.0
            assert "ctgov-classic-2022-01-21" in side["figure"]["source_line"]
            assert side["figure"]["caption"] and "MSC trials" in side["figure"]["caption"]
            reader = PdfReader(figs / f"{stem}.pdf")
            assert float(reader.pages[0].mediabox.width) * 25.4 / 72 == pytest.approx(width, abs=0.01)
            assert json.loads(reader.metadata[f"/{PROVENANCE_KEY}"])["figure"]["name"] == stem
            assert b"/Type3" not in (figs / f"{stem}.pdf").read_bytes()
            for f in side["files"]:
                data = (figs / f["file"]).read_bytes()
                assert hashlib.sha256(data).hexdigest() == f["sha256"]


def test_figure1_png_is_the_width_at_300_dpi(result, tmp_path):
    (e,) = write_figures(result, tmp_path, {}, names="figure1", widths=("single",), formats=("png",),
                         dpis=(300,))
    with Image.open(e.files[0].path) as im:
        assert abs(im.width - round(89 / 25.4 * 300)) <= 1


def test_figure_names_parse_all_and_lists_in_suite_order():
    names = [f.name for f in DEFAULT_FIGURES]
    assert figure_names("all") == names
    assert figure_names("flow, figure1") == ["figure1", "flow"]
    assert figure_names(["sitemap", "figure1-then-now"]) == ["figure1-then-now", "sitemap"]
    with pytest.raises(OutputError, match="unknown figure 'figure2'"):
        figure_names("figure1,figure2")
    with pytest.raises(OutputError, match="names no figure"):
        figure_names(" , ")


def test_the_figure_set_is_an_immutable_default(result):
    import trialmap.figures.suite as suite_module

    assert isinstance(DEFAULT_FIGURES, tuple)
    assert not hasattr(suite_module, "register") and not hasattr(suite_module, "FIGURES")
    with pytest.raises(AttributeError):
        DEFAULT_FIGURES[0].name = "other"  # frozen
    # the run figures (site maps, flow) are part of the default set, not added by the CLI
    assert {"sitemap", "sitemap-europe", "sitemap-east-asia", "flow"} <= set(figure_names("all"))


def test_change_trials_table_and_sidecar_numbers(suite, result):
    figs, _ = suite
    trials = pd.read_csv(figs / "change_trials.csv")
    assert list(trials.columns) == ["nct_id", "change", "title", "first_posted", "countries"]
    start = pd.Timestamp(result.data_date) - pd.DateOffset(years=2)
    posted = result.tables.studies.set_index("nct_id").loc[list(result.included), "first_posted"]
    assert len(trials) == int((posted > start).sum()) and set(trials["change"]) == {"added"}
    side = json.loads((figs / "figure1.json").read_text())
    counts = {r["iso3"]: r["n_trials"] for r in side["data"]["records"]}
    assert counts == result.country_counts.set_index("iso3")["n_trials"].to_dict()
    assert "Natural Earth" in side["figure"]["caption"] and "Equal Earth" in side["figure"]["caption"]


def test_methods_text_states_the_runs_numbers_and_figure_legends(suite, result):
    _, exports = suite
    text = methods_markdown(result.snapshot.manifest, exports[0].record, exports)
    flow = result.flow.set_index("step")["n_remaining"]
    for part in (
        "registry data date 2022-01-21", "(records dated 2022-01-20: 1,525, 2022-01-21: 258)",
        '"mesenchymal" (1,086 records)', "full_studies?expr=<term>&fmt=json",
        "obtained from github.com/jesnyder/meta_map", "Of 1,783 records read",
        f"{flow.iloc[2]:,} tested mesenchymal stem/stromal cells",
        f"{flow['study_type']:,} were interventional",
        f"{flow['in_scope']:,} studied", f"{flow['with_site']:,} listed at least one site",
        f"comprises {flow['with_mapped_country']:,} trials",
        f'"{result.definition.name}" version {result.definition.version}',
        "Trials per country = distinct trials with at least one site in the country",
        "SHA-256 024e6c0e305f", "## Figure legends", "**figure1**", "**change**", "first posted between",
    ):
        assert part in text, part
    assert "figure1_single" not in text


def test_a_figure_set_of_ones_own_is_passed_explicitly(result, tmp_path):
    # A notebook's own figure: a new tuple, nothing registered anywhere.
    def draw(ctx, width):
        _, ax = plt.subplots(figsize=(89 / 25.4, 40 / 25.4), layout="constrained")
        flow = ctx.run.flow
        ax.barh(flow["step"], flow["n_remaining"], gid="flow-bars")
        return ax

    spec = FigureSpec("flow_test", "Flow", draw=draw, data=lambda ctx: ctx.run.flow,
                      caption=lambda ctx: "Records remaining per step.", widths=("single",))
    mine = (*DEFAULT_FIGURES, spec)
    (e,) = write_figures(result, tmp_path, result.provenance([]), names=["flow_test"], figures=mine,
                         formats=("pdf",))
    assert e.files[0].path == tmp_path / "flow_test_single.pdf"
    rows = json.loads(e.sidecar.read_text())["data"]["records"]
    assert rows[0] == {"step": "records_read", "n_remaining": 1783, "n_excluded": 0}
    assert e.record["figure"]["caption"] == "Records remaining per step."
    with pytest.raises(OutputError, match="unknown figure"):
        write_figures(result, tmp_path, {}, names=["flow_test"])  # not in the default set
