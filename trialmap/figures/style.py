"""One visual vocabulary for every figure of the suite: colours, type sizes, lines.

Each colour has one meaning across the set:

- the sequential ColorBrewer ``YlGnBu`` classes mean *trials per country*
  (Figure 1, then-and-now, the site maps' background, categories by country);
- ``PuRd`` classes mean *trials per 10 million inhabitants* (per-capita map);
- ``OrRd`` classes mean *trials first posted in a window* (change map);
- :data:`LAND` (a light grey tint) is land without trials, :data:`OCEAN` white;
- :data:`SITE` (Okabe–Ito vermillion) is a place with trial sites;
- :data:`NEUTRAL` (dark grey) is a plain count bar (regions, timeline totals);
- categorical series (countries, variants) take Okabe–Ito colours *and* a marker
  shape each (:data:`SERIES`), so they still differ in greyscale and for the
  colour-blind.

No figure prints a title: titles go in the caption (``FigureSpec.title`` is
file metadata). Panels carry a letter (a, b) or a short heading.
"""

from __future__ import annotations

# Okabe & Ito (2008), "Color Universal Design": safe for every common colour-vision deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
# (colour, marker, dash) per categorical series, in order; yellow is left out (too light on white).
SERIES = (
    (OKABE_ITO["blue"], "o", "-"),
    (OKABE_ITO["vermillion"], "s", "--"),
    (OKABE_ITO["bluish_green"], "^", "-."),
    (OKABE_ITO["reddish_purple"], "D", ":"),
    (OKABE_ITO["orange"], "v", (0, (5, 1, 1, 1))),
    (OKABE_ITO["sky_blue"], "P", (0, (1, 1))),
    (OKABE_ITO["black"], "X", (0, (3, 1))),
)

LAND = "#ececec"  # land without trials: visible on white paper and in greyscale (L* 93.5)
OCEAN = "#ffffff"
BORDER = "#8c8c8c"  # country borders
BORDER_LW = 0.3  # pt: thinner borders vanish in print
SITE = OKABE_ITO["vermillion"]
NEUTRAL = "#4d4d4d"
NEUTRAL_LIGHT = "#a6a6a6"
TEXT = "#222222"
MUTED = "#555555"
LEADER_LW = 0.4

COUNT_CMAP = "YlGnBu"
COUNT_RANGE = (0.35, 1.0)  # below 0.35 YlGnBu is too close to the land tint in greyscale
RATE_CMAP = "PuRd"
RATE_RANGE = (0.3, 1.0)
GAIN_CMAP = "OrRd"
GAIN_RANGE = (0.3, 1.0)

MIN_PT = 6.0  # smallest type anywhere in the suite (journals accept 5-7 pt)
SOURCE_PT = 6.0


def sizes(width_mm: float) -> dict[str, float]:
    """Printed type sizes (pt) for a figure ``width_mm`` wide."""
    if width_mm < 120:
        return {"label": 6.0, "small": 6.0, "body": 6.5, "heading": 7.0, "source": SOURCE_PT,
                "marker": 9.0}
    return {"label": 6.0, "small": 6.0, "body": 7.0, "heading": 7.5, "source": SOURCE_PT,
            "marker": 12.0}


def text_color_on(fill) -> str:
    """Black or white, whichever reads on ``fill`` (by CIE L*)."""
    from trialmap.figures.worldmap import lightness

    return "white" if lightness(fill) < 55 else "black"
