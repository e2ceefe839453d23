"""PRISMA-style flow diagram: records read down to the trials on the map.

Each step of the selection is a box with the records that remain after it. The records
that left *at* a step are counted in a box to the right, drawn between the box before
the step and the step's own box (where they left the flow), with their reasons in plain
words, grouped and counted; so every number of a Methods section can be read off it and
each column adds up. Laid out in millimetres from the text's measured size, at 89 mm
(single column) or 183 mm (double column); arrows run from box edge to box edge, so
every arrowhead is visible.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from trialmap.figures import style
from trialmap.figures.export import DOUBLE_COLUMN_MM, MM

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Step id -> box label. "intervention_confirmed" is the generic name of the step that
# "msc_confirmed" used to be; both are accepted.
STEP_LABELS = {
    "records_read": "Records read from the snapshot",
    "unique_records": "Unique records (one per NCT number)",
    "posted_by_as_of": "First posted on or before the as-of date",
    "intervention_confirmed": "Testing the intervention of interest",
    "msc_confirmed": "Testing the intervention of interest",
    "study_type": "Interventional studies",
    "in_scope": "Condition in scope of the definition",
    "with_site": "At least one site listed",
    "with_mapped_country": "A site in a mapped country: the trials on the map",
}

# Registry / selection reasons -> plain words (first match wins); the text after ":" (the
# intervention or title that decided) is dropped for grouping.
REASON_WORDS: tuple[tuple[str, str], ...] = (
    (r"^duplicate", "Duplicate record (same NCT number)"),
    (r"^no first[- ]posted date", "No first-posted date"),
    (r"^first posted (?:[\d-]+, )?after ([\d-]+)", r"First posted after \1"),
    (r"sample collection only", "Samples collected only, no treatment given"),
    (r"derived product only", "Cell-derived product only (e.g. exosomes), not cells"),
    (r"^no .*intervention", "Intervention of interest not tested"),
    (r"^not an? .*intervention", "Intervention of interest not tested"),
    (r"^study type expanded_access", "Expanded access, not a trial"),
    (r"^study type observational", "Observational study"),
    (r"^study type missing", "Study type not recorded"),
    (r"^study type (.+)", r"Study type \1"),
    (r"^no .*category matched", "Condition outside the definition's categories"),
    # v3 evidence rule: the reason quotes the record's terms; the box names the rule only.
    (r"^MeSH evidence only, while", "MeSH names a category, but the title or conditions name a disease "
                                    "outside scope"),
    (r"^category set aside", "Category set aside by a condition it excludes"),
    (r"^only the keyword list names", "Only the keyword list names a category"),
    (r"^record lists no site", "No site listed"),
    (r"^no site in a country", "No site in a country that could be mapped"),
)


def plain_reason(reason: str) -> str:
    """A reason in plain words (``"study type EXPANDED_ACCESS"`` -> ``"Expanded access, not a "
    "trial"``)."""
    head = str(reason).split(":")[0].strip()
    for pattern, words in REASON_WORDS:
        m = re.search(pattern, head, flags=re.IGNORECASE)
        if m:
            return m.expand(words) if "\\" in words else words
    return head[:1].upper() + head[1:] if head else "No reason recorded"


def exclusion_reasons(log: pd.DataFrame, top: int = 4) -> dict[str, list[tuple[str, int]]]:
    """Reasons for leaving at each step, in plain words, grouped and counted, most common first.

    The rarest groups beyond ``top`` are summed as "other reasons".
    """
    out: dict[str, list[tuple[str, int]]] = {}
    left = log[~log["included"]]
    plain = {r: plain_reason(r) for r in left["reason"].fillna("").unique()}  # once per distinct reason
    for step, grp in left.groupby("step", sort=False):
        kinds = grp["reason"].fillna("").map(plain)
        counts = kinds.value_counts()
        items = [(str(k), int(v)) for k, v in counts.head(top).items()]
        rest = int(counts.iloc[top:].sum())
        if rest:
            items.append(("Other reasons", rest))
        out[str(step)] = items
    return out


def _mm(px: float, dpi: float) -> float:
    return px / dpi * 25.4


def flow_diagram(
    flow: pd.DataFrame,
    log: pd.DataFrame | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    source_line: str | None = None,
    width: str | float = DOUBLE_COLUMN_MM,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the flow of records through the selection steps.

    Parameters
    ----------
    flow
        :func:`trialmap.studyset.flow_counts` (``step``, ``n_remaining``, ``n_excluded``).
    log
        The inclusion log; when given, each exclusion box lists its reasons.
    labels
        Step id -> box label, over :data:`STEP_LABELS` (e.g. labels naming the definition's
        condition groups).
    source_line
        The short source line printed along the bottom.
    width
        ``"single"`` (89 mm), ``"double"`` (183 mm) or millimetres.
    title
        Not drawn (titles go in the caption); kept for old callers.
    ax
        Not used: the diagram sizes its own figure from its text.

    Returns
    -------
    Axes
        Step boxes are texts with gid ``"flow-<step>"``, exclusion boxes
        ``"flow-excluded-<step>"``; arrows ``"arrow-<step>"`` (into a step's box) and
        ``"arrow-excluded-<step>"``. ``ax.trialmap_boxes`` maps each gid to its box
        (x0, y0, x1, y1) in mm from the top left.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from trialmap.figures.export import add_source_line, width_mm

    del title, ax
    w = width_mm(width)
    small = w < 120
    sz = style.sizes(w)
    fs_main, fs_side = (6.5, 6.0) if small else (7.0, 6.5)
    names = {**STEP_LABELS, **(labels or {})}
    reasons = exclusion_reasons(log) if log is not None else {}
    steps = list(flow.itertuples(index=False))
    main_w = 40.0 if small else 72.0
    side_w = 42.0 if small else 88.0
    margin = 1.0
    x_main0 = margin
    x_side0 = (w - margin - side_w) if small else (main_w + 14.0)
    pad = 1.6
    fig = plt.figure(figsize=(w * MM, 200 * MM))
    fig.set_facecolor("white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    r = fig.canvas.get_renderer()
    dpi = fig.dpi

    def chars(width_mm_: float, fs: float) -> int:
        return max(12, int((width_mm_ - 2 * pad) / 25.4 * 72 / (0.56 * fs)))

    def measure(text: str, fs: float) -> tuple[float, float, object]:
        t = ax.text(0, 0, text, fontsize=fs, ha="left", va="top", linespacing=1.2)
        b = t.get_window_extent(r)
        return _mm(b.width, dpi), _mm(b.height, dpi), t

    items = []  # (kind, step, text artist, box w, box h)
    for row in steps:
        label = textwrap.fill(names.get(row.step, row.step), chars(main_w, fs_main))
        text = f"{label}\nn = {row.n_remaining:,}"
        tw, th, art = measure(text, fs_main)
        items.append(("main", row, art, main_w, th + 2 * pad, tw))
        if row.n_excluded:
            lines = [f"Excluded: n = {row.n_excluded:,}"]
            for reason, k in reasons.get(row.step, []):
                lines.append(
                    textwrap.fill(
                        f"{reason}: {k:,}",
                        chars(side_w, fs_side) - 2,
                        initial_indent="• ",
                        subsequent_indent="   ",
                    )
                )
            tw2, th2, art2 = measure("\n".join(lines), fs_side)
            items[-1] = (*items[-1], (art2, th2 + 2 * pad, tw2))
    # vertical layout, top to bottom (y grows downwards, in mm)
    y = margin
    boxes: dict[str, tuple[float, float, float, float]] = {}
    gap_min = 4.0
    placed = []
    for i, it in enumerate(items):
        _, row, art, bw, bh, _tw = it[:6]
        side = it[6] if len(it) > 6 else None
        if i > 0:
            if side is not None:
                sh = side[1]
                gap = max(gap_min, sh + 3.0)
                sy0 = y + (gap - sh) / 2
                sw = min(side_w, side[2] + 2 * pad)
                boxes[f"flow-excluded-{row.step}"] = (x_side0, sy0, x_side0 + sw, sy0 + sh)
                if small:
                    # the side column sits under the main column's right part: make the gap hold it
                    pass
                y += gap
            else:
                y += gap_min
        elif side is not None:  # exclusions at the first step: beside the first box
            boxes[f"flow-excluded-{row.step}"] = (
                x_side0,
                y,
                x_side0 + min(side_w, side[2] + 2 * pad),
                y + side[1],
            )
        boxes[f"flow-{row.step}"] = (x_main0, y, x_main0 + bw, y + bh)
        placed.append((row, art, side))
        y += bh
    src_mm = 6.0 if source_line else 0.0
    total_h = y + margin + src_mm
    fig.set_size_inches(w * MM, total_h * MM)
    ax.set_xlim(0, w)
    ax.set_ylim(total_h, 0)
    box_style = {"boxstyle": "square,pad=0", "fc": "white", "ec": "#333333", "lw": 0.6}
    side_style = {"boxstyle": "square,pad=0", "fc": "#f2f2f2", "ec": "#777777", "lw": 0.5}
    arrow_kw = {
        "arrowstyle": "-|>",
        "mutation_scale": 6,
        "color": "#333333",
        "lw": 0.6,
        "shrinkA": 0,
        "shrinkB": 0,
    }
    prev = None
    x_arrow = x_main0 + main_w / 2
    for row, art, side in placed:
        bx0, by0, bx1, by1 = boxes[f"flow-{row.step}"]
        ax.add_patch(FancyBboxPatch((bx0, by0), bx1 - bx0, by1 - by0, **box_style, zorder=2))
        art.set_position(((bx0 + bx1) / 2, (by0 + by1) / 2))
        art.set_ha("center")
        art.set_va("center")
        art.set_multialignment("center")
        art.set_gid(f"flow-{row.step}")
        art.set_zorder(3)
        if prev is not None:
            top_prev = boxes[f"flow-{prev}"][3]
            ax.add_patch(
                FancyArrowPatch(
                    (x_arrow, top_prev), (x_arrow, by0), **arrow_kw, zorder=1, gid=f"arrow-{row.step}"
                )
            )
        if side is not None:
            art2 = side[0]
            sx0, sy0, sx1, sy1 = boxes[f"flow-excluded-{row.step}"]
            ax.add_patch(FancyBboxPatch((sx0, sy0), sx1 - sx0, sy1 - sy0, **side_style, zorder=2))
            art2.set_position((sx0 + pad, (sy0 + sy1) / 2))
            art2.set_va("center")
            art2.set_gid(f"flow-excluded-{row.step}")
            art2.set_zorder(3)
            ym = (sy0 + sy1) / 2
            start_x = x_arrow if prev is not None else bx1
            ax.add_patch(
                FancyArrowPatch(
                    (start_x, ym), (sx0, ym), **arrow_kw, zorder=1, gid=f"arrow-excluded-{row.step}"
                )
            )
        prev = row.step
    ax.trialmap_boxes = boxes
    if source_line:
        add_source_line(fig, source_line, fontsize=sz["source"], layout=False)
    return ax
