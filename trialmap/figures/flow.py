"""PRISMA-style flow diagram: records read down to the trials on the map.

Each step of :data:`trialmap.studyset.STEPS` is a box with the records that
remain; the records that left at that step go in a box to its right with
their reasons, grouped and counted, so a Methods section can cite every
number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from trialmap.figures.export import MM

if TYPE_CHECKING:
    from matplotlib.axes import Axes

STEP_LABELS = {
    "records_read": "Records read from the snapshot",
    "unique_records": "Unique records",
    "posted_by_as_of": "First posted on or before the as-of date",
    # Generic labels; the definition's own (flow_diagram(labels=...)) replace them.
    "intervention_confirmed": "Intervention confirmed",
    "study_type": "Study type of the definition",
    "in_scope": "In scope",
    "with_site": "With at least one site listed",
    "with_mapped_country": "With a site in a mapped country\n(trials on the map)",
}
WIDTH_MM = 150.0


def exclusion_reasons(log: pd.DataFrame, top: int = 4) -> dict[str, list[tuple[str, int]]]:
    """Reasons for leaving at each step, grouped and counted, most common first.

    A reason's detail after ":" (the intervention or title that decided) is
    dropped for grouping; the rarest groups beyond ``top`` are summed as
    "other reasons".
    """
    out: dict[str, list[tuple[str, int]]] = {}
    left = log[~log["included"]]
    for step, grp in left.groupby("step", sort=False):
        kinds = grp["reason"].fillna("").str.split(":").str[0].str.strip()
        # "first posted 2019-03-05, after 2018-06-30" -> one group per cut-off.
        kinds = kinds.str.replace(r"^first posted [\d-]+, ", "first posted ", regex=True)
        counts = kinds.value_counts()
        items = [(str(k), int(v)) for k, v in counts.head(top).items()]
        rest = int(counts.iloc[top:].sum())
        if rest:
            items.append(("other reasons", rest))
        out[str(step)] = items
    return out


def flow_diagram(
    flow: pd.DataFrame,
    log: pd.DataFrame | None = None,
    *,
    source_line: str | None = None,
    title: str | None = None,
    labels: dict[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the flow of records through the study-set steps.

    Parameters
    ----------
    flow
        :func:`trialmap.studyset.flow_counts` (``step``, ``n_remaining``,
        ``n_excluded``).
    log
        The inclusion log; when given, each exclusion box lists its reasons.
    source_line, title
        Printed under / over the diagram.
    labels
        Step id -> label (:func:`trialmap.studyset.step_labels` of the run's
        definition); :data:`STEP_LABELS` fills the gaps.
    ax
        Axes to draw into; a new figure 150 mm wide when ``None``.

    Returns
    -------
    Axes
        Step boxes are texts with gid ``"flow-<step>"``, exclusion boxes
        ``"flow-excluded-<step>"``.
    """
    import matplotlib.pyplot as plt

    labels = {**STEP_LABELS, **(labels or {})}
    steps = list(flow.itertuples(index=False))
    n = len(steps)
    if ax is None:
        _, ax = plt.subplots(figsize=(WIDTH_MM * MM, (22 + 17 * n) * MM), layout="constrained")
    reasons = exclusion_reasons(log) if log is not None else {}
    box = {"boxstyle": "round,pad=0.45", "fc": "white", "ec": "#333333", "lw": 0.7}
    side = {"boxstyle": "round,pad=0.4", "fc": "#f3f3f3", "ec": "#777777", "lw": 0.5}
    arrow = {"arrowstyle": "-|>", "color": "#333333", "lw": 0.7, "shrinkA": 9, "shrinkB": 9}
    x_main, x_side = 0.27, 0.56
    ys = [1 - (i + 0.5) / n for i in range(n)]
    for i, (row, y) in enumerate(zip(steps, ys, strict=True)):
        label = labels.get(row.step, row.step)
        ax.text(
            x_main, y, f"{label}\nn = {row.n_remaining:,}", ha="center", va="center", fontsize=6.5,
            bbox=box, gid=f"flow-{row.step}", transform=ax.transAxes, wrap=True,
        )
        if i + 1 < n:
            ax.annotate(
                "", xy=(x_main, ys[i + 1]), xytext=(x_main, y), xycoords="axes fraction",
                arrowprops=arrow,
            )
        if row.n_excluded:
            lines = [f"Excluded: n = {row.n_excluded:,}"]
            lines += [f"  {text[:70]}: {k:,}" for text, k in reasons.get(row.step, [])]
            y_side = (y + ys[i + 1]) / 2 if i + 1 < n else y
            ax.text(
                x_side, y_side, "\n".join(lines), ha="left", va="center", fontsize=5.5,
                bbox=side, gid=f"flow-excluded-{row.step}", transform=ax.transAxes,
            )
            ax.annotate(
                "", xy=(x_side - 0.01, y_side), xytext=(x_main, y_side), xycoords="axes fraction",
                arrowprops={**arrow, "shrinkA": 0, "shrinkB": 2},
            )
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    if title:
        ax.set_title(title, fontsize=7.5, loc="left")
    if source_line:
        ax.text(
            0.0, -0.01, source_line, transform=ax.transAxes, fontsize=5, va="top", ha="left",
            color="#333333", wrap=True, gid="source-line",
        )
    ax.figure.set_facecolor("white")
    return ax
