"""Site map: one dot per place with trial sites, over the trials-per-country choropleth."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trialmap.figures.export import DOUBLE_COLUMN_MM, MM
from trialmap.figures.worldmap import (
    EDGE_COLOR,
    EQUAL_EARTH,
    _projected_points,
    bin_colors,
    bin_labels,
    count_colors,
    plot_geo,
)

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

# lon0, lat0, lon1, lat1 of each zoom; "World" shows everything but Antarctica.
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "Europe": (-25.0, 34.0, 45.0, 71.5),
    "East Asia": (95.0, 18.0, 146.0, 48.0),
    "North America": (-128.0, 14.0, -55.0, 57.0),
    "South America": (-85.0, -56.0, -32.0, 13.0),
    "Middle East": (25.0, 12.0, 63.0, 42.0),
}
DOT_COLOR = "#b2182b"  # red over the blue-green choropleth, distinct in greyscale too
SIZE_STEPS = (1, 5, 20)  # trials per place shown in the size legend


def site_points(sites: pd.DataFrame, nct_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Places to draw: sites located better than their country, grouped by point.

    Parameters
    ----------
    sites
        Geocoded sites (``nct_id``, ``lat``, ``lon``, ``geo_precision``).
    nct_ids
        Trials to keep (e.g. the included study set); all when ``None``.

    Returns
    -------
    DataFrame
        ``lat``, ``lon``, ``n_trials`` (distinct trials), ``n_sites``, most
        trials first. Sites known only by their country are left out (a dot at
        a country's centre would claim a place nobody named).
    """
    s = sites if nct_ids is None else sites[sites["nct_id"].isin(set(nct_ids))]
    s = s[s["geo_precision"].isin(["site", "city"]) & s["lat"].notna() & s["lon"].notna()]
    g = s.assign(lat=s["lat"].astype(float).round(4), lon=s["lon"].astype(float).round(4))
    pts = g.groupby(["lat", "lon"]).agg(n_trials=("nct_id", "nunique"), n_sites=("nct_id", "size"))
    return pts.reset_index().sort_values(["n_trials", "n_sites"], ascending=False, ignore_index=True)


def dot_sizes(n_trials: pd.Series | np.ndarray, scale: float = 4.0) -> np.ndarray:
    """Marker area (points^2) per place: proportional to trials, so area reads as count."""
    return scale * np.asarray(n_trials, dtype=float) + 2.0


def _bounds(region: str | tuple[float, float, float, float] | None, crs: str, world) -> tuple:
    if region is None or region == "World":
        return tuple(world[world["iso3"] != "ATA"].total_bounds)
    if isinstance(region, str):
        if region not in REGIONS:
            msg = f"no zoom called {region!r}; use one of {', '.join(['World', *REGIONS])} or a box"
            raise ValueError(msg)
        region = REGIONS[region]
    lon0, lat0, lon1, lat1 = region
    # project the box's outline, not only its corners: meridians curve in Equal Earth
    t = np.linspace(0.0, 1.0, 25)
    lons = np.concatenate([lon0 + (lon1 - lon0) * t, np.full(25, lon1), lon1 - (lon1 - lon0) * t,
                           np.full(25, lon0)])
    lats = np.concatenate([np.full(25, lat0), lat0 + (lat1 - lat0) * t, np.full(25, lat1),
                           lat1 - (lat1 - lat0) * t])
    xy = _projected_points(lons, lats, crs)
    return (xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max())


def sitemap(
    points: pd.DataFrame,
    world: gpd.GeoDataFrame,
    counts: pd.DataFrame | None = None,
    *,
    region: str | tuple[float, float, float, float] | None = None,
    n_country_only: int | None = None,
    source_line: str | None = None,
    title: str | None = None,
    crs: str = EQUAL_EARTH,
    ax: Axes | None = None,
) -> Axes:
    """Draw trial sites as dots sized by trials per place, over the country choropleth.

    Parameters
    ----------
    points
        ``lat``, ``lon``, ``n_trials`` (see :func:`site_points`).
    world
        Country polygons with ``iso3`` (see :func:`trialmap.boundaries.load_world`).
    counts
        ``iso3``, ``n_trials`` per country for the choropleth underneath; grey
        countries when ``None``.
    region
        ``None``/"World", a name in :data:`REGIONS` ("Europe", "East Asia",
        ...) or a ``(lon0, lat0, lon1, lat1)`` box to zoom to.
    n_country_only
        Sites placed only at country level (not drawn); stated in the legend.
    source_line
        Credit and provenance under the map (credit GeoNames where gazetteer
        coordinates are shown).
    ax
        Axes to draw into; a new 183 mm wide figure when ``None``.

    Returns
    -------
    Axes
        Country fills have gid ``"countries"``, the dots gid ``"sites"`` (one
        offset per row of ``points``, smallest drawn last so none is hidden).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(DOUBLE_COLUMN_MM * MM, 105 * MM), layout="constrained")
    geo = world.to_crs(crs)
    if counts is not None:
        n = geo["iso3"].map(counts.set_index("iso3")["n_trials"]).fillna(0).astype(int)
        colors = count_colors(n)
    else:
        colors = ["#e6e6e6"] * len(geo)
    plot_geo(geo, ax, color=colors, edgecolor=EDGE_COLOR, linewidth=0.2, alpha=0.8)
    ax.collections[-1].set_gid("countries")

    pts = points.sort_values("n_trials", ascending=False)  # big first, small on top
    xy = _projected_points(pts["lon"], pts["lat"], crs) if len(pts) else np.zeros((0, 2))
    ax.scatter(
        xy[:, 0], xy[:, 1], s=dot_sizes(pts["n_trials"]), c=DOT_COLOR, alpha=0.75,
        edgecolors="white", linewidths=0.3, zorder=5, gid="sites",
    )

    handles = [
        Line2D([], [], ls="", marker="o", markersize=float(np.sqrt(dot_sizes([k])[0])),
               markerfacecolor=DOT_COLOR, markeredgecolor="white", alpha=0.75,
               label=f"{k} trial{'s' if k > 1 else ''}")
        for k in SIZE_STEPS
    ]
    title_text = "Trials per place"
    if n_country_only:
        title_text += f"\n({n_country_only} sites known\nonly by country: not drawn)"
    leg = ax.legend(handles=handles, title=title_text, loc="lower left", fontsize=5.5,
                    title_fontsize=6, frameon=False, bbox_to_anchor=(0.0, 0.02))
    if counts is not None:
        ax.add_artist(leg)
        patches = [Patch(fc=c, ec="#999999", lw=0.3, label=lab)
                   for c, lab in zip(bin_colors(), bin_labels(), strict=True)]
        ax.legend(handles=patches, title="Trials per country", loc="lower right", fontsize=5.5,
                  title_fontsize=6, frameon=False, handlelength=1.2, handleheight=0.9)

    ax.set_axis_off()
    ax.set_aspect("equal")
    xmin, ymin, xmax, ymax = _bounds(region, crs, geo)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    if title:
        ax.set_title(title, fontsize=8, loc="left")
    if source_line:
        ax.text(0.0, -0.02, source_line, transform=ax.transAxes, fontsize=5, va="top", ha="left",
                color="#333333", wrap=True, gid="source-line")
    ax.figure.set_facecolor("white")
    return ax
