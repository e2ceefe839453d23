"""Disease category x leading countries: how many trials of each category each country hosts.

A table-like heat map: one row per category of the definition (its trials in the study
set in brackets), one column per leading country, the count printed in every cell and the
cell shaded in the trials-per-country colours (``YlGnBu``: the same meaning as on the
maps). The numbers come from :func:`trialmap.aggregate.categories_by_country`.
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


def categories_by_country_plot(
    table: pd.DataFrame,
    *,
    names: Mapping[str, str] | None = None,
    totals: Mapping[str, int] | None = None,
    top: int | None = None,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
) -> Axes:
    """Draw the category x country table.

    Parameters
    ----------
    table
        :func:`trialmap.aggregate.categories_by_country` (``category``, ``label``,
        ``iso3``, ``n_trials``).
    names
        iso3 -> country name for the column heads.
    totals
        Category -> trials in the study set, shown beside the category's label.
    top
        Countries to show (default: all of the table's at 183 mm, 6 at 89 mm).
    width
        ``"single"`` or ``"double"`` (or mm).

    Returns
    -------
    Axes
        The cells are the image with gid ``"cells"``; cell values are texts with gid
        ``"cell-<category>-<ISO3>"``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap

    from trialmap.figures.export import add_source_line, width_mm
    from trialmap.figures.worldmap import Classes

    w = width_mm(width)
    sz = style.sizes(w)
    small = w < 120
    countries = list(dict.fromkeys(table["iso3"]))[: (top or (6 if small else len(set(table["iso3"]))))]
    cats = list(dict.fromkeys(table["category"]))
    labels = table.drop_duplicates("category").set_index("category")["label"]
    grid = table[table["iso3"].isin(countries)].pivot_table(
        index="category", columns="iso3", values="n_trials", aggfunc="sum")
    grid = grid.reindex(index=cats, columns=countries).fillna(0).astype(int)
    import textwrap

    wrap = 34 if small else 48
    row_text = {
        c: textwrap.fill(f"{labels.get(c, c)}" + (f" ({totals[c]})" if totals and c in totals else ""), wrap)
        for c in cats
    }
    max_lines = max(t.count("\n") + 1 for t in row_text.values())
    head = 8.0 if small else 24.0
    h = 12 + head + len(cats) * max(4.6, 2.75 * max_lines + 1.0)
    fig, ax = plt.subplots(figsize=(w * MM, h * MM), layout="constrained")
    fig.set_facecolor("white")
    vals = grid.to_numpy()
    classes = Classes.from_values(vals[vals > 0].ravel(), "Trials")
    cmap = ListedColormap([style.LAND, *classes.colors])
    bounds = [0, *classes.edges, max(float(vals.max()) + 1, classes.edges[-1] + 1)]
    norm = BoundaryNorm([b - 0.5 if i else -0.5 for i, b in enumerate(bounds)], cmap.N)
    im = ax.imshow(vals, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    im.set_gid("cells")
    for i, c in enumerate(cats):
        for j, iso in enumerate(countries):
            v = int(vals[i, j])
            fill = cmap(norm(v))
            ax.text(
                j,
                i,
                f"{v}",
                ha="center",
                va="center",
                fontsize=sz["small"],
                color=style.text_color_on(fill) if v else style.MUTED,
                gid=f"cell-{c}-{iso}",
            )
    ax.set_yticks(range(len(cats)), [row_text[c] for c in cats], fontsize=sz["small"])
    if small:  # codes across (names in the caption)
        ax.set_xticks(range(len(countries)), countries, fontsize=sz["small"])
    else:
        col = [(names or {}).get(i, i) for i in countries]
        ax.set_xticks(range(len(countries)), col, fontsize=sz["small"], rotation=90, ha="center")
    ax.xaxis.tick_top()
    ax.tick_params(length=0, pad=2)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_xticks(np.arange(-0.5, len(countries)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(cats)), minor=True)
    ax.grid(which="minor", color="white", lw=1.0)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel(
        "Trials with a site in the country" + ("" if small else "; a trial in two categories counts in both"),
        fontsize=sz["small"],
    )
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"])
    return ax
