"""Change between two dates or two snapshots: which countries gained (or lost) how many trials.

Pure functions compute the change; :func:`change_map` draws it.

- Two dates in one snapshot: :func:`posted_by` picks the trials first posted
  by a date; count them as the run counts (``aggregate.country_counts``) and
  compare with :func:`country_change`. This reconstructs the registry's set of
  trials at the earlier date, but with each trial's sites as the snapshot
  records them (sites added later count from the start).
- Two snapshots: :func:`compare_runs` compares two processed runs (anything
  with ``country_counts``, ``included`` and ``tables``, e.g.
  :class:`trialmap.refresh.Result`); trials can then also disappear (withdrawn
  records, changed conditions, a changed definition).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trialmap.figures.export import DOUBLE_COLUMN_MM, MM, add_source_line, width_mm
from trialmap.figures.worldmap import (
    EDGE_COLOR,
    EQUAL_EARTH,
    NO_TRIALS_COLOR,
    _projected_points,
    bin_colors,
    count_colors,
    figure1_height_mm,
    frame_world,
    map_legend,
    plot_geo,
)

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

CHANGE_COLUMNS = ["iso3", "country", "n_before", "n_after", "change"]
TRIAL_CHANGE_COLUMNS = ["nct_id", "change", "title", "first_posted", "countries"]
# Gains: +1, +2..4, +5..9, +10..19, >= +20 in ColorBrewer OrRd (colour-blind safe,
# monotone lightness), a different hue from Figure 1 so the two maps are not confused.
GAIN_EDGES = (1, 2, 5, 10, 20)
GAIN_CMAP = "OrRd"
LOSS_COLOR = "#bdbdbd"
LOSS_HATCH = "//////"


def gain_labels(edges: tuple[int, ...] = GAIN_EDGES) -> list[str]:
    out = []
    for lo, hi in zip(edges, [*edges[1:], None], strict=True):
        out.append(f"+{lo}" if hi == lo + 1 else f"≥+{lo}" if hi is None else f"+{lo}–{hi - 1}")
    return out


def posted_by(
    studies: pd.DataFrame, nct_ids: Iterable[str], date: Any, field: str = "first_posted"
) -> pd.Index:
    """The trials among ``nct_ids`` whose ``field`` is on or before ``date`` (sorted ``nct_id``)."""
    when = pd.Timestamp(date)
    s = studies[studies["nct_id"].isin(set(nct_ids))]
    keep = s.loc[s[field].notna() & (s[field] <= when), "nct_id"]
    return pd.Index(sorted(set(keep)), name="nct_id", dtype="string")


def country_change(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Trials per country before and after, and the difference.

    Parameters
    ----------
    before, after
        Country counts (``iso3``, ``country``, ``n_trials``), e.g. from
        :func:`trialmap.aggregate.country_counts`.

    Returns
    -------
    DataFrame
        ``iso3, country, n_before, n_after, change`` for every country in
        either table, sorted by ``change`` (largest gain first), then
        ``n_after`` (descending), then ``iso3``.
    """
    b = before.set_index("iso3")[["country", "n_trials"]]
    a = after.set_index("iso3")[["country", "n_trials"]]
    idx = a.index.union(b.index)
    out = pd.DataFrame({
        "iso3": idx,
        "country": a["country"].reindex(idx).fillna(b["country"].reindex(idx)).to_numpy(),
        "n_before": b["n_trials"].reindex(idx, fill_value=0).to_numpy(),
        "n_after": a["n_trials"].reindex(idx, fill_value=0).to_numpy(),
    })
    out["change"] = out["n_after"] - out["n_before"]
    out = out.astype({"iso3": "string", "country": "string", "n_before": "int64", "n_after": "int64",
                      "change": "int64"})
    out = out.sort_values(["change", "n_after", "iso3"], ascending=[False, False, True])
    return out[CHANGE_COLUMNS].reset_index(drop=True)


def trial_changes(
    before_ids: Iterable[str], after_ids: Iterable[str], studies: pd.DataFrame, sites: pd.DataFrame
) -> pd.DataFrame:
    """The trials added and removed between two study sets.

    Parameters
    ----------
    before_ids, after_ids
        The two study sets.
    studies, sites
        Tables describing the trials (for two snapshots, the later snapshot's
        rows first, then the earlier one's: the first row of a trial wins).

    Returns
    -------
    DataFrame
        ``nct_id, change ("added" | "removed"), title, first_posted,
        countries`` (iso3 codes joined by ``|``), added first, each part by
        ``nct_id``.
    """
    before, after = set(before_ids), set(after_ids)
    added, removed = sorted(after - before), sorted(before - after)
    rows = pd.DataFrame({
        "nct_id": added + removed, "change": ["added"] * len(added) + ["removed"] * len(removed),
    })
    st = studies.drop_duplicates("nct_id").set_index("nct_id")
    where = (
        sites[sites["iso3"].notna()].drop_duplicates(["nct_id", "iso3"])
        .groupby("nct_id")["iso3"].agg(lambda x: "|".join(sorted(x)))
    )
    rows["title"] = rows["nct_id"].map(st["title"])
    rows["first_posted"] = rows["nct_id"].map(st["first_posted"])
    rows["countries"] = rows["nct_id"].map(where)
    return rows.astype({"nct_id": "string", "change": "string", "title": "string", "countries": "string"})[
        TRIAL_CHANGE_COLUMNS
    ]


