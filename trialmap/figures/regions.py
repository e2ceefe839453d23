"""Trials per region as a horizontal bar chart (distinct trials, so regions do not add up)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from trialmap.figures.export import MM, SINGLE_COLUMN_MM, add_source_line, width_mm

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BAR_COLOR = "#225ea8"  # YlGnBu dark blue: L* 39, reads as mid-dark grey in greyscale
SUBSET_COLOR = "#7fcdbb"  # YlGnBu light teal: L* 77, clearly lighter than its parent bar


def regions_height_mm(n_rows: int) -> float:
    """Height for ``n_rows`` bars plus the axis and a source line."""
    return round(22.0 + 6.0 * n_rows, 1)


def regions_bar(
    region_counts: pd.DataFrame,
    *,
    subsets: Mapping[str, str] | None = None,
    order: Sequence[str] | None = None,
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
        Region -> the region it lies inside (default ``{"EU27": "Europe"}``):
        drawn as a lighter inner bar on its parent's row, not as a row of its own,
        because a separate row would read as a disjoint region.
    order
        Regions to show, top to bottom; default: every non-subset region (only
        the UN M49 continents when ``region_counts`` has a ``scheme`` column) by
        ``n_trials`` (descending), ties by name.
    width
        Printed width of a new figure (``"single"``, ``"double"`` or mm).
    ax
        Axes to draw into; a new figure when ``None``.

    Returns
    -------
    Axes
        Bars have gid ``"bar-<region>"`` (width = the region's ``n_trials``),
        inner subset bars ``"subset-<region>"``, value labels
        ``"value-<region>"`` and the source line ``"source-line"`` (on the figure).
    """
    import matplotlib.pyplot as plt

    subsets = {"EU27": "Europe"} if subsets is None else dict(subsets)
    n = region_counts.set_index("region")["n_trials"].astype(int)
    if order is None:
        rows = n[~n.index.isin(list(subsets))]
        if "scheme" in region_counts:
            # Several membership schemes overlap (continents, WHO regions...): bars show continents.
            continents = region_counts.loc[region_counts["scheme"] == "UN M49 continent", "region"]
            rows = rows[rows.index.isin(set(continents))]
        rows = rows.reset_index()
        order = rows.sort_values(["n_trials", "region"], ascending=[False, True])["region"].tolist()
    order = [r for r in order if r in n.index]
    if ax is None:
        w = width_mm(width)
        _, ax = plt.subplots(figsize=(w * MM, regions_height_mm(len(order)) * MM), layout="constrained")
    small = ax.figure.get_figwidth() / MM < 120
    fs = 6.0 if small else 7.0

    y = list(range(len(order)))[::-1]  # first region on top
    for yi, region in zip(y, order, strict=True):
        value = int(n[region])
        ax.barh(yi, value, height=0.7, color=BAR_COLOR, gid=f"bar-{region}")
        label = f"{value}"
        for sub, parent in subsets.items():
            if parent == region and sub in n.index:
                ax.barh(yi, int(n[sub]), height=0.32, color=SUBSET_COLOR, hatch="////", edgecolor="white",
                        linewidth=0, gid=f"subset-{sub}")
                label += f" (of which {sub} {int(n[sub])})"
        ax.annotate(label, (value, yi), xytext=(2, 0), textcoords="offset points", va="center",
                    ha="left", fontsize=fs - 0.5, gid=f"value-{region}")
    ax.set_yticks(y, order, fontsize=fs)
    ax.tick_params(axis="x", labelsize=fs - 0.5, width=0.5, length=2.5)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("Trials with at least one site in the region", fontsize=fs)
    top = max([int(n[r]) for r in order] + [1])
    # Room on the right for the value labels.
    ax.set_xlim(0, top * (1.45 if small else 1.3))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(0.5)
    if source_line:
        add_source_line(ax.figure, source_line)
    ax.figure.set_facecolor("white")
    return ax
