"""Figure 1: world choropleth of trials per country, leaders labelled."""

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
NO_TRIALS_COLOR = "#e6e6e6"
EDGE_COLOR = "#ffffff"
CMAP = "YlGnBu"  # ColorBrewer: colour-blind safe, monotone in greyscale


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
    return [tuple(float(x) for x in cm(v)) for v in np.linspace(0.18, 1.0, n_bins)]


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
    ax
        Axes to draw into; a new 183 mm wide figure when ``None``.
    value, unit
        The counts column to map (``n_trials``, ``n_sites`` or
        ``trial_share``, one per counting rule) and the word for it in labels.
        A positive value below 1 (a fractional share) is drawn in the lowest class.

    Returns
    -------
    Axes
        The country fills are the collection with gid ``"countries"`` (one
        face per row of ``world`` in its order); tiny-country markers have gid
        ``"tiny-countries"``.
    """
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(DOUBLE_COLUMN_MM * MM, 105 * MM), layout="constrained")
    fig = ax.figure
    counts = counts.assign(n_trials=counts[value])
    n_by_iso = counts.set_index("iso3")["n_trials"]
    geo = world.to_crs(crs)
    geo = geo.assign(n_trials=geo["iso3"].map(n_by_iso).fillna(0))
    # Fractional shares below one still mark a country that hosts trials.
    shade = geo["n_trials"].where(~geo["n_trials"].between(0, 1, inclusive="neither"), 1)
    geo.plot(ax=ax, color=count_colors(shade), edgecolor=EDGE_COLOR, linewidth=0.2)
    ax.collections[-1].set_gid("countries")

    # Tiny countries are invisible at world scale: draw them as markers.
    tiny = geo[geo["tiny"] & (geo["n_trials"] > 0)].drop_duplicates("iso3")
    if not tiny.empty:
        xy = _projected_points(tiny["rep_lon"], tiny["rep_lat"], crs)
        ax.scatter(
            xy[:, 0], xy[:, 1], s=14, c=count_colors(tiny["n_trials"].clip(lower=1)), edgecolors="#333333",
            linewidths=0.5, zorder=4, gid="tiny-countries",
        )

    halo = [pe.withStroke(linewidth=1.6, foreground="white")]
    by_iso = geo.drop_duplicates("iso3").set_index("iso3")
    ranked = counts.sort_values("n_trials", ascending=False)
    leaders = ranked.head(label_top)
    in_region = {iso for _, members in (regions or {}).values() for iso in members}
    for row in leaders.itertuples():
        if row.iso3 not in by_iso.index or row.iso3 in callouts or row.iso3 in in_region:
            continue
        x, y = _projected_points([by_iso.loc[row.iso3, "rep_lon"]], [by_iso.loc[row.iso3, "rep_lat"]], crs)[0]
        ax.annotate(
            f"{row.iso3} {_fmt(row.n_trials)}", (x, y), fontsize=5.5, ha="center", va="center",
            path_effects=halo, zorder=5, gid=f"label-{row.iso3}",
        )

    # Big call-outs, placed over the oceans so they hide no country.
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
            f"{name}\n{n} {unit}", (x, y), xytext=(tx, ty), fontsize=7, fontweight="bold",
            ha="center", va="center", zorder=6, gid=f"callout-{iso}",
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#555555", "lw": 0.5},
            arrowprops={"arrowstyle": "-", "color": "#555555", "lw": 0.6},
        )
    for name, (n, members) in (regions or {}).items():
        inside = leaders[leaders["iso3"].isin(set(members))]
        listed = "\n".join(f"{r.iso3} {_fmt(r.n_trials)}" for r in inside.itertuples())
        x, y = _projected_points([12.0], [50.0], crs)[0]
        tx, ty = _projected_points([-35.0], [62.0], crs)[0]
        ax.annotate(
            f"{name}\n{_fmt(n)} {unit}", (x, y), xytext=(tx, ty), fontsize=7, fontweight="bold",
            ha="center", va="bottom", zorder=6, gid=f"callout-{name}",
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#555555", "lw": 0.5},
            arrowprops={"arrowstyle": "-", "color": "#555555", "lw": 0.6},
        )
        if listed:
            ax.annotate(
                listed, (tx, ty), xytext=(0, -3), textcoords="offset points", fontsize=5.5,
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
    ax.legend(
        handles=handles, title=f"{unit.capitalize()} per country", loc="lower left", fontsize=5.5,
        title_fontsize=6, frameon=False, handlelength=1.2, handleheight=0.9,
        bbox_to_anchor=(0.0, 0.02),
    )
    ax.set_axis_off()
    ax.set_aspect("equal")
    xmin, ymin, xmax, ymax = geo[geo["iso3"] != "ATA"].total_bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    if title:
        ax.set_title(title, fontsize=8, loc="left")
    if source_line:
        ax.text(
            0.0, -0.02, source_line, transform=ax.transAxes, fontsize=5, va="top", ha="left",
            color="#333333", wrap=True, gid="source-line",
        )
    fig.set_facecolor("white")
    return ax
