"""Trials per region as a horizontal bar chart (distinct trials, so regions do not add up)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from trialmap.figures import style
from trialmap.figures.export import MM, SINGLE_COLUMN_MM, add_source_line, width_mm

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BAR_COLOR = style.NEUTRAL  # a plain count: neutral grey, not a map class colour
SUBSET_COLOR = style.NEUTRAL_LIGHT
NO_LOCATION_LABEL = "No mappable site"


def regions_height_mm(n_rows: int) -> float:
    """Height for ``n_rows`` bars plus the axis and a source line."""
    return round(20.0 + 5.5 * n_rows, 1)


def regions_bar(
    region_counts: pd.DataFrame,
    *,
    subsets: Mapping[str, str] | None = None,
    order: Sequence[str] | None = None,
    no_location: int | None = None,
    source_line: str | None = None,
    width: str | float = SINGLE_COLUMN_MM,
    ax: Axes | None = None,
) -> Axes:
    """Draw distinct trials per region as horizontal bars, largest first.

    Parameters
    ----------
    region_counts
        ``region``, ``n_trials`` (as from :func:`trialmap.aggregate.region_counts`).
    subsets
        Region -> the region it lies inside (default ``{"EU27": "Europe"}``): drawn as a
        lighter, hatched inner bar on its parent's row.
    order
        Regions to show, top to bottom; default: the UN M49 continents by ``n_trials``.
    no_location
        In-scope trials with no mappable site, shown as a separate, outlined row below
        the regions (they are on no map).
    width
        Printed width of a new figure (``"single"``, ``"double"`` or mm).

    Returns
    -------
    Axes
        Bars have gid ``"bar-<region>"``, inner subset bars ``"subset-<region>"``, value
        labels ``"value-<region>"``, the no-location row ``"bar-no-location"``.
    """
    import matplotlib.pyplot as plt

    subsets = {"EU27": "Europe"} if subsets is None else dict(subsets)
    n = region_counts.set_index("region")["n_trials"].astype(int)
    if order is None:
        rows = n[~n.index.isin(list(subsets))]
        if "scheme" in region_counts:
            continents = region_counts.loc[region_counts["scheme"] == "UN M49 continent", "region"]
            rows = rows[rows.index.isin(set(continents))]
        rows = rows.reset_index()
        order = rows.sort_values(["n_trials", "region"], ascending=[False, True])["region"].tolist()
    order = [r for r in order if r in n.index]
    n_rows = len(order) + (1 if no_location else 0)
    if ax is None:
        w = width_mm(width)
        _, ax = plt.subplots(figsize=(w * MM, regions_height_mm(n_rows) * MM), layout="constrained")
    fig = ax.figure
    sz = style.sizes(fig.get_figwidth() / MM)
    fs = sz["small"]
    y = list(range(n_rows))[::-1]
    labels = list(order)
    for yi, region in zip(y, order, strict=False):
        value = int(n[region])
        ax.barh(yi, value, height=0.7, color=BAR_COLOR, gid=f"bar-{region}")
        label = f"{value}"
        for sub, parent in subsets.items():
            if parent == region and sub in n.index:
                ax.barh(yi, int(n[sub]), height=0.32, color=SUBSET_COLOR, hatch="////", edgecolor="white",
                        linewidth=0, gid=f"subset-{sub}")
                label += f" (of which {sub} {int(n[sub])}, light inner bar)"
        ax.annotate(label, (value, yi), xytext=(2, 0), textcoords="offset points", va="center",
                    ha="left", fontsize=fs, gid=f"value-{region}")
    top = max([int(n[r]) for r in order] + [int(no_location or 0), 1])
    # Room on the right for the value labels; the axis runs to the first tick at or past the
    # longest bar (no bar beyond the axis), and no further.
    ax.set_xlim(0, top * (1.9 if fig.get_figwidth() / MM < 120 else 1.5))
    values = ax.xaxis.get_major_locator().tick_values(0, top)
    end = min([t for t in values if t >= top], default=top)
    ticks = [t for t in values if 0 <= t <= end]
    if no_location:
        yi = y[-1]
        ax.barh(yi, int(no_location), height=0.7, color="white", edgecolor=BAR_COLOR, linewidth=0.6,
                gid="bar-no-location")
        ax.annotate(f"{int(no_location)} (in scope, on no map)", (int(no_location), yi), xytext=(2, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=fs, gid="value-no-location")
        labels.append(NO_LOCATION_LABEL)
        ax.hlines(yi + 0.5, 0, end, color="#999999", lw=0.4, ls=":", gid="no-location-rule")
    ax.set_yticks(y, labels, fontsize=fs)
    ax.tick_params(axis="x", labelsize=fs, width=0.4, length=2)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("Trials with at least one site in the region", fontsize=fs)
    ax.set_xticks(ticks)
    ax.spines["bottom"].set_bounds(0, end)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(0.4)
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"])
    fig.set_facecolor("white")
    return ax
