"""Collision-aware labels and the layout checks the tests (and the referee check) run.

Figures of the suite are laid out in millimetres (:func:`add_axes_mm`), not by
constrained layout, so every artist's place in display space is known while
drawing: :class:`LabelPlacer` puts a map label inside its country when the
country can hold it, and otherwise beside it with a leader line, at the first
spot that overlaps no other text, no legend and no country too small to hold
a label; :func:`layout_problems` lists what a figure editor would reject
(overlapping text, text off the page, a legend over land that carries data,
a label covering a small country).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trialmap.figures.export import MM

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.transforms import Bbox

# Two texts may touch by this much (pixels at the figure's dpi) before they "overlap".
TOLERANCE_PX = 0.5


def add_axes_mm(fig: Figure, left: float, bottom: float, width: float, height: float, **kw) -> Axes:
    """An Axes at a fixed place, in millimetres from the figure's lower left corner."""
    w, h = fig.get_size_inches() / MM
    return fig.add_axes((left / w, bottom / h, width / w, height / h), **kw)


def renderer(fig: Figure):
    return fig.canvas.get_renderer()


def text_bbox(artist, fig: Figure | None = None) -> Bbox:
    """The box of a text's characters (an annotation's arrow left out)."""
    from matplotlib.text import Annotation, Text

    fig = fig or artist.figure
    if isinstance(artist, Annotation):
        artist.update_positions(renderer(fig))
    return Text.get_window_extent(artist, renderer(fig))


def _clipped(shape, box):
    """``shape`` within the rectangle ``box``: GEOS's rectangle clipping, several times
    faster than a general intersection (the label placer's most frequent operation)."""
    import shapely

    return shapely.clip_by_rect(shape, *box.bounds)


def _shapely_box(b: Bbox, pad: float = 0.0):
    import shapely

    return shapely.box(b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad)


def draw_plan(ax: Axes, plan: dict[str, Any]) -> None:
    """Draw on ``ax`` the labels a :class:`LabelPlacer` with ``draw=False`` planned for it
    (:meth:`LabelPlacer.plan`)."""
    for kw in plan["annotations"]:
        ax.annotate(**kw)
    ax.trialmap_shapes = plan["shapes"]
    ax.trialmap_skipped = plan["skipped"]


def display_geometries(ax: Axes, geoms: Sequence) -> list:
    """Projected geometries (data coordinates of ``ax``) in display space (pixels)."""
    import shapely

    m = ax.transData.get_matrix()  # affine for a map axes: scale and shift
    return list(shapely.transform(np.asarray(geoms, dtype=object), lambda xy: xy @ m[:2, :2].T + m[:2, 2]))


