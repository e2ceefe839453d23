"""Figure 1: assertions on the drawn artists (colours against counts, classes, labels, inset,
legend, sizes, palette), at 183 and 89 mm."""

from __future__ import annotations

import itertools
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from trialmap import boundaries, countries
from trialmap.figures import MM, Classes, data_classes, figure1, lightness, min_font_size, style
from trialmap.figures.suite import DEFAULT_FIGURES, SuiteContext, draw
from trialmap.figures.worldmap import BOUNDARY_DISCLAIMER, PIPELINES, class_labels, drawn_codes


def by_gid(ax_or_fig, gid):
    fig = getattr(ax_or_fig, "figure", ax_or_fig)
    found = [a for a in fig.findobj() if a.get_gid() == gid]
    assert found, f"no artist with gid {gid!r}"
    return found[0]


def panel(fig, gid):
    return next(a for a in fig.axes if a.get_gid() == gid)


def in_axes(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert found, f"no artist with gid {gid!r} in this panel"
    return found[0]


@pytest.fixture(scope="module")
def world():
    return boundaries.load_world()


@pytest.fixture(scope="module")
def double(result):
    ax = draw(result, "figure1", "double")
    yield ax
    plt.close(ax.figure)


@pytest.fixture(scope="module")
def single(result):
    ax = draw(result, "figure1", "single")
    yield ax
    plt.close(ax.figure)


@pytest.fixture(scope="module")
def classes(result):
    v = result.country_counts["n_trials"]
    return Classes.from_values(v[v > 0], "")


def test_classes_come_from_the_data_and_none_is_empty(result, classes):
    v = result.country_counts["n_trials"].to_numpy()
    assert list(classes.edges) == [1, 2, 5, 10, 20, 50]
    assert list(classes.labels) == ["1", "2–4", "5–9", "10–19", "20–49", "50–74"]  # closed at the maximum
    idx = np.searchsorted(classes.edges, v, side="right") - 1
    assert all((idx == i).any() for i in range(len(classes.edges)))
    # an empty class is merged away, and a lone maximum still gets its class
    assert data_classes([1, 1, 3, 150]) == [1, 2, 100]
    assert class_labels([1, 2, 100], 150) == ["1", "2–99", "100–150"]


def test_each_country_is_filled_with_the_colour_of_its_class(double, result, world, classes):
    faces = in_axes(double, "countries").get_facecolors()
    assert len(faces) == len(world)
    counts = result.country_counts.set_index("iso3")["n_trials"]
    expected = classes.colors_for(world["iso3"].map(counts).fillna(0))
    assert np.allclose(faces, np.asarray(expected))
    iso = world["iso3"].to_numpy()
    assert tuple(faces[np.flatnonzero(iso == "USA")[0]]) == pytest.approx(classes.colors[-1])
    assert tuple(faces[np.flatnonzero(iso == "NGA")[0]]) == pytest.approx(to_rgba(style.LAND))


def test_zero_trial_land_is_tinted_and_borders_print(double):
    coll = in_axes(double, "countries")
    lightest_class = Classes.from_values([1], "").colors[0]
    assert lightness(lightest_class) < lightness(style.LAND) < 96
    assert min(coll.get_linewidths()) >= 0.25
    assert lightness(style.BORDER) < 70


def test_the_palette_reads_in_greyscale(classes):
    steps = [lightness(style.LAND)] + [lightness(c) for c in classes.colors]
    assert all(a - b >= 7 for a, b in itertools.pairwise(steps)), steps


def test_every_country_with_trials_is_named_once(double, single, result, world):
    cc = result.country_counts
    with_trials = set(cc.loc[cc["n_trials"] > 0, "iso3"])
    assert set(drawn_codes(double.figure)) == with_trials
    # 89 mm: on the world map, one-trial countries read from their colour; tiny ones keep a name
    tiny = set(world.loc[world["tiny"], "iso3"])
    named = set(drawn_codes(single.figure))
    assert set(cc.loc[cc["n_trials"] >= 2, "iso3"]) | (tiny & with_trials) <= named <= with_trials
    for ax in (double, single):
        labels = drawn_codes(ax.figure)
        for iso, text in labels.items():
            n = int(result.country_counts.set_index("iso3").at[iso, "n_trials"])
            assert text == f"{iso} {n}"
        n_labels = sum(1 for t in ax.figure.findobj(plt.Text) if (t.get_gid() or "").startswith("label-"))
        assert n_labels == len(labels)  # once each


def test_tiny_countries_with_trials_get_a_marker_and_a_leader_label(double, world, result):
    tiny = set(world.loc[world["tiny"], "iso3"])
    with_trials = set(result.country_counts.loc[result.country_counts["n_trials"] > 0, "iso3"])
    assert {"ATG", "TTO", "CYM"} <= tiny & with_trials
    markers = in_axes(double, "tiny-countries")
    assert len(markers.get_offsets()) >= 3
    for iso in tiny & with_trials:
        label = by_gid(double, f"label-{iso}")
        assert label.arrow_patch is not None  # a leader line, not a label over the dot
        assert label.get_text() == f"{iso} {result.country_counts.set_index('iso3').at[iso, 'n_trials']}"


def test_europe_inset_states_which_europe_it_counts(double, single, result):
    rc = result.region_counts.set_index("region")["n_trials"]
    for ax in (double, single):
        inset = panel(ax.figure, "europe-inset")
        heading = by_gid(inset, "europe-heading").get_text()
        assert f"Europe (UN M49): {rc['Europe']} trials" in heading
        assert f"with Cyprus and Türkiye: {rc['Europe (paper)']}" in heading
        # European countries are labelled in the inset, not on the world map
        inset_labels = {t.get_gid() for t in inset.texts}
        assert {"label-ESP", "label-SWE", "label-DEU", "label-NLD", "label-BEL"} <= inset_labels
        world_labels = {t.get_gid() for t in panel(ax.figure, "world").texts}
        assert "label-ESP" not in world_labels and "label-CHN" in world_labels
        assert any(line.get_gid() == "europe-frame" for line in panel(ax.figure, "world").lines)


def test_legend_is_beside_the_map_with_patches_drawn_like_the_fills(double, single, classes):
    for ax in (double, single):
        leg = panel(ax.figure, "legend").get_legend()
        assert [t.get_text() for t in leg.get_texts()] == ["0", *classes.labels]
        patches = leg.get_patches()
        assert to_rgba(patches[0].get_facecolor()) == pytest.approx(to_rgba(style.LAND))
        for p, c in zip(patches[1:], classes.colors, strict=True):
            assert p.get_facecolor() == pytest.approx(c)
            assert p.get_linewidth() == pytest.approx(style.BORDER_LW)


def test_ranked_panel_at_183_mm_only(double, single, result):
    ranked = panel(double.figure, "ranked")
    names = [t.get_text() for t in ranked.get_yticklabels()][::-1]
    assert names[:3] == ["China (CHN)", "United States (USA)", "Spain (ESP)"]
    assert all(a.get_gid() != "ranked" for a in single.figure.axes)


def test_each_width_has_its_own_layout(double, single):
    assert double.figure.get_figwidth() / MM == pytest.approx(183.0)
    assert single.figure.get_figwidth() / MM == pytest.approx(89.0)
    # 89 mm: the inset spans the column (not the 183 mm layout shrunk)
    inset = panel(single.figure, "europe-inset").get_position()
    assert inset.width > 0.95
    assert min_font_size(double.figure) >= 6.0 and min_font_size(single.figure) >= 6.0


def test_caption_defines_every_code_and_states_classes_europe_and_disclaimer(result):
    spec = next(f for f in DEFAULT_FIGURES if f.name == "figure1")
    text = spec.caption(SuiteContext(result, {}))
    assert text.startswith("MSC trials in inflammatory and autoimmune disease: number of trials per country")
    for iso in result.country_counts["iso3"].dropna():
        assert f"{iso}, " in text
    assert "ATG, Antigua and Barbuda" in text and "KOR, South Korea" in text
    assert "Classes (derived from the data, none empty): 1, 2–4, 5–9, 10–19, 20–49, 50–74" in text
    eu = result.region_counts.set_index("region").loc["Europe"]
    assert f"UN M49 Europe ({eu['n_trials']} distinct trials in {eu['n_countries']} countries)" in text
    assert "Türkiye" in text
    assert "EPSG:3035" in text and BOUNDARY_DISCLAIMER in text
    assert "registry data date 2022-01-21" in text and "snapshot ctgov-classic-2022-01-21" in text


def test_a_single_panel_can_be_drawn_into_a_notebook_axes(result, world):
    fig, ax = plt.subplots()
    try:
        out = figure1(result.country_counts, world, ax=ax)
        assert out is ax and by_gid(ax, "countries")
    finally:
        plt.close(fig)


def test_figure1_draw_and_export_stay_quick(result, tmp_path):
    # The main command's default: Figure 1 drawn once, PDF + 300 dpi PNG (about a second alone;
    # generous here because the test suite shares two cores).
    t0 = time.perf_counter()
    ax = draw(result, "figure1", "double")
    try:
        ax.figure.savefig(tmp_path / "f.pdf")
        ax.figure.savefig(tmp_path / "f.png", dpi=300)
    finally:
        plt.close(ax.figure)
    assert time.perf_counter() - t0 < 8.0


def test_region_members_of_the_inset_are_un_m49_europe():
    members = countries.region_members("Europe")
    assert "RUS" in members and "TUR" not in members and "CYP" not in members


@pytest.mark.parametrize(("src", "dst"), sorted(PIPELINES))
def test_the_maps_projection_pipelines_give_pyprojs_coordinates(src, dst):
    """The PROJ pipelines the maps use (fast to build) place every point where pyproj's EPSG
    search does, to the millimetre, over the whole map area."""
    from pyproj import Transformer

    from trialmap.figures.worldmap import _transformer

    lon, lat = np.meshgrid(np.linspace(-179.5, 179.5, 73), np.linspace(-85, 85, 35))
    lon, lat = lon.ravel(), lat.ravel()
    if src != "EPSG:4326":  # from the projected plane: start from projected points of Europe
        lon, lat = Transformer.from_crs("EPSG:4326", src, always_xy=True).transform(
            np.linspace(-30, 60, 50), np.linspace(30, 75, 50))
    ours = np.array(_transformer(src, dst).transform(lon, lat))
    theirs = np.array(Transformer.from_crs(src, dst, always_xy=True).transform(lon, lat))
    ok = np.isfinite(theirs).all(axis=0)
    assert ok.sum() > 40
    assert np.abs(ours[:, ok] - theirs[:, ok]).max() < 1e-3


def test_projected_world_equals_geopandas_to_crs():
    import shapely

    from trialmap.figures.worldmap import EQUAL_EARTH, _europe_geo, to_crs

    world = boundaries.load_world()
    ours, theirs = to_crs(world, EQUAL_EARTH), world.to_crs(EQUAL_EARTH)
    assert ours.crs == theirs.crs and list(ours.columns) == list(theirs.columns)
    assert ours.drop(columns="geometry").equals(theirs.drop(columns="geometry"))
    assert shapely.equals_exact(ours.geometry.to_numpy(), theirs.geometry.to_numpy(), tolerance=1e-3).all()
    europe = _europe_geo(world)
    box = (-45.0, 20.0, 75.0, 84.0)  # _europe_geo's clip, projected by geopandas
    near = world[world.geometry.intersects(shapely.box(*box))]
    theirs = near.assign(geometry=shapely.clip_by_rect(near.geometry.to_numpy(), *box)).to_crs("EPSG:3035")
    assert europe.crs == theirs.crs
    assert shapely.equals_exact(europe.geometry.to_numpy(), theirs.geometry.to_numpy(), tolerance=1e-3).all()
