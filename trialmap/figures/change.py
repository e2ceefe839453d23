"""Change map: which countries gained trials first posted in a window (or lost trials between
two snapshots). The numbers come from :func:`trialmap.aggregate.change_between` or
:func:`trialmap.aggregate.compare_runs`; this module only draws.

Every country falls in one of these, each drawn differently (also in greyscale):

- no trials at either date: the land tint;
- had trials, none new: the land tint with a dotted hatch;
- trials first posted in the window: ``OrRd`` classes derived from the gains;
- fewer trials (two snapshots only): grey with a diagonal hatch.

Labels: every country whose gain reaches the labelling threshold (chosen so that the
labels fit; the legend says which), placed without collisions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from trialmap.aggregate import CHANGE_COLUMNS
from trialmap.figures import style
from trialmap.figures.export import DOUBLE_COLUMN_MM
from trialmap.figures.worldmap import (
    EQUAL_EARTH,
    Classes,
    anchors,
    fill_polygons,
    frame_map,
    label_map,
    plot_geo,
    world_extent,
    world_figure,
)

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

__all__ = ["CHANGE_COLUMNS", "LOSS_COLOR", "change_colors", "change_map", "label_threshold"]

LOSS_COLOR = "#9e9e9e"
LOSS_HATCH = "//////"
UNCHANGED_HATCH = "...."


def label_threshold(gains: pd.Series, max_labels: int) -> int:
    """The smallest gain g such that at most ``max_labels`` countries gained g or more (at least 1)."""
    g = gains[gains > 0].sort_values(ascending=False)
    if len(g) <= max_labels:
        return 1
    for t in sorted(set(g), reverse=False):
        if int((g >= t).sum()) <= max_labels:
            return int(t)
    return int(g.max())


def change_colors(change: pd.Series, classes: Classes | None = None) -> list:
    """Fill per country: its gain class, the loss grey for a loss, the land tint otherwise."""
    from matplotlib.colors import to_rgba

    v = pd.to_numeric(change, errors="coerce").fillna(0)
    classes = classes or Classes.from_values(
        v[v > 0], "gain", cmap=style.GAIN_CMAP, value_range=style.GAIN_RANGE
    )
    fills = classes.colors_for(v.clip(lower=0))
    return [to_rgba(LOSS_COLOR) if x < 0 else f for x, f in zip(v, fills, strict=True)]


def change_map(
    changes: pd.DataFrame,
    world: gpd.GeoDataFrame,
    *,
    before_label: str = "",
    after_label: str = "",
    max_labels: int | None = None,
    source_line: str | None = None,
    crs: str = EQUAL_EARTH,
    width: str | float = DOUBLE_COLUMN_MM,
    ax: Axes | None = None,
    label_top: int | None = None,
) -> Axes:
    """Draw the change map: gains in classes, "had trials, none new" hatched, losses hatched grey.

    Parameters
    ----------
    changes
        :func:`trialmap.aggregate.country_change` (``iso3``, ``n_before``, ``n_after``, ``change``).
    world
        Country polygons (:func:`trialmap.boundaries.load_world`).
    before_label, after_label
        The window (dates, or snapshot ids), for the legend.
    max_labels
        At most this many labels (default 14 at 183 mm, 7 at 89 mm): every country whose gain
        reaches the threshold is labelled, none below it.
    width
        Printed width of the figure.

    Returns
    -------
    Axes
        Country fills: collection gid ``"countries"`` (one face per row of ``world``); the
        "had trials, none new" hatch ``"unchanged"``; losses ``"losses"``; labels
        ``"gain-<ISO3>"`` / ``"loss-<ISO3>"``; the source line ``"source-line"``.
    """
    from matplotlib.patches import Patch

    from trialmap.figures.export import add_source_line, width_mm

    del ax, label_top
    w = width_mm(width)
    sz = style.sizes(w)
    max_labels = max_labels or (14 if w >= 120 else 7)
    ch = changes.set_index("iso3")
    geo = world.to_crs(crs)
    change = geo["iso3"].map(ch["change"]).fillna(0).astype(int)
    before = geo["iso3"].map(ch["n_before"]).fillna(0).astype(int)
    gains = ch["change"].clip(lower=0).astype(float)
    classes = Classes.from_values(
        gains[gains > 0],
        f"Trials first posted {before_label} to {after_label}",
        cmap=style.GAIN_CMAP,
        value_range=style.GAIN_RANGE,
    )
    fig, (mx,), lx = world_figure(w, legend_mm=15.0)
    mx.set_gid("world")
    coll = fill_polygons(mx, geo, change_colors(change, classes), edgecolor=style.BORDER,
                         linewidth=style.BORDER_LW)
    coll.set_gid("countries")
    coll.trialmap_data = (change != 0).to_numpy()
    same = geo[(change == 0) & (before > 0)]
    if not same.empty:
        plot_geo(same, mx, facecolor="none", edgecolor="#6f6f6f", hatch=UNCHANGED_HATCH, linewidth=0)
        mx.collections[-1].set_gid("unchanged")
    lost = geo[change < 0]
    if not lost.empty:
        plot_geo(lost, mx, facecolor="none", edgecolor="#444444", hatch=LOSS_HATCH, linewidth=0)
        mx.collections[-1].set_gid("losses")
    tiny = geo[geo["tiny"] & (change != 0)].drop_duplicates("iso3") if "tiny" in geo else geo.iloc[:0]
    if not tiny.empty:
        pts = anchors(geo).loc[tiny["iso3"]]
        mx.scatter(
            pts["x"],
            pts["y"],
            s=sz["marker"],
            c=change_colors(geo.loc[tiny.index, "iso3"].map(ch["change"]), classes),
            edgecolors="#222222",
            linewidths=0.5,
            zorder=5,
            gid="tiny-countries",
        )
    frame_map(mx, world_extent(geo))
    threshold = label_threshold(ch["change"], max_labels)
    gainers = ch[ch["change"] >= threshold].sort_values("change", ascending=False)
    losers = ch[ch["change"] < 0].sort_values("change")
    values = ch["change"].abs().astype(float)

    placer = label_map(mx, geo, values.where(ch["change"] != 0, 0), classes, [], size=sz["label"],
                       also_data=list(same["iso3"].unique()))
    first = geo.drop_duplicates("iso3").set_index("iso3")
    anchor = anchors(geo)
    todo = [iso for iso in [*gainers.index, *losers.index] if iso in first.index]
    area = {k: g.area for k, g in placer.shapes.items()}
    done = set()
    # inside first (no leader), then leader labels, smallest countries first (as Figure 1)
    for leader in (False, True):
        rest = (i for i in todo if i not in done)
        order = todo if not leader else sorted(rest, key=lambda i: area.get(i, 0))
        for iso in order:
            row = first.loc[iso]
            if not leader and bool(row.get("tiny", False)):
                continue
            c = int(ch.at[iso, "change"])
            fill = change_colors(pd.Series([c]), classes)[0]
            kind = "gain" if c > 0 else "loss"
            art = placer.place(iso, f"{iso} {c:+d}".replace("-", "−"), tuple(anchor.loc[iso, ["x", "y"]]),
                               size=sz["label"], inside=not leader, leader=leader,
                               color_inside=style.text_color_on(fill), gid=f"{kind}-{iso}")
            if art is not None:
                done.add(iso)
    mx.trialmap_skipped = placer.skipped
    handles = [Patch(fc=style.LAND, ec=style.BORDER, lw=style.BORDER_LW, label="no trials")]
    handles.append(
        Patch(
            fc=style.LAND,
            ec="#6f6f6f",
            lw=style.BORDER_LW,
            hatch=UNCHANGED_HATCH,
            label="had trials, none new",
        )
    )
    handles += [
        Patch(fc=c, ec=style.BORDER, lw=style.BORDER_LW, label=f"+{lab}")
        for c, lab in zip(classes.colors, classes.labels, strict=True)
    ]
    if (ch["change"] < 0).any():
        handles.append(
            Patch(fc=LOSS_COLOR, ec="#444444", lw=style.BORDER_LW, hatch=LOSS_HATCH, label="fewer trials")
        )
    title = classes.title + (f"; labelled: +{threshold} or more" if threshold > 1 else "; all labelled")
    lx.legend(
        handles=handles,
        title=title,
        fontsize=sz["small"],
        title_fontsize=sz["small"],
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(handles) if w >= 120 else 4,
        handlelength=1.3,
        handleheight=0.9,
        columnspacing=0.8,
        handletextpad=0.4,
        borderaxespad=0.0,
    )
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"], layout=False)
    return mx
