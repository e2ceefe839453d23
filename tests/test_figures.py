"""Figure 1: assertions on the drawn artists (colours against counts, labels, sizes, palette)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from trialmap import boundaries
from trialmap.figures import (
    BIN_EDGES,
    MM,
    NO_TRIALS_COLOR,
    bin_colors,
    figure1,
    lightness,
    min_font_size,
    save_figure,
)
from trialmap.figures.worldmap import BOUNDARY_DISCLAIMER, caption


@pytest.fixture(scope="module")
def ax(result):
    ax = result.figure1()
    yield ax
    plt.close(ax.figure)


@pytest.fixture(scope="module")
def world():
    return boundaries.load_world()


@pytest.fixture(scope="module")
def single(result, world):
    europe = int(result.region_counts.set_index("region").at["Europe", "n_trials"])
    from trialmap.countries import region_members

    ax = figure1(result.country_counts, world, regions={"Europe": (europe, region_members("Europe"))},
                 source_line="Data: ClinicalTrials.gov", width="single")
    yield ax
    plt.close(ax.figure)


def by_gid(ax_or_fig, gid):
    fig = getattr(ax_or_fig, "figure", ax_or_fig)
    found = [a for a in fig.findobj() if a.get_gid() == gid]
    assert found, f"no artist with gid {gid!r}"
    return found[0]


def _expected_color(n):
    if n < 1:
        return to_rgba(NO_TRIALS_COLOR)
    return bin_colors()[int(np.searchsorted(BIN_EDGES, n, side="right")) - 1]


def test_each_country_is_filled_with_the_colour_of_its_count(ax, result, world):
    faces = by_gid(ax, "countries").get_facecolors()
    assert len(faces) == len(world)
    counts = result.country_counts.set_index("iso3")["n_trials"]
    iso = world["iso3"].to_numpy()
    # Every polygon, not a sample: the fill is the class of that country's count.
    for i, code in enumerate(iso):
        assert tuple(faces[i]) == pytest.approx(_expected_color(int(counts.get(code, 0)))), code
    # China and the US lead, in the 50-99 class; Nigeria has no trial.
    assert set(result.country_counts.head(2)["iso3"]) == {"CHN", "USA"}
    assert tuple(faces[np.flatnonzero(iso == "USA")[0]]) == pytest.approx(bin_colors()[5])
    assert tuple(faces[np.flatnonzero(iso == "NGA")[0]]) == pytest.approx(to_rgba(NO_TRIALS_COLOR))


def test_callouts_labels_legend_and_source_line(ax, result):
    n_usa = int(result.country_counts.set_index("iso3").at["USA", "n_trials"])
    assert f"{n_usa} trials" in by_gid(ax, "callout-USA").get_text()
    assert "China" in by_gid(ax, "callout-CHN").get_text()
    europe = int(result.region_counts.set_index("region").at["Europe", "n_trials"])
    assert by_gid(ax, "callout-Europe").get_text() == f"Europe\n{europe} trials"
    assert "ESP 23" in by_gid(ax, "callout-Europe-leaders").get_text()
    # Leaders outside the call-outs are labelled with their ISO code and count.
    for code in ("KOR", "CAN", "AUS"):
        n = int(result.country_counts.set_index("iso3").at[code, "n_trials"])
        assert by_gid(ax, f"label-{code}").get_text() == f"{code} {n}"
    src = " ".join(by_gid(ax, "source-line").get_text().split())
    # One short line on the image; the definition and counting rule go to the caption and metadata.
    for part in ("ClinicalTrials.gov", "2022-01-21", "ctgov-classic-2022-01-21", "Natural Earth"):
        assert part in src
    assert result.definition.label not in src
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["0", "1", "2–4", "5–9", "10–19", "20–49", "50–99", "≥100"]


def test_tiny_countries_with_trials_are_drawn_as_markers(world):
    # Synthetic counts: Singapore and Malta are too small to see as polygons.
    counts = pd.DataFrame({"iso3": ["SGP", "MLT", "CHN"], "country": ["", "", ""], "n_trials": [3, 1, 40]})
    ax = figure1(counts, world)
    try:
        markers = by_gid(ax, "tiny-countries")
        assert len(markers.get_offsets()) == 2
        drawn = {tuple(np.round(c, 6)) for c in markers.get_facecolors()}
        assert drawn == {tuple(np.round(_expected_color(n), 6)) for n in (3, 1)}
    finally:
        plt.close(ax.figure)


def test_palette_reads_in_greyscale():
    # CIE L* must fall from "no trials" through every class, by a visible step each time.
    lightnesses = [lightness(NO_TRIALS_COLOR)] + [lightness(c) for c in bin_colors()]
    steps = np.diff(lightnesses)
    assert (steps < -8).all(), lightnesses
    assert lightnesses[0] > 95 and lightnesses[-1] < 20


def test_projection_is_equal_area(ax, world):
    # Brazil is 3.9 times the size of Greenland on the globe; on the map it must be too
    # (Mercator would make them look about equal). Expected ratio from geodesic areas.
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    faces = by_gid(ax, "countries")
    iso = world["iso3"].to_numpy()

    def drawn_area(code):
        total = 0.0
        for i in np.flatnonzero(iso == code):
            for poly in faces.get_paths()[i].to_polygons():
                x, y = poly[:, 0], poly[:, 1]
                total += abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2
        return total

    def true_area(code):
        return sum(abs(geod.geometry_area_perimeter(g)[0]) for g in world.loc[iso == code, "geometry"])

    expected = true_area("BRA") / true_area("GRL")
    assert drawn_area("BRA") / drawn_area("GRL") == pytest.approx(expected, rel=0.03)


def test_sizes_and_type_at_both_column_widths(ax, single):
    assert ax.figure.get_figwidth() / MM == pytest.approx(183.0)
    assert single.figure.get_figwidth() / MM == pytest.approx(89.0)
    # Printed sizes: nothing below 5 pt at either width.
    assert min_font_size(ax.figure) >= 5.0
    assert min_font_size(single.figure) >= 5.0
    # Narrow: the legend is one row under the map, not over the Americas.
    legend = single.get_legend()
    assert legend._ncols == 8
    single.figure.canvas.draw()
    box = legend.get_window_extent()
    assert box.y1 <= single.get_window_extent().y0 + 1
    assert by_gid(single, "callout-CHN") and by_gid(single, "label-KOR")


def test_caption_has_numbers_and_boundary_disclaimer(result):
    text = caption(result.country_counts, n_trials=len(result.included), data_date=result.data_date,
                   regions={"Europe": 68})
    cc = result.country_counts
    assert f"{len(result.included)} trials in {int((cc['n_trials'] > 0).sum())} countries" in text
    top = ", ".join(f"{r.country} ({r.n_trials})" for r in cc.head(3).itertuples())
    assert top.startswith("China (74), United States (73)") and top in text
    assert text.endswith(BOUNDARY_DISCLAIMER)
    assert "do not imply the expression of any opinion" in BOUNDARY_DISCLAIMER
    assert BOUNDARY_DISCLAIMER not in caption(result.country_counts, n_trials=275, data_date="x",
                                              disclaimer=False)


def test_save_figure_embeds_truetype_fonts_and_png_is_300_dpi(ax, tmp_path):
    pdf, png = save_figure(ax.figure, tmp_path / "fig", ("pdf", "png"), dpi=300,
                           metadata={"Title": "Figure 1"})
    raw = pdf.read_bytes()
    assert b"/FontFile2" in raw and b"/Type3" not in raw
    from PIL import Image

    with Image.open(png) as im:
        assert im.info["dpi"] == pytest.approx((300, 300), abs=1)
        assert im.info["Title"] == "Figure 1"
        # 183 mm wide at 300 dpi, give or take the tight bounding box.
        assert 1900 < im.width < 2250
    assert not list(tmp_path.glob(".*"))  # no temporary files left
