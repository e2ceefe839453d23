"""Figure 1: assertions on the drawn artists, and on the written files."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from trialmap import boundaries
from trialmap.figures import BIN_EDGES, NO_TRIALS_COLOR, bin_colors, figure1, save_figure
from trialmap.refresh import draw_figure1


@pytest.fixture(scope="module")
def ax(result):
    ax = draw_figure1(result)
    yield ax
    plt.close(ax.figure)


def _by_gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert found, f"no artist with gid {gid!r}"
    return found[0]


def _expected_color(n):
    if n < 1:
        return to_rgba(NO_TRIALS_COLOR)
    return bin_colors()[int(np.searchsorted(BIN_EDGES, n, side="right")) - 1]


def test_each_country_is_filled_with_the_colour_of_its_count(ax, result):
    world = boundaries.load_world()
    faces = _by_gid(ax, "countries").get_facecolors()
    assert len(faces) == len(world)
    counts = result.country_counts.set_index("iso3")["n_trials"]
    for iso3 in ("CHN", "USA", "ESP", "KOR", "BRA", "NGA"):
        i = int(np.flatnonzero(world["iso3"].to_numpy() == iso3)[0])
        n = int(counts.get(iso3, 0))
        assert tuple(faces[i]) == pytest.approx(_expected_color(n)), iso3
    # China and the US lead, so they get the darkest class used.
    top = {r.iso3 for r in result.country_counts.head(2).itertuples()}
    assert top == {"CHN", "USA"}


def test_callouts_labels_legend_and_source_line(ax, result):
    n_usa = int(result.country_counts.set_index("iso3").at["USA", "n_trials"])
    assert f"{n_usa} trials" in _by_gid(ax, "callout-USA").get_text()
    assert "China" in _by_gid(ax, "callout-CHN").get_text()
    europe = int(result.region_counts.set_index("region").at["Europe", "n_trials"])
    assert _by_gid(ax, "callout-Europe").get_text() == f"Europe\n{europe} trials"
    assert "ESP" in _by_gid(ax, "callout-Europe-leaders").get_text()
    assert _by_gid(ax, "label-KOR").get_text().startswith("KOR ")
    src = _by_gid(ax, "source-line").get_text()
    for part in ("ClinicalTrials.gov", "2022-01-21", "ctgov-classic-2022-01-21", "Natural Earth",
                 "distinct trials"):
        assert part in src
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "0" and legend[-1] == "≥100"


def test_tiny_countries_with_trials_are_drawn_as_markers(result):
    # Synthetic counts: Singapore and Malta are too small to see as polygons.
    import pandas as pd

    counts = pd.DataFrame({"iso3": ["SGP", "MLT", "CHN"], "country": ["", "", ""],
                           "n_trials": [3, 1, 40]})
    ax = figure1(counts, boundaries.load_world())
    try:
        markers = _by_gid(ax, "tiny-countries")
        assert len(markers.get_offsets()) == 2
    finally:
        plt.close(ax.figure)


def test_written_pdf_embeds_truetype_fonts_and_png_is_300_dpi(ax, tmp_path):
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
