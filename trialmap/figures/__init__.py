"""Figures. Plot functions take the processed tables and ``ax=None`` and return the Axes;
saving is separate (:func:`export_figure` for journals, :func:`save_figure` for a quick look).
matplotlib and geopandas are imported inside the functions, so importing trialmap stays cheap.

Modules: ``worldmap`` (Figure 1), ``sitemap`` (trial sites as dots), ``flow`` (study flow),
``sensitivity`` (counts under definition variants), ``regions`` (trials per region), ``timeline`` (trials
per year by leading country), ``change`` (two-date / two-snapshot change map),
``export`` (journal formats, provenance metadata, sidecars), ``suite`` (the figures the
main command writes; :func:`trialmap.figures.suite.register` adds more).
"""

from trialmap.figures.change import change_map, compare_runs, country_change, posted_by, trial_changes
from trialmap.figures.export import (
    DOUBLE_COLUMN_MM,
    JOURNAL_DPIS,
    JOURNAL_FORMATS,
    MIN_FONT_PT,
    MM,
    SINGLE_COLUMN_MM,
    add_source_line,
    export_figure,
    journal_figure,
    journal_rc,
    min_font_size,
    save_figure,
)
from trialmap.figures.regions import regions_bar
from trialmap.figures.sitemap import REGIONS, site_points, sitemap
from trialmap.figures.timeline import timeline, yearly_counts
from trialmap.figures.worldmap import (
    BIN_EDGES,
    BOUNDARY_DISCLAIMER,
    CMAP,
    EQUAL_EARTH,
    NO_TRIALS_COLOR,
    bin_colors,
    bin_labels,
    caption,
    count_colors,
    figure1,
    lightness,
)

__all__ = [
    "BIN_EDGES",
    "BOUNDARY_DISCLAIMER",
    "CMAP",
    "DOUBLE_COLUMN_MM",
    "EQUAL_EARTH",
    "JOURNAL_DPIS",
    "JOURNAL_FORMATS",
    "MIN_FONT_PT",
    "MM",
    "NO_TRIALS_COLOR",
    "REGIONS",
    "SINGLE_COLUMN_MM",
    "add_source_line",
    "bin_colors",
    "bin_labels",
    "caption",
    "change_map",
    "compare_runs",
    "count_colors",
    "country_change",
    "export_figure",
    "figure1",
    "journal_figure",
    "journal_rc",
    "lightness",
    "min_font_size",
    "posted_by",
    "regions_bar",
    "save_figure",
    "site_points",
    "sitemap",
    "timeline",
    "trial_changes",
    "yearly_counts",
]