@dataclass
class LabelPlacer:
    """Greedy label placement on one map axes, in display space.

    Parameters
    ----------
    ax
        The map axes (limits and position final).
    geoms
        Country geometries in ``ax``'s data coordinates, one per ``keys`` entry.
    keys
        iso3 per geometry (a country may have several rows).
    data_keys
        Countries that carry data (their fills must not be hidden by text).
    draw
        ``False``: each label's ``annotate`` arguments are only recorded in
        :attr:`annotations` (a forked copy plans, the parent draws: :meth:`plan`,
        :func:`draw_plan`).
    """

    ax: Any
    geoms: Sequence
    keys: Sequence[str]
    data_keys: Iterable[str] = ()
    draw: bool = True
    occupied: list = field(default_factory=list)
    annotations: list = field(default_factory=list)
    placed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    leaders: list = field(default_factory=list)

    def __post_init__(self) -> None:
        import shapely

        self.fig = self.ax.figure
        self.px_per_pt = self.fig.dpi / 72
        data = set(self.data_keys)
        # Only countries with data matter (labels are for them; the rest may be covered).
        keep = [i for i, k in enumerate(self.keys) if k in data]
        disp = display_geometries(self.ax, [self.geoms[i] for i in keep])
        parts: dict[str, list] = {}
        for i, g in zip(keep, disp, strict=True):
            parts.setdefault(self.keys[i], []).append(g)
        # A third of a pixel is far below what a label's placement can tell apart.
        self.shapes: dict[str, Any] = {
            k: shapely.make_valid(
                shapely.simplify(
                    gs[0] if len(gs) == 1 else shapely.union_all(gs), 0.35, preserve_topology=False
                )
            )
            for k, gs in parts.items()
        }
        for g in self.shapes.values():
            shapely.prepare(g)
        self.data_items = [(k, g) for k, g in self.shapes.items() if k in data and not g.is_empty]
        self.tree = shapely.STRtree([g for _, g in self.data_items]) if self.data_items else None
        geoms = np.asarray([g for _, g in self.data_items], dtype=object)
        self._areas = shapely.area(geoms).tolist()
        self._bounds = shapely.bounds(geoms).tolist()
        self._occupied_bounds = np.empty((0, 4))
        # Inside the map, and 1 pt clear of the page's edge: a label touching it reads as cut
        # off (SWE 11 on the per-capita map's top edge). A map edge inside the page is not drawn.
        m, f, page = self.px_per_pt, self.ax.get_window_extent(renderer(self.fig)), self.fig.bbox
        self._limits = (max(f.x0, page.x0 + m), max(f.y0, page.y0 + m),
                        min(f.x1, page.x1 - m), min(f.y1, page.y1 - m))

    def occupy(self, bbox: Bbox, pad_pt: float = 0.0) -> None:
        """Mark a box (display space) as taken: a legend, a call-out, a panel heading."""
        self.occupied.append(_shapely_box(bbox, pad_pt * self.px_per_pt))

    def occupy_markers(self, collection, pad_pt: float = 0.8) -> None:
        """Mark each marker of a scatter (a tiny-country dot) as taken, so no label covers it."""
        import shapely

        sizes = collection.get_sizes()
        offsets = collection.get_offsets()
        if not len(offsets):
            return
        xy = self.ax.transData.transform(offsets)
        for i, (x, y) in enumerate(xy):
            r = (np.sqrt(sizes[i % len(sizes)]) / 2 + pad_pt) * self.px_per_pt
            self.occupied.append(shapely.Point(x, y).buffer(r, quad_segs=4))

    def occupy_shape(self, shape) -> None:
        """Mark a shapely geometry (display space) as taken (e.g. the inset's frame on the world map)."""
        self.occupied.append(shape)

    def occupy_artist(self, artist, pad_pt: float = 0.5) -> None:
        self.occupy(artist.get_window_extent(renderer(self.fig)), pad_pt)

    def _measure(self, text: str, size: float, **kw) -> tuple[float, float]:
        key = (text, size, tuple(sorted(kw.items())))
        cache = self.__dict__.setdefault("_sizes", {})
        if key not in cache:
            t = self.ax.text(0, 0, text, fontsize=size, **kw)
            b = t.get_window_extent(renderer(self.fig))
            t.remove()
            cache[key] = (b.width, b.height)
        return cache[key]

    def _small_countries(self, box, own: str | None):
        """Data countries the box touches that cannot hold it (so it would hide them)."""
        if self.tree is None:
            return []
        out = []
        box_area = box.area
        bx0, by0, bx1, by1 = box.bounds
        for i in self.tree.query(box, predicate="intersects").tolist():
            k, g = self.data_items[i]
            if k == own:
                continue
            # a country smaller than the label touched at all, or any country hidden by more
            # than 15 % of its area (only possible when the box is large enough)
            area = self._areas[i]
            if area < box_area:
                out.append(k)
            elif box_area > 0.15 * area:
                # the box can hide no more of the country than of its bounding box (a
                # margin for rounding): most boxes are decided without intersecting shapes
                gx0, gy0, gx1, gy1 = self._bounds[i]
                most = max(0.0, min(gx1, bx1) - max(gx0, bx0)) * max(0.0, min(gy1, by1) - max(gy0, by0))
                if most >= 0.15 * area * (1 - 1e-9) and _clipped(g, box).area > 0.15 * area:
                    out.append(k)
        return out

    def _over_data(self, geom, own: str | None, measure: str) -> float:
        """Total ``measure`` ("area" or "length") of ``geom`` over data countries other than ``own``."""
        if self.tree is None:
            return 0.0
        total = 0.0
        for i in self.tree.query(geom, predicate="intersects").tolist():
            k, g = self.data_items[i]
            if k != own:
                total += _clipped(g, geom).area if measure == "area" else g.intersection(geom).length
        return total

    def _free(self, box) -> bool:
        lx0, ly0, lx1, ly1 = self._limits
        x0, y0, x1, y1 = box.bounds
        if x0 < lx0 or y0 < ly0 or x1 > lx1 or y1 > ly1:
            return False
        if not self.occupied:
            return True
        import shapely

        b = self._occupied_bounds
        if len(b) < len(self.occupied):  # the boxes taken since the last look, one C call
            b = self._occupied_bounds = np.vstack(
                [b, shapely.bounds(np.asarray(self.occupied[len(b):], dtype=object))])
        near = (b[:, 0] <= x1) & (x0 <= b[:, 2]) & (b[:, 1] <= y1) & (y0 <= b[:, 3])
        return not any(box.intersects(self.occupied[i]) for i in np.flatnonzero(near))

    def _leader_start(self, center, size, anchor, boxed: bool) -> dict[str, Any]:
        """Where the leader leaves the text: matplotlib's own clipping (the text's box plus
        2 pt, then 0.5 pt more), worked out once here rather than by its Bezier search at
        every draw (a third of Figure 1's drawing time)."""
        (cx, cy), (w, h) = center, size
        dx, dy = anchor[0] - cx, anchor[1] - cy
        half = (w / 2 + 2 * self.px_per_pt, h / 2 + 2 * self.px_per_pt)
        if boxed or (abs(dx) <= half[0] and abs(dy) <= half[1]) or not w or not h:
            return {"shrinkA": 0.5, "relpos": (0.5, 0.5)}  # matplotlib clips, as before
        t = min(half[0] / abs(dx) if dx else math.inf, half[1] / abs(dy) if dy else math.inf)
        t += 0.5 * self.px_per_pt / math.hypot(dx, dy)
        return {"shrinkA": 0, "patchA": None, "relpos": (0.5 + t * dx / w, 0.5 + t * dy / h)}

    def _annotate(self, **kw):
        self.annotations.append(kw)
        return self.ax.annotate(**kw) if self.draw else kw

    def plan(self) -> dict[str, Any]:
        """What :func:`draw_plan` needs to draw these labels on the same axes in another process."""
        return {"annotations": self.annotations, "skipped": self.skipped, "shapes": dict(self.data_items)}

    def place(
        self,
        key: str,
        text: str,
        anchor: tuple[float, float],
        *,
        size: float,
        inside: bool = True,
        color_inside: str = "black",
        gid: str | None = None,
        radii_pt: Sequence[float] = (8, 12, 17, 23, 30, 38, 48, 60, 75),
        leader: bool = True,
        **text_kw,
    ):
        """Put ``text`` for country ``key`` whose anchor (data coordinates) is ``anchor``.

        Inside the country (no leader) when its shape holds the text; else (when
        ``leader``) at the nearest free spot around it with a thin leader line. Returns
        the artist (with ``draw=False`` its arguments), or ``None`` (recorded in
        :attr:`skipped` when ``leader``) when no spot is free.
        """
        import shapely

        w, h = self._measure(text, size, **text_kw)
        pad = 0.8 * self.px_per_pt
        ax_px = self.ax.transData.transform(anchor)
        shape = self.shapes.get(key)
        fits = shape is not None and not shape.is_empty and shape.area > w * h
        if fits:
            sx0, sy0, sx1, sy1 = shape.bounds
            fits = sx1 - sx0 > w and sy1 - sy0 > h
        if inside and fits:
            tol = 0.3 * self.px_per_pt
            # the anchor first, then nearby spots that still lie inside the country
            shifts = sorted(
                ((fx * 0.15 * w, fy * 0.35 * h) for fx in range(-4, 5) for fy in range(-3, 4)),
                key=lambda d: d[0] ** 2 + (2 * d[1]) ** 2,
            )
            # last, the pole of inaccessibility of the largest part (the roomiest spot inside)
            part = max(getattr(shape, "geoms", [shape]), key=lambda g: g.area)
            from shapely.ops import polylabel

            pole = polylabel(part, tolerance=1.0)
            shifts.append((pole.x - ax_px[0], pole.y - ax_px[1]))
            for dx, dy in shifts:
                cx, cy = ax_px[0] + dx, ax_px[1] + dy
                box = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                inner = shapely.box(cx - w / 2 + tol, cy - h / 2 + tol, cx + w / 2 - tol, cy + h / 2 - tol)
                if (
                    shape.contains(inner)
                    and self._free(box)
                    and not self._small_countries(box, key)
                    and not any(box.intersects(ln) for ln in self.leaders)
                ):
                    xy = self.ax.transData.inverted().transform((cx, cy))
                    art = self._annotate(
                        text=text,
                        xy=anchor,
                        xytext=xy,
                        fontsize=size,
                        ha="center",
                        va="center",
                        color=color_inside,
                        zorder=7,
                        gid=gid,
                        annotation_clip=False,
                        **text_kw,
                    )
                    self.occupied.append(box)
                    self.placed.append((key, art, False))
                    return art
        if not leader:
            return None  # inside only (a first pass: labels that fit claim their countries first)
        anchor_pt = shapely.Point(ax_px)
        blocking = [o for o in self.occupied if not o.contains(anchor_pt)]
        best = None
        for r in radii_pt:
            rpx = r * self.px_per_pt
            for k in range(24):
                a = 2 * math.pi * k / 24
                cx = ax_px[0] + rpx * math.cos(a)
                cy = ax_px[1] + rpx * math.sin(a)
                # the box's side facing the anchor sits on the circle
                bx = cx + (w / 2 if math.cos(a) > 0.3 else -w / 2 if math.cos(a) < -0.3 else 0)
                by = cy + (h / 2 if math.sin(a) > 0.3 else -h / 2 if math.sin(a) < -0.3 else 0)
                box = shapely.box(bx - w / 2 - pad, by - h / 2 - pad, bx + w / 2 + pad, by + h / 2 + pad)
                if not self._free(box) or self._small_countries(box, None if r > 0 else key):
                    continue
                if shape is not None and box.intersects(shape):
                    continue  # a label that does not fit inside must not cover its own country
                if any(box.intersects(ln) for ln in self.leaders):
                    continue  # no text over another label's leader line
                leader = shapely.LineString([tuple(ax_px), (bx, by)]).difference(box)
                if any(leader.intersects(o) for o in blocking):
                    continue  # no leader line through another label
                crossings = sum(leader.intersects(ln) for ln in self.leaders)
                over = self._over_data(leader, key, "length") / self.px_per_pt  # pt of line over data land
                covered = self._over_data(box, key, "area") / max(box.area, 1)
                score = covered * 70 + r + 60 * crossings + 1.0 * over
                if best is None or score < best[0]:
                    best = (score, bx, by, box, leader)
            if best is not None and best[0] < r + 10:
                break
        if best is None:
            self.skipped.append(key)
            return None
        _, bx, by, box, leader = best
        xy_text = self.ax.transData.inverted().transform((bx, by))
        art = self._annotate(
            text=text,
            xy=anchor,
            xytext=xy_text,
            fontsize=size,
            ha="center",
            va="center",
            zorder=7,
            gid=gid,
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": "#444444", "lw": 0.4, "shrinkB": 0.5,
                        **self._leader_start((bx, by), (w, h), ax_px, "bbox" in text_kw)},
            **text_kw,
        )
        self.occupied.append(box)
        self.leaders.append(leader)
        self.placed.append((key, art, True))
        return art


