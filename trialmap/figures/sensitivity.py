"""A small figure of how per-country counts move between study-set variants."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from trialmap.figures.export import MM, SINGLE_COLUMN_MM

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def sensitivity_plot(
    counts: pd.DataFrame,
    *,
    top: int = 12,
    unit: str = "trials",
    source_line: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Dot plot: one row per leading country, one marker per variant.

    Parameters
    ----------
    counts
        :func:`trialmap.sensitivity.sensitivity`'s wide table (``iso3``,
        ``country``, ``default``, then one column per variant).
    top
        How many countries (by the default count) to show.

    Returns
    -------
    Axes
        The default variant is the collection with gid ``"variant-default"``
        (black diamonds); every other variant ``"variant-<name>"``.
    """
    import matplotlib.pyplot as plt

    data = counts.head(top).iloc[::-1]
    variants = [c for c in counts.columns if c not in ("iso3", "country")]
    if ax is None:
        _, ax = plt.subplots(figsize=(SINGLE_COLUMN_MM * 1.4 * MM, (25 + 5 * len(data)) * MM),
                             layout="constrained")
    y = range(len(data))
    cmap = plt.get_cmap("tab10")
    others = [v for v in variants if v != "default"]
    for i, v in enumerate(others):
        ax.scatter(data[v], y, s=10, color=cmap(i % 10), label=v, zorder=3, gid=f"variant-{v}",
                   alpha=0.85, linewidths=0)
    ax.scatter(data["default"], y, s=22, marker="D", color="black", label="default", zorder=4,
               gid="variant-default")
    for yi, (lo, hi) in enumerate(zip(data[variants].min(axis=1), data[variants].max(axis=1), strict=True)):
        ax.plot([lo, hi], [yi, yi], color="#bbbbbb", lw=0.8, zorder=1)
    ax.set_yticks(list(y), data["country"].tolist(), fontsize=6)
    ax.tick_params(axis="x", labelsize=6)
    ax.set_xlabel(f"{unit.capitalize()} per country", fontsize=6.5)
    ax.set_xlim(left=0)
    ax.grid(axis="x", lw=0.3, color="#dddddd")
    ax.legend(fontsize=5, frameon=False, loc="lower right", title="variant", title_fontsize=5.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if source_line:
        ax.text(0.0, -0.12, source_line, transform=ax.transAxes, fontsize=5, va="top",
                ha="left", color="#333333", wrap=True, gid="source-line")
    return ax
