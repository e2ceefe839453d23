"""Figure 1: world choropleth of trials per country, leaders labelled, China/US/Europe called out.

Design choices a reviewer may ask about:

- **Projection**: Equal Earth (EPSG:8857), an equal-area projection, so a country's
  visual weight is its true area (Web Mercator would inflate Europe, Russia and Canada).
- **Palette**: seven ColorBrewer ``YlGnBu`` classes (colour-blind safe) whose CIE L*
  lightness falls monotonically from the lightest to the darkest class by at least
  8 units per step, with countries without trials in an even lighter grey, so the
  map also reads when printed in greyscale (see :func:`lightness`).
- **Boundaries**: Natural Earth admin-0; :data:`BOUNDARY_DISCLAIMER` is the sentence
  to put in the legend (:func:`caption` includes it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trialmap.figures.export import DOUBLE_COLUMN_MM, MM

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

EQUAL_EARTH = "EPSG:8857"

# Class edges for trials per country: [1], [2, 5), [5, 10), ... [100, inf).
BIN_EDGES = (1, 2, 5, 10, 20, 50, 100)
# Lighter than the lightest class (L* 97 vs 89) so "none" and "1" differ in greyscale too.
NO_TRIALS_COLOR = "#f7f7f7"
# Grey outlines keep countries without trials visible against the white ocean.
EDGE_COLOR = "#b4b4b4"
CMAP = "YlGnBu"  # ColorBrewer: colour-blind safe, monotone in lightness
# Where the colormap's classes start and end: below 0.25 YlGnBu is too close to white.
CMAP_RANGE = (0.25, 1.0)
BOUNDARY_DISCLAIMER = (
    "Country boundaries: Natural Earth (public domain), 1:10m admin-0 v5.1.1, simplified. "
    "The boundaries and names shown do not imply the expression of any opinion "
    "concerning the legal status of any country, territory or area, or of its authorities, "
    "or concerning the delimitation of its frontiers."
)


def plot_geo(geo: gpd.GeoDataFrame, ax: Axes, **kwargs) -> None:
    """``geo.plot(ax=ax, **kwargs)`` without the full canvas draw geopandas ends with.

    geopandas calls ``canvas.draw_idle()`` after adding the polygons, which with a
    non-interactive backend renders the whole figure there and then (about 0.2 s
    for a world map); every figure is rendered when it is saved or shown anyway.
    """
    canvas = ax.figure.canvas
    canvas.draw_idle = lambda *args, **kw: None  # instance attribute: shadows the method
    try:
        geo.plot(ax=ax, **kwargs)
    finally:
        del canvas.draw_idle


def lightness(color) -> float:
    """CIE L* (0 black .. 100 white) of a matplotlib colour: what a greyscale print keeps."""
    from matplotlib.colors import to_rgb

    c = np.asarray(to_rgb(color), float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = float(lin @ np.array([0.2126, 0.7152, 0.0722]))
    return 116 * np.cbrt(y) - 16 if y > 216 / 24389 else y * 24389 / 27


def bin_labels(edges: Sequence[int] = BIN_EDGES) -> list[str]:
    labels = []
    for lo, hi in zip(edges, [*edges[1:], None], strict=True):
        if hi is None:
            labels.append(f"≥{lo}")
        elif hi - lo == 1:
            labels.append(f"{lo}")
        else:
            labels.append(f"{lo}–{hi - 1}")
    return labels


def bin_colors(n_bins: int = len(BIN_EDGES), cmap: str = CMAP) -> list[tuple[float, ...]]:
    """One RGBA colour per class, light to dark."""
    from matplotlib import colormaps

    cm = colormaps[cmap]
    return [tuple(float(x) for x in cm(v)) for v in np.linspace(*CMAP_RANGE, n_bins)]


def count_colors(
    n_trials: pd.Series, edges: Sequence[int] = BIN_EDGES, cmap: str = CMAP
) -> list[tuple[float, ...]]:
    """RGBA fill colour for each count (grey for 0 / missing)."""
    from matplotlib.colors import to_rgba

    colors = bin_colors(len(edges), cmap)
    values = pd.to_numeric(n_trials, errors="coerce").fillna(0).to_numpy()
    idx = np.searchsorted(np.asarray(edges), values, side="right") - 1
    grey = to_rgba(NO_TRIALS_COLOR)
    return [colors[i] if v >= edges[0] else grey for i, v in zip(idx, values, strict=True)]


def _projected_points(lon: Iterable[float], lat: Iterable[float], crs: str) -> np.ndarray:
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(np.asarray(list(lon), float), np.asarray(list(lat), float))
    return np.column_stack([x, y])


def _fmt(n: float) -> str:
    """A count as printed: whole numbers without decimals, shares with one."""
    return f"{int(n)}" if float(n).is_integer() else f"{n:.1f}"


def map_legend(ax: Axes, handles: list, title: str, *, fontsize: float, title_fontsize: float):
    """Class legend of a world map: inside, over the South Pacific, on a wide map; in one row
    under the map on a narrow one (at 89 mm there is no empty ocean large enough)."""
    common = {"handles": handles, "title": title, "fontsize": fontsize, "title_fontsize": title_fontsize,
              "frameon": False, "handlelength": 1.2, "handleheight": 0.9}
    if ax.figure.get_figwidth() / MM < 120:
        return ax.legend(**common, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles),
                         columnspacing=0.7, handletextpad=0.3, borderaxespad=0.2)
    return ax.legend(**common, loc="lower left", bbox_to_anchor=(0.0, 0.02), labelspacing=0.3,
                     alignment="left")


def figure1_height_mm(width_mm: float, *, title: bool = False) -> float:
    """Height that fits the Equal Earth map without Antarctica (2.24:1), the legend, the
    source line and optionally a title, so a figure has no empty bands."""
    # Wide: legend inside the map, two lines of source. Narrow: legend row under it, four lines.
    h = width_mm / 2.24 + (8.0 if width_mm >= 120 else 17.5)
    return round(h + (5.0 if title else 0.0), 1)


def _sizes(fig_width_mm: float) -> dict[str, float]:
    # Printed type sizes: never below 5 pt at single-column width.
    if fig_width_mm < 120:
        return {"label": 5.0, "callout": 6.0, "legend": 5.0, "legend_title": 5.5, "source": 5.0,
                "title": 6.5, "marker": 8.0, "halo": 1.2}
    return {"label": 5.5, "callout": 7.0, "legend": 5.5, "legend_title": 6.0, "source": 5.0,
            "title": 8.0, "marker": 14.0, "halo": 1.6}


def frame_world(ax: Axes, geo: gpd.GeoDataFrame) -> None:
    """Frame a projected world map: no axes, equal aspect, the land without Antarctica."""
    ax.set_axis_off()
    ax.set_xlabel("")  # geopandas names the projected axes; they are not shown
    ax.set_ylabel("")
    ax.set_aspect("equal")
    xmin, ymin, xmax, ymax = geo[geo["iso3"] != "ATA"].total_bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)


def figure1(
    counts: pd.DataFrame,
    world: gpd.GeoDataFrame,
    *,
    regions: Mapping[str, tuple[int, Collection[str]]] | None = None,
    callouts: Sequence[str] = ("CHN", "USA"),
    label_top: int = 10,
    source_line: str | None = None,
    title: str | None = None,
    crs: str = EQUAL_EARTH,
    width: str | float = DOUBLE_COLUMN_MM,
    ax: Axes | None = None,
    value: str = "n_trials",
    unit: str = "trials",
) -> Axes:
    """Draw the Figure 1 world map: trials per country, leaders labelled.

    Parameters
    ----------
    counts
        ``iso3``, ``country``, ``n_trials`` (as from
        :func:`trialmap.aggregate.country_counts`).
    world
        Country polygons with ``iso3``, ``rep_lon``, ``rep_lat`` and ``tiny``,
        largest unit of a country first (see :func:`trialmap.boundaries.load_world`).
    regions
        Region name -> (distinct trials, member iso3 codes), shown as a
        call-out (the paper calls out Europe as a whole). Leading countries of
        a region are listed in its call-out instead of crowding the map.
    callouts
        Countries given a large call-out with their count.
    label_top
        Other countries among the leaders labelled with ISO code and count.
    source_line
        Credit and provenance printed under the map.
    title
        Printed above the map (journals usually want it in the legend instead).
    crs
        Map projection; equal-area Equal Earth by default.
    width
        Printed width of a new figure: ``"single"`` (89 mm), ``"double"``
        (183 mm) or millimetres. Type sizes follow the width of the figure
        drawn into (never below 5 pt).
    ax
        Axes to draw into; a new figure ``width`` wide when ``None``.
    value, unit
        The counts column to map (``n_trials``, ``n_sites`` or
        ``trial_share``, one per counting rule) and the word for it in labels.
        A positive value below 1 (a fractional share) is drawn in the lowest class.

    Returns
    -------
    Axes
        The country fills are the collection with gid ``"countries"`` (one
        face per row of ``world`` in its order); tiny-country markers have gid
        ``"tiny-countries"``; labels ``"label-<ISO3>"``; call-outs
        ``"callout-<ISO3>"`` / ``"callout-<region>"`` (+ ``"-leaders"``); the
        source line ``"source-line"``.
    """
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from trialmap.figures.export import add_source_line, width_mm

    own_figure = ax is None
    if ax is None:
        w = width_mm(width)
        h = figure1_height_mm(w, title=bool(title))
        _, ax = plt.subplots(figsize=(w * MM, h * MM), layout="constrained")
    fig = ax.figure
    size = _sizes(fig.get_figwidth() / MM)
    counts = counts.assign(n_trials=counts[value])
    n_by_iso = counts.set_index("iso3")["n_trials"]
    geo = world.to_crs(crs)
    geo = geo.assign(n_trials=geo["iso3"].map(n_by_iso).fillna(0))
    # Fractional shares below one still mark a country that hosts trials.
    shade = geo["n_trials"].where(~geo["n_trials"].between(0, 1, inclusive="neither"), 1)
    plot_geo(geo, ax, color=count_colors(shade), edgecolor=EDGE_COLOR, linewidth=0.15)
    ax.collections[-1].set_gid("countries")

    # Tiny countries are invisible at world scale: draw them as markers.
    tiny = geo[geo["tiny"] & (geo["n_trials"] > 0)].drop_duplicates("iso3")
    if not tiny.empty:
        xy = _projected_points(tiny["rep_lon"], tiny["rep_lat"], crs)
        ax.scatter(
            xy[:, 0], xy[:, 1], s=size["marker"], c=count_colors(tiny["n_trials"].clip(lower=1)),
            edgecolors="#333333",
            linewidths=0.5, zorder=4, gid="tiny-countries",
        )

    halo = [pe.withStroke(linewidth=size["halo"], foreground="white")]
    by_iso = geo.drop_duplicates("iso3").set_index("iso3")
    ranked = counts.sort_values("n_trials", ascending=False)
    leaders = ranked.head(label_top)
    in_region = {iso for _, members in (regions or {}).values() for iso in members}
    for row in leaders.itertuples():
        if row.iso3 not in by_iso.index or row.iso3 in callouts or row.iso3 in in_region:
            continue
        x, y = _projected_points([by_iso.loc[row.iso3, "rep_lon"]], [by_iso.loc[row.iso3, "rep_lat"]], crs)[0]
        ax.annotate(
            f"{row.iso3} {_fmt(row.n_trials)}", (x, y), fontsize=size["label"], ha="center", va="center",
            path_effects=halo, zorder=5, gid=f"label-{row.iso3}",
        )

    # Big call-outs, placed over the oceans so they hide no country.
    box = {"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#555555", "lw": 0.5}
    leader_line = {"arrowstyle": "-", "color": "#555555", "lw": 0.6}
    offsets = {"CHN": (150.0, 5.0), "USA": (-150.0, 15.0)}
    for iso in callouts:
        if iso not in by_iso.index:
            continue
        n = _fmt(n_by_iso.get(iso, 0))
        name = counts.set_index("iso3")["country"].get(iso, iso)
        x, y = _projected_points([by_iso.loc[iso, "rep_lon"]], [by_iso.loc[iso, "rep_lat"]], crs)[0]
        ox, oy = offsets.get(iso, (0.0, -50.0))
        tx, ty = _projected_points([ox], [oy], crs)[0]
        ax.annotate(
            f"{name}\n{n} {unit}", (x, y), xytext=(tx, ty), fontsize=size["callout"], fontweight="bold",
            ha="center", va="center", zorder=6, gid=f"callout-{iso}", bbox=box, arrowprops=leader_line,
        )
    for name, (n, members) in (regions or {}).items():
        inside = leaders[leaders["iso3"].isin(set(members))]
        listed = "\n".join(f"{r.iso3} {_fmt(r.n_trials)}" for r in inside.itertuples())
        x, y = _projected_points([12.0], [50.0], crs)[0]
        tx, ty = _projected_points([-35.0], [62.0], crs)[0]
        ax.annotate(
            f"{name}\n{_fmt(n)} {unit}", (x, y), xytext=(tx, ty), fontsize=size["callout"], fontweight="bold",
            ha="center", va="bottom", zorder=6, gid=f"callout-{name}", bbox=box, arrowprops=leader_line,
        )
        if listed:
            ax.annotate(
                listed, (tx, ty), xytext=(0, -3), textcoords="offset points", fontsize=size["label"],
                ha="center", va="top", zorder=6, gid=f"callout-{name}-leaders",
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "none", "alpha": 0.85},
            )

    handles = [Patch(fc=NO_TRIALS_COLOR, ec="#999999", lw=0.3, label="0")]
    labels = bin_labels()
    if not np.allclose(counts["n_trials"] % 1, 0):  # fractional shares: first class is (0, 2)
        labels[0] = f"<{BIN_EDGES[1]}"
    handles += [
        Patch(fc=c, ec="#999999", lw=0.3, label=lab)
        for c, lab in zip(bin_colors(), labels, strict=True)
    ]
    map_legend(ax, handles, f"{unit.capitalize()} per country", fontsize=size["legend"],
               title_fontsize=size["legend_title"])
    frame_world(ax, geo)
    if title:
        ax.set_title(title, fontsize=size["title"], loc="left")
    if source_line and own_figure:
        add_source_line(fig, source_line, fontsize=size["source"])
    elif source_line:  # a panel of someone else's figure: keep the line under this map
        ax.text(
            0.0, -0.02, source_line, transform=ax.transAxes, fontsize=size["source"], va="top", ha="left",
            color="#333333", wrap=True, gid="source-line",
        )
    fig.set_facecolor("white")
    return ax


def caption(
    counts: pd.DataFrame,
    *,
    n_trials: int,
    data_date: str,
    regions: Mapping[str, int] | None = None,
    counting_rule: str = "distinct trials with at least one site in the country",
    disclaimer: bool = True,
    value: str = "n_trials",
    unit: str = "trials",
) -> str:
    """A figure legend for Figure 1, numbers taken from ``counts``, boundary disclaimer appended.

    Parameters
    ----------
    counts
        The country counts drawn (``iso3``, ``country``, ``n_trials``).
    n_trials
        Trials in the study set (a multinational trial counts in each of its
        countries, so this is less than the sum of the country counts).
    regions
        Region name -> its value under the counting rule, for the regions called out.
    value, unit
        The column drawn (one per counting rule) and the word for it.
    """
    with_trials = counts[counts["iso3"].notna() & (counts[value] > 0)]
    top = with_trials.sort_values(value, ascending=False).head(3)
    leaders = ", ".join(f"{r.country} ({_fmt(getattr(r, value))})" for r in top.itertuples())
    text = (
        f"Number of {unit} per country (ClinicalTrials.gov, registry data date {data_date}; "
        f"{n_trials} trials in {len(with_trials)} countries; counting: {counting_rule}). "
        f"Leading countries: {leaders}."
    )
    if regions:
        word = "distinct trials" if unit == "trials" else unit
        text += " Call-outs: " + "; ".join(f"{k}, {_fmt(v)} {word}" for k, v in regions.items()) + "."
    text += " Equal Earth projection."
    if disclaimer:
        text += " " + BOUNDARY_DISCLAIMER
    return text