# ---------------------------------------------------------------------------
# Checks on drawn artists (display space), shared by the tests and the suite.


def visible_texts(fig: Figure) -> list:
    """Every visible, non-empty Text of ``fig`` that is drawn (not the labels of hidden axes)."""
    from matplotlib.text import Text

    hidden = set()
    for ax in fig.axes:
        if not ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                hidden.update(
                    id(t)
                    for t in (
                        axis.label,
                        axis.offsetText,
                        *axis.get_ticklabels(),
                        *axis.get_ticklabels(minor=True),
                    )
                )
        else:
            for axis in (ax.xaxis, ax.yaxis):
                # tick labels outside the view limits are not drawn
                lo, hi = sorted(axis.get_view_interval())
                for tick in axis.get_major_ticks():
                    if not (lo - 1e-9 <= tick.get_loc() <= hi + 1e-9):
                        hidden.add(id(tick.label1))
                        hidden.add(id(tick.label2))
                for tick in axis.get_major_ticks():
                    if not tick.label2.get_visible():
                        hidden.add(id(tick.label2))
    out = []
    for t in fig.findobj(Text):
        if id(t) in hidden or not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        parent_visible = True
        for ax in fig.axes:
            if t in ax.texts and not ax.get_visible():
                parent_visible = False
        if parent_visible:
            out.append(t)
    return out


