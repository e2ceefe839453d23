"""Trials per year (study start or first posted): all trials, then one small panel per leading
country, on the same years. The numbers come from :func:`trialmap.aggregate.yearly_counts`.

Small multiples instead of lines over bars: each country gets its own y axis scale shared
with the other countries (so they compare), not squeezed under the all-trials bars. Years
from the registry data date's year on are partial (that year is incomplete; later start
dates are anticipated): hatched and lighter in every panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from trialmap.aggregate import ALL, DATE_FIELDS, YEARLY_COLUMNS
from trialmap.figures import style
from trialmap.figures.export import DOUBLE_COLUMN_MM, MM

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ALL", "DATE_FIELDS", "YEARLY_COLUMNS", "timeline", "timeline_height_mm"]

PARTIAL_HATCH = "////"


def timeline_height_mm(width: float) -> float:
    return 92.0 if width < 120 else 88.0


def _bars(ax: Axes, years, n, partial_from: int | None, gid: str) -> None:
    partial = [partial_from is not None and y >= partial_from for y in years]
    colors = [style.NEUTRAL_LIGHT if p else style.NEUTRAL for p in partial]
    bars = ax.bar(years, n, width=0.8, color=colors, edgecolor=style.NEUTRAL, linewidth=0.3, gid=gid)
    for bar, p in zip(bars, partial, strict=True):
        if p:
            bar.set_hatch(PARTIAL_HATCH)
            bar.set_facecolor("white")


def _style_axes(ax: Axes, size: float) -> None:
    ax.tick_params(labelsize=size, width=0.4, length=2, pad=1.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(0.4)
    ax.yaxis.get_major_locator().set_params(integer=True)


def timeline(
    yearly: pd.DataFrame,
    *,
    date: str = "start_date",
    data_date: str | None = None,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
    ax: Axes | None = None,
) -> Axes:
    """Draw trials per year: a panel for all trials, then one per leading country.

    Parameters
    ----------
    yearly
        :func:`trialmap.aggregate.yearly_counts`.
    date
        The date counted (axis label).
    data_date
        The registry data date (``YYYY-MM-DD``): years from its year on are hatched (partial).
    width
        Printed width (``"single"``, ``"double"`` or mm); each has its own grid.
    ax
        Not used (the figure has several panels); kept for old callers.

    Returns
    -------
    Axes
        The all-trials panel: bars gid ``"bars-all"`` (one per year, hatched from the data
        date's year on). Country panels have gid ``"panel-<ISO3>"``, their bars ``"bars-<ISO3>"``.
    """
    import matplotlib.pyplot as plt

    from trialmap.figures.export import add_source_line, width_mm

    del ax
    w = width_mm(width)
    sz = style.sizes(w)
    small = w < 120
    total = yearly[yearly["iso3"] == ALL]
    years = total["year"].to_numpy()
    partial_from = int(str(data_date)[:4]) if data_date else None
    countries = [iso for iso in yearly["iso3"].drop_duplicates() if iso != ALL]
    fig = plt.figure(figsize=(w * MM, timeline_height_mm(w) * MM), layout="constrained")
    fig.set_facecolor("white")
    ncols = 2 if small else max(len(countries), 1)
    nrows_c = -(-len(countries) // ncols) if countries else 0
    gs = fig.add_gridspec(1 + nrows_c, ncols, height_ratios=[1.3] + [1.0] * nrows_c)
    ax0 = fig.add_subplot(gs[0, :])
    ax0.set_gid("panel-all")
    _bars(ax0, years, total["n_trials"], partial_from, "bars-all")
    _style_axes(ax0, sz["small"])
    ax0.set_ylabel("Trials", fontsize=sz["small"])
    ax0.set_title("All trials", fontsize=sz["body"], loc="left", pad=2)
    if partial_from is not None and len(years) and years.max() >= partial_from:
        t = ax0.set_title(f"hatched: {partial_from}" + (" and later" if years.max() > partial_from else "")
                          + " partial (registry data date " + str(data_date) + ")", loc="right",
                          fontsize=sz["small"], color=style.MUTED, pad=2)
        t.set_gid("partial-years")
    cmax = max([int(yearly.loc[yearly["iso3"] == i, "n_trials"].max()) for i in countries] + [1])
    axes = [ax0]
    for k, iso in enumerate(countries):
        rows = yearly[yearly["iso3"] == iso]
        a = fig.add_subplot(gs[1 + k // ncols, k % ncols])
        a.set_gid(f"panel-{iso}")
        _bars(a, rows["year"].to_numpy(), rows["n_trials"], partial_from, f"bars-{iso}")
        _style_axes(a, sz["small"])
        a.set_ylim(0, cmax * 1.1)
        a.set_title(f"{rows['country'].iloc[0]} ({iso})", fontsize=sz["small"], loc="left", pad=2)
        if k % ncols:
            a.tick_params(labelleft=False)
        else:
            a.set_ylabel("Trials", fontsize=sz["small"])
        axes.append(a)
    if len(years):
        step = 4 if small else (2 if len(years) > 12 else 1)
        if not small and len(countries) >= 4:
            step = 4
        first = int(years.min())
        ticks = list(range(first + (-first) % step, int(years.max()) + 1, step))
        for a in axes:
            a.set_xticks(ticks)
            a.set_xlim(years.min() - 0.6, years.max() + 0.6)
        step0 = 2 if small and len(years) > 12 else (1 if len(years) <= 16 else 2)
        ax0.set_xticks(list(range(first + (-first) % step0, int(years.max()) + 1, step0)))
        ax0.tick_params(axis="x", labelbottom=True)
        if small:
            for lab in ax0.get_xticklabels():
                lab.set_rotation(90)
    # the axis label on the bottom-left panel (a figure-level label would ignore the source band)
    bottom = axes[-ncols] if len(axes) > ncols else axes[-1]
    bottom.set_xlabel(f"{DATE_FIELDS.get(date, date)} (year)", fontsize=sz["small"], loc="left")
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"])
    return ax0