def compare_runs(before: Any, after: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Country change and trial changes between two processed runs (two snapshots).

    ``before`` and ``after`` need ``country_counts``, ``included`` and
    ``tables`` (as :class:`trialmap.refresh.Result` has).
    """
    countries = country_change(before.country_counts, after.country_counts)
    studies = pd.concat([after.tables.studies, before.tables.studies], ignore_index=True)
    sites = pd.concat([after.tables.sites, before.tables.sites], ignore_index=True)
    return countries, trial_changes(before.included, after.included, studies, sites)


def change_colors(change: pd.Series) -> list[tuple[float, ...]]:
    """Fill per country: OrRd class for a gain, the loss grey for a loss, light grey for none."""
    from matplotlib.colors import to_rgba

    v = pd.to_numeric(change, errors="coerce").fillna(0).to_numpy()
    gains = count_colors(pd.Series(np.clip(v, 0, None)), GAIN_EDGES, GAIN_CMAP)
    loss = to_rgba(LOSS_COLOR)
    return [loss if x < 0 else g for x, g in zip(v, gains, strict=True)]


def change_map(
    changes: pd.DataFrame,
    world: gpd.GeoDataFrame,
    *,
    before_label: str = "",
    after_label: str = "",
    label_top: int | None = None,
    source_line: str | None = None,
    crs: str = EQUAL_EARTH,
    width: str | float = DOUBLE_COLUMN_MM,
    ax: Axes | None = None,
) -> Axes:
    """Draw the change map: countries shaded by trials gained, losses hatched, leaders labelled.

    Parameters
    ----------
    changes
        From :func:`country_change`.
    world
        Country polygons (:func:`trialmap.boundaries.load_world`).
    before_label, after_label
        What was compared (dates or snapshot ids), for the legend title.
    label_top
        How many of the largest gains (and losses) to label "ISO3 +n"
        (default 8 on a wide figure, 4 on a single-column one, where European
        labels would collide).
    width, ax
        Printed width of a new figure, or the Axes to draw into.

    Returns
    -------
    Axes
        Country fills are the collection with gid ``"countries"`` (one face
        per row of ``world``); labels ``"gain-<ISO3>"`` / ``"loss-<ISO3>"``;
        the source line ``"source-line"``.
    """
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if ax is None:
        w = width_mm(width)
        _, ax = plt.subplots(figsize=(w * MM, figure1_height_mm(w) * MM), layout="constrained")
    small = ax.figure.get_figwidth() / MM < 120
    fs = 5.0 if small else 5.5
    if label_top is None:
        label_top = 4 if small else 8
    by_iso = changes.set_index("iso3")["change"]
    geo = world.to_crs(crs)
    geo = geo.assign(change=geo["iso3"].map(by_iso).fillna(0).astype(int))
    plot_geo(geo, ax, color=change_colors(geo["change"]), edgecolor=EDGE_COLOR, linewidth=0.15)
    ax.collections[-1].set_gid("countries")
    # Tiny countries are invisible at world scale: markers, as on Figure 1.
    tiny = geo[geo["tiny"] & (geo["change"] != 0)].drop_duplicates("iso3")
    if not tiny.empty:
        xy = _projected_points(tiny["rep_lon"], tiny["rep_lat"], crs)
        ax.scatter(xy[:, 0], xy[:, 1], s=8.0 if small else 14.0, c=change_colors(tiny["change"]),
                   edgecolors="#333333", linewidths=0.5, zorder=4, gid="tiny-countries")
    lost = geo[geo["change"] < 0]
    if not lost.empty:
        plot_geo(lost, ax, facecolor="none", edgecolor="#555555", hatch=LOSS_HATCH, linewidth=0)
        ax.collections[-1].set_gid("losses")

    halo = [pe.withStroke(linewidth=1.2 if small else 1.6, foreground="white")]
    reps = geo.drop_duplicates("iso3").set_index("iso3")
    shown = pd.concat([changes[changes["change"] > 0].head(label_top),
                       changes[changes["change"] < 0].sort_values("change").head(label_top)])
    for row in shown.itertuples():
        if row.iso3 not in reps.index:
            continue
        x, y = _projected_points([reps.loc[row.iso3, "rep_lon"]], [reps.loc[row.iso3, "rep_lat"]], crs)[0]
        kind = "gain" if row.change > 0 else "loss"
        dy = 4.0 if reps.loc[row.iso3, "tiny"] else 0.0  # keep a tiny country's marker visible
        ax.annotate(f"{row.iso3} {row.change:+d}".replace("-", "−"), (x, y), xytext=(0, dy),
                    textcoords="offset points", fontsize=fs, ha="center", va="bottom" if dy else "center",
                    path_effects=halo, zorder=5, gid=f"{kind}-{row.iso3}")

    handles = [Patch(fc=NO_TRIALS_COLOR, ec="#999999", lw=0.3, label="no change")]
    handles += [Patch(fc=c, ec="#999999", lw=0.3, label=lab)
                for c, lab in zip(bin_colors(len(GAIN_EDGES), GAIN_CMAP), gain_labels(), strict=True)]
    if (changes["change"] < 0).any():
        handles.append(Patch(fc=LOSS_COLOR, ec="#555555", lw=0.3, hatch=LOSS_HATCH, label="fewer trials"))
    span = f"{before_label} → {after_label}" if before_label or after_label else ""
    narrow = ax.figure.get_figwidth() / MM < 120
    title = f"Trials gained, {span}" if narrow else f"Trials gained\n{span}"
    map_legend(ax, handles, title.strip(", \n"), fontsize=fs, title_fontsize=fs + 0.5)
    frame_world(ax, geo)
    if source_line:
        add_source_line(ax.figure, source_line)
    ax.figure.set_facecolor("white")
    return ax