def text_overlaps(fig: Figure, tolerance: float = TOLERANCE_PX) -> list[tuple[str, str]]:
    """Pairs of visible texts whose boxes overlap (display space)."""
    r = renderer(fig)
    del r
    items = [(t, text_bbox(t, fig)) for t in visible_texts(fig)]
    pairs = []
    for i, (a, ba) in enumerate(items):
        for b, bb in items[i + 1 :]:
            dx = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            dy = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
            if dx > tolerance and dy > tolerance:
                pairs.append((a.get_text(), b.get_text()))
    return pairs


def texts_off_page(fig: Figure, tolerance: float = TOLERANCE_PX) -> list[str]:
    r = renderer(fig)
    fb = fig.bbox
    out = []
    del r
    for t in visible_texts(fig):
        b = text_bbox(t, fig)
        if (
            b.x0 < fb.x0 - tolerance
            or b.y0 < fb.y0 - tolerance
            or b.x1 > fb.x1 + tolerance
            or b.y1 > fb.y1 + tolerance
        ):
            out.append(t.get_text())
    return out


def map_data_shapes(ax: Axes) -> list:
    """Display-space shapes of the countries drawn with data on a map axes.

    A map marks its data fills with the collection gid ``"countries"`` and the
    attribute ``trialmap_data`` (a boolean per path) set by the drawing code.
    """
    import shapely

    out = []
    for coll in ax.collections:
        if coll.get_gid() != "countries":
            continue
        mask = getattr(coll, "trialmap_data", None)
        if mask is None:
            continue
        trans = coll.get_transform()
        for path, has in zip(coll.get_paths(), mask, strict=True):
            if not has:
                continue
            for poly in path.to_polygons(transform=trans):
                if len(poly) >= 3:
                    out.append(shapely.make_valid(shapely.Polygon(poly)))
    return out


