"""Figures. Plot functions take the processed tables and ``ax=None`` and return the Axes;
saving is separate (:func:`save_figure`). matplotlib and geopandas are imported
inside the functions, so importing trialmap stays cheap.

Modules: ``worldmap`` (Figure 1), ``sitemap`` (trial sites as dots), ``export`` (journal formats).
"""

from trialmap.figures.export import DOUBLE_COLUMN_MM, MM, SINGLE_COLUMN_MM, save_figure
from trialmap.figures.sitemap import REGIONS, site_points, sitemap
from trialmap.figures.worldmap import (
    BIN_EDGES,
    CMAP,
    EQUAL_EARTH,
    NO_TRIALS_COLOR,
    bin_colors,
    bin_labels,
    count_colors,
    figure1,
)

__all__ = [
    "BIN_EDGES",
    "CMAP",
    "DOUBLE_COLUMN_MM",
    "EQUAL_EARTH",
    "MM",
    "NO_TRIALS_COLOR",
    "REGIONS",
    "SINGLE_COLUMN_MM",
    "bin_colors",
    "bin_labels",
    "count_colors",
    "figure1",
    "save_figure",
    "site_points",
    "sitemap",
]
