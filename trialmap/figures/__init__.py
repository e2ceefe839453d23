"""Figures: drawing only. Plot functions take tables (or a run's tables) and return the Axes;
saving is separate (:func:`export_figure` for journals, :func:`save_figure` for a quick look).
matplotlib and geopandas are imported inside the functions, so importing trialmap stays cheap.

Modules: ``worldmap`` (Figure 1 and its variants), ``sitemap`` (trial sites as dots, regional
projections), ``flow`` (study flow), ``sensitivity`` (counts under definition variants),
``regions`` (trials per region), ``timeline`` (trials per year, small multiples), ``change``
(change map), ``categories`` (disease category x country), ``export`` (journal formats,
provenance metadata, sidecars), ``layout`` (collision-aware labels and layout checks),
``pdfcheck`` (the referee check on written PDFs), ``style`` (colours and type), ``suite``
(the figure set as an immutable tuple, and one call that writes it).

The derived tables the figures draw (``posted_by``, ``country_change``, ``yearly_counts``...)
are computed in :mod:`trialmap.aggregate`; they are re-exported here for existing callers.
"""

from trialmap.aggregate import (
    compare_runs,
    country_change,
    posted_by,
    trial_changes,
    yearly_counts,
)
from trialmap.aggregate import site_places as site_points
from trialmap.figures.categories import categories_by_country_plot
from trialmap.figures.change import change_map
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
from trialmap.figures.flow import flow_diagram
from trialmap.figures.regions import regions_bar
from trialmap.figures.sensitivity import sensitivity_plot
from trialmap.figures.sitemap import REGIONS, sitemap
from trialmap.figures.timeline import timeline
from trialmap.figures.worldmap import (
    BIN_EDGES,
    BOUNDARY_DISCLAIMER,
    CMAP,
    EQUAL_EARTH,
    LAEA_EUROPE,
    NO_TRIALS_COLOR,
    Classes,
    bin_colors,
    bin_labels,
    caption,
    count_colors,
    data_classes,
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
    "LAEA_EUROPE",
    "MIN_FONT_PT",
    "MM",
    "NO_TRIALS_COLOR",
    "REGIONS",
    "SINGLE_COLUMN_MM",
    "Classes",
    "add_source_line",
    "bin_colors",
    "bin_labels",
    "caption",
    "categories_by_country_plot",
    "change_map",
    "compare_runs",
    "count_colors",
    "country_change",
    "data_classes",
    "export_figure",
    "figure1",
    "flow_diagram",
    "journal_figure",
    "journal_rc",
    "lightness",
    "min_font_size",
    "posted_by",
    "regions_bar",
    "save_figure",
    "sensitivity_plot",
    "site_points",
    "sitemap",
    "timeline",
    "trial_changes",
    "yearly_counts",
]