def legends_over_data(fig: Figure) -> list[str]:
    """Legends (and panels marked ``trialmap_keep_clear``) drawn over land that carries data."""
    r = renderer(fig)
    shapes = [(ax, map_data_shapes(ax)) for ax in fig.axes]
    out = []
    legends = [leg for ax in fig.axes for leg in ([ax.get_legend()] if ax.get_legend() else [])]
    legends += list(fig.legends)
    for ax in fig.axes:
        legends += [a for a in ax.artists if getattr(a, "trialmap_keep_clear", False)]
    for leg in legends:
        box = _shapely_box(leg.get_window_extent(r))
        for ax, polys in shapes:
            axbox = _shapely_box(ax.get_window_extent(r))
            for p in polys:
                hit = p.intersection(axbox)
                if hit.intersects(box) and hit.intersection(box).area > 1.0:
                    out.append(
                        str((getattr(leg, "get_title", lambda: None)() and leg.get_title().get_text()) or leg)
                    )
                    break
    return out


def labels_covering_small_countries(fig: Figure) -> list[str]:
    """Map labels (gid ``label-*``) that hide a country with data too small to hold them."""
    import shapely

    renderer(fig)
    out = []
    for ax in fig.axes:
        placer_shapes = getattr(ax, "trialmap_shapes", None)
        if not placer_shapes:
            continue
        for t in ax.texts:
            gid = t.get_gid() or ""
            if not gid.startswith("label-"):
                continue
            own = gid.split("-", 1)[1]
            box = _shapely_box(text_bbox(t, fig))
            for k, g in placer_shapes.items():
                if g.is_empty or not g.intersects(box):
                    continue
                inter = g.intersection(box).area
                if k == own:
                    tol = 0.5 * fig.dpi / 72 + 1
                    b = box.bounds
                    if not g.contains(shapely.box(b[0] + tol, b[1] + tol, b[2] - tol, b[3] - tol)):
                        out.append(f"{t.get_text()!r} covers its own country without fitting inside")
                elif g.area < box.area or inter > 0.15 * g.area:
                    out.append(f"{t.get_text()!r} covers {k}")
    return out


def layout_problems(fig: Figure) -> list[str]:
    """Everything :mod:`trialmap.figures.layout` checks, as readable lines (empty: fine)."""
    fig.canvas.draw()  # final positions (annotations, legends)
    problems = [f"overlap: {a!r} / {b!r}" for a, b in text_overlaps(fig)]
    problems += [f"off page: {t!r}" for t in texts_off_page(fig)]
    problems += [f"legend over data: {t}" for t in legends_over_data(fig)]
    problems += labels_covering_small_countries(fig)
    return problems
