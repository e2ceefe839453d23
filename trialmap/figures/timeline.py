"""Trials started (or first posted) per year: all trials, and the leading countries.

:func:`yearly_counts` is the pure computation (DataFrame in, DataFrame out);
:func:`timeline` draws it. A multinational trial counts once in the all-trials
bars and once in each of its countries' lines (the counting rule of the
country counts), so the lines do not add up to the bars.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from trialmap.figures.export import DOUBLE_COLUMN_MM, MM, add_source_line, width_mm

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ALL = "ALL"  # the iso3 value of the all-trials rows
DATE_FIELDS = {"start_date": "Study start", "first_posted": "First posted"}
BAR_COLOR = "#c7e9b4"  # YlGnBu light: L* 89, lines stay readable on it in greyscale
# Okabe & Ito (2008) colour-blind-safe qualitative colours, plus a marker and a
# dash pattern per line so they also differ in greyscale.
LINE_STYLES = (
    ("#0072B2", "o", "-"),
    ("#D55E00", "s", "--"),
    ("#009E73", "^", "-."),
    ("#CC79A7", "D", ":"),
    ("#000000", "v", (0, (5, 1, 1, 1))),
    ("#E69F00", "P", (0, (1, 1))),
)
YEARLY_COLUMNS = ["year", "iso3", "country", "n_trials"]


def yearly_counts(
    studies: pd.DataFrame,
    sites: pd.DataFrame,
    nct_ids: Iterable[str],
    *,
    date: str = "start_date",
    top: int = 4,
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Trials per year by ``date``, for all trials and for the ``top`` leading countries.

    Parameters
    ----------
    studies, sites
        Canonical tables (``sites`` with ``iso3`` filled).
    nct_ids
        The trials to count (the study set).
    date
        ``"start_date"`` or ``"first_posted"``. A date with month or year
        precision still has a year. Trials without the date are left out (count
        them with ``studies[date].isna()``).
    top
        How many countries to break out, ranked by distinct trials in the study
        set (ties by iso3).
    names
        iso3 -> display name; default: the registry's spelling.

    Returns
    -------
    DataFrame
        ``year``, ``iso3`` (:data:`ALL` for all trials), ``country``,
        ``n_trials``; every year from the first to the last present, zeros
        included, all-trials rows first, then countries in rank order.
    """
    if date not in DATE_FIELDS:
        msg = f"date must be one of {sorted(DATE_FIELDS)}, not {date!r}"
        raise ValueError(msg)
    ids = set(nct_ids)
    st = studies.loc[studies["nct_id"].isin(ids) & studies[date].notna(), ["nct_id", date]]
    st = st.drop_duplicates("nct_id").assign(year=st[date].dt.year.astype("int64"))
    s = sites.loc[sites["nct_id"].isin(ids) & sites["iso3"].notna(), ["nct_id", "iso3", "country"]]
    ranked = s.groupby("iso3")["nct_id"].nunique().reset_index(name="n")
    leaders = ranked.sort_values(["n", "iso3"], ascending=[False, True])["iso3"].head(top).tolist()
    if names is None:
        names = s.groupby("iso3")["country"].agg(lambda x: x.mode().iloc[0]).to_dict()
    if st.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(YEARLY_COLUMNS, ["int64", "string", "string", "int64"], strict=True)})
    years = pd.RangeIndex(st["year"].min(), st["year"].max() + 1, name="year")
    parts = [pd.DataFrame({"year": years, "iso3": ALL, "country": "All trials",
                           "n_trials": st.groupby("year")["nct_id"].nunique().reindex(years, fill_value=0)})]
    pairs = s[s["iso3"].isin(leaders)].drop_duplicates(["nct_id", "iso3"]).merge(st[["nct_id", "year"]])
    for iso in leaders:
        n = pairs[pairs["iso3"] == iso].groupby("year")["nct_id"].nunique().reindex(years, fill_value=0)
        parts.append(pd.DataFrame({"year": years, "iso3": iso, "country": names.get(iso, iso),
                                   "n_trials": n}))
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"year": "int64", "iso3": "string", "country": "string", "n_trials": "int64"})


def timeline_height_mm(width: float) -> float:
    return round(0.62 * width, 1) if width < 120 else round(0.42 * width, 1)


def timeline(
    yearly: pd.DataFrame,
    *,
    date: str = "start_date",
    data_date: str | None = None,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
    ax: Axes | None = None,
) -> Axes:
    """Draw trials per year: bars for all trials, a line per leading country.

    Parameters
    ----------
    yearly
        From :func:`yearly_counts`.
    date
        The date counted (for the axis label).
    data_date
        The registry data date (``YYYY-MM-DD``). Years from its year on are
        hatched and marked "partial": that year is incomplete, and later start
        dates are anticipated ones.
    width
        Printed width of a new figure (``"single"``, ``"double"`` or mm).
    ax
        Axes to draw into; a new figure when ``None``.

    Returns
    -------
    Axes
        The all-trials bars have gid ``"bars-all"`` (one per year, height =
        trials, hatched from the data date's year on), each country line has gid
        ``"line-<ISO3>"``, its legend label ``"<country> (<ISO3>)"``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        w = width_mm(width)
        _, ax = plt.subplots(figsize=(w * MM, timeline_height_mm(w) * MM), layout="constrained")
    small = ax.figure.get_figwidth() / MM < 120
    fs = 6.0 if small else 7.0
    total = yearly[yearly["iso3"] == ALL]
    years = total["year"].to_numpy()
    partial_from = int(str(data_date)[:4]) if data_date else None
    hatches = ["////" if partial_from is not None and y >= partial_from else "" for y in years]
    bars = ax.bar(years, total["n_trials"], width=0.8, color=BAR_COLOR, edgecolor="#7fb08f", linewidth=0.3,
                  label="All trials", gid="bars-all")
    for bar, hatch in zip(bars, hatches, strict=True):
        bar.set_hatch(hatch)
    countries = [iso for iso in yearly["iso3"].drop_duplicates() if iso != ALL]
    for i, iso in enumerate(countries):
        rows = yearly[yearly["iso3"] == iso]
        color, marker, dash = LINE_STYLES[i % len(LINE_STYLES)]
        ax.plot(rows["year"], rows["n_trials"], color=color, marker=marker, linestyle=dash,
                markersize=2.2 if small else 2.8, linewidth=0.8, label=f"{rows['country'].iloc[0]} ({iso})",
                gid=f"line-{iso}")
    if partial_from is not None and len(years) and years.max() >= partial_from:
        first = int(total.loc[total["year"] >= partial_from, "n_trials"].iloc[0])
        ax.annotate("partial", (max(partial_from, int(years.min())), first), xytext=(0, 1.5),
                    textcoords="offset points", fontsize=fs - 1, va="bottom", ha="center",
                    color="#555555", gid="partial-years")
    ax.set_xlabel(f"{DATE_FIELDS.get(date, date)} (year)", fontsize=fs)
    ax.set_ylabel("Trials", fontsize=fs)
    ax.tick_params(labelsize=fs - 0.5, width=0.5, length=2.5)
    if len(years):
        step = 2 if small or len(years) > 12 else 1
        ax.set_xticks(range(int(years.min()), int(years.max()) + 1, step))
        ax.set_xlim(years.min() - 0.6, years.max() + 0.6)
    ax.yaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(0.5)
    ax.legend(fontsize=fs - 0.5, frameon=False, loc="upper left", handlelength=2.2)
    if source_line:
        add_source_line(ax.figure, source_line)
    ax.figure.set_facecolor("white")
    return ax
