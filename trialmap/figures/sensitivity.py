"""How per-country counts move between study-set variants: a dodged dot plot.

Each leading country is a row; each variant a marker of its own Okabe–Ito colour *and*
shape, offset vertically within the row, and drawn only where it changes the count (the
default is the black diamond on the row's line). Variants are named in words (the
sensitivity summary's descriptions), not by their codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trialmap.figures import style
from trialmap.figures.export import DOUBLE_COLUMN_MM, MM

if TYPE_CHECKING:
    from matplotlib.axes import Axes


LEGEND_TITLE = "Study-set variant (drawn only where it changes the count)"


def sensitivity_plot(
    counts: pd.DataFrame,
    *,
    top: int = 12,
    unit: str = "trials",
    labels: Mapping[str, str] | None = None,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
    ax: Axes | None = None,
) -> Axes:
    """Dot plot: one row per leading country, one marker per variant.

    Parameters
    ----------
    counts
        :func:`trialmap.sensitivity.sensitivity`'s wide table (``iso3``, ``country``,
        ``default``, then one column per variant).
    top
        How many countries (by the default count) to show.
    labels
        Variant -> words for the legend (default: the variant names).
    width
        Printed width (``"single"``, ``"double"`` or mm).

    Returns
    -------
    Axes
        The default variant is the collection with gid ``"variant-default"`` (black
        diamonds); every other variant ``"variant-<name>"``.
    """
    import matplotlib.pyplot as plt

    from trialmap.figures.export import add_source_line, width_mm

    del ax
    w = width_mm(width)
    sz = style.sizes(w)
    data = counts.head(top).iloc[::-1]
    variants = [c for c in counts.columns if c not in ("iso3", "country")]
    others = [v for v in variants if v != "default"]
    labels = dict(labels or {})
    n_leg_rows = -(-len(others) // (2 if w >= 120 else 1)) + 1
    h = 16 + 5.2 * len(data) + 3.2 * n_leg_rows
    fig, ax = plt.subplots(figsize=(w * MM, h * MM), layout="constrained")
    fig.set_facecolor("white")
    y = np.arange(len(data), dtype=float)
    span = 0.7
    offsets = np.linspace(-span / 2, span / 2, len(others)) if len(others) > 1 else np.zeros(len(others))
    for yi, (lo, hi) in enumerate(zip(data[variants].min(axis=1), data[variants].max(axis=1), strict=True)):
        ax.plot([lo, hi], [yi, yi], color="#bbbbbb", lw=0.6, zorder=1)
    # Beyond the 7 colour-and-shape pairs, the same pairs drawn hollow, then with shapes shifted:
    # every variant keeps a symbol of its own (the v3 definition has 14 variants).
    n = len(style.SERIES)
    for i, v in enumerate(others):
        color = style.SERIES[i % n][0]
        marker = style.SERIES[(i + i // (2 * n)) % n][1]
        hollow = (i // n) % 2 == 1
        # Only where the variant changes the count (thirteen markers equal to the default were
        # stacked behind its diamond: a smear), and over the diamond: a change of one trial at
        # 89 mm is less than the diamond's width.
        moved = (data[v] != data["default"]).to_numpy()
        ax.scatter(data[v][moved], (y + offsets[i])[moved], s=9 if w < 120 else 12, marker=marker,
                   facecolor="white" if hollow else color, edgecolor=color if hollow else "white",
                   linewidths=0.6 if hollow else 0.3, label=labels.get(v, v), zorder=3, gid=f"variant-{v}")
    ax.scatter(data["default"], y, s=16 if w < 120 else 22, marker="D", color="black",
               label=labels.get("default", "default (the definition as written)"), zorder=2,
               gid="variant-default")
    ax.set_yticks(list(y), data["country"].tolist(), fontsize=sz["small"])
    ax.tick_params(axis="x", labelsize=sz["small"], width=0.4, length=2)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel(f"{unit.capitalize()} per country", fontsize=sz["small"])
    ax.set_xlim(left=0)
    ax.set_ylim(-0.6, len(data) - 0.4)
    ax.grid(axis="x", lw=0.3, color="#dddddd")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(-0.02, -0.12 if w >= 120 else -0.16), fontsize=sz["small"],
              frameon=False, ncol=2 if w >= 120 else 1, title=LEGEND_TITLE, title_fontsize=sz["small"],
              handletextpad=0.3, columnspacing=1.0, labelspacing=0.25, alignment="left")
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"])
    return ax
