"""Read written figure PDFs back the way a journal's figure editor does.

:func:`check_pdf` opens one PDF (as matplotlib writes it: TrueType fonts as
Type 0 / CIDFontType2 with Identity-H, or simple TrueType fonts) and reports
the page size in millimetres, every piece of text with its size in points and
its box on the page, the smallest type, pairs of text boxes that overlap and
text that runs off the page. :func:`check_folder` does it for every PDF in a
folder; ``python -m trialmap.bench figures --check`` prints the result.

Only :mod:`pypdf` (BSD-3-Clause, in the ``test`` extra) is needed: the content
stream is walked operator by operator (``q``/``Q``/``cm``, ``BT``, ``Tf``,
``Td``/``TD``/``Tm``/``T*``, ``Tj``/``TJ``) and each glyph's advance width is
taken from the font's ``/W`` or ``/Widths`` array, so a box is the string's
real extent (ascent to descent of the font), rotation included. Text that a
figure draws as outlines (a halo path effect, for instance) is not text in the
PDF and is not seen: figures must print their labels as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MM_PER_PT = 25.4 / 72
# Overlaps smaller than this in both directions (pt) are rounding, not a collision.
OVERLAP_TOLERANCE_PT = 0.25


@dataclass(frozen=True)
class TextBox:
    """One string as printed: its text, size (pt) and box (x0, y0, x1, y1) in pt from the lower left."""

    text: str
    size: float
    box: tuple[float, float, float, float]

    def overlap(self, other: TextBox) -> tuple[float, float]:
        ax0, ay0, ax1, ay1 = self.box
        bx0, by0, bx1, by1 = other.box
        return min(ax1, bx1) - max(ax0, bx0), min(ay1, by1) - max(ay0, by0)


@dataclass
class PdfReport:
    """What :func:`check_pdf` found in one file."""

    path: Path
    width_mm: float
    height_mm: float
    texts: list[TextBox] = field(default_factory=list)
    overlaps: list[tuple[TextBox, TextBox]] = field(default_factory=list)
    off_page: list[TextBox] = field(default_factory=list)
    fonts: set[str] = field(default_factory=set)

    @property
    def min_size(self) -> float:
        return min((t.size for t in self.texts), default=float("nan"))

    @property
    def ok(self) -> bool:
        return not self.overlaps and not self.off_page

    def summary(self) -> str:
        return (
            f"{self.path.name:34} {self.width_mm:6.1f} x {self.height_mm:5.1f} mm  "
            f"min {self.min_size:4.1f} pt  {len(self.texts):3d} texts  "
            f"{len(self.overlaps):2d} overlapping  {len(self.off_page):2d} off page"
        )


def _mul(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """PDF matrix product a x b (both [a b c d e f])."""
    return [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]


_HEX = re.compile(r"<([0-9a-fA-F]+)>")


def _parse_tounicode(data: str) -> dict[int, str]:
    """bfchar / bfrange entries of a ToUnicode CMap -> code -> text."""
    out: dict[int, str] = {}

    def text(h: str) -> str:
        return bytes.fromhex(h).decode("utf-16-be", errors="replace")

    for block in re.findall(r"beginbfchar(.*?)endbfchar", data, re.S):
        for src, dst in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            out[int(src, 16)] = text(dst)
    for block in re.findall(r"beginbfrange(.*?)endbfrange", data, re.S):
        for line in block.strip().splitlines():
            codes = _HEX.findall(line)
            if len(codes) < 3:
                continue
            lo, hi = int(codes[0], 16), int(codes[1], 16)
            if "[" in line:
                for i, dst in enumerate(codes[2:]):
                    out[lo + i] = text(dst)
            else:
                start = int(codes[2], 16)
                for i in range(hi - lo + 1):
                    out[lo + i] = chr(start + i)
    return out


class _Font:
    """Widths (per 1000 em), ascent/descent and code -> text of one PDF font."""

    def __init__(self, font) -> None:
        font = font.get_object()
        self.name = str(font.get("/BaseFont", "?"))
        self.two_byte = font.get("/Subtype") == "/Type0"
        self.widths: dict[int, float] = {}
        self.default = 1000.0
        descriptor = None
        if self.two_byte:
            cid = font["/DescendantFonts"][0].get_object()
            self.default = float(cid.get("/DW", 1000))
            w = cid.get("/W")
            w = list(w.get_object()) if w is not None else []
            i = 0
            while i < len(w):
                first = int(w[i])
                nxt = w[i + 1].get_object() if hasattr(w[i + 1], "get_object") else w[i + 1]
                if isinstance(nxt, list):
                    for k, v in enumerate(nxt):
                        self.widths[first + k] = float(v)
                    i += 2
                else:
                    for k in range(first, int(nxt) + 1):
                        self.widths[k] = float(w[i + 2])
                    i += 3
            descriptor = cid.get("/FontDescriptor")
        else:
            first = int(font.get("/FirstChar", 0))
            for k, v in enumerate(font.get("/Widths", []) or []):
                self.widths[first + k] = float(v)
            descriptor = font.get("/FontDescriptor")
        d = descriptor.get_object() if descriptor is not None else {}
        # DejaVu Sans: ascent 0.76 em for capitals and ascenders, descent 0.24 em. The
        # descriptor's /Ascent (0.93) includes accents and line gap: too tall for a box.
        self.ascent = min(float(d.get("/Ascent", 760)), 760.0) / 1000
        self.descent = max(float(d.get("/Descent", -240)), -240.0) / 1000
        self.to_text: dict[int, str] = {}
        if "/ToUnicode" in font:
            self.to_text = _parse_tounicode(font["/ToUnicode"].get_object().get_data().decode("latin-1"))

    def codes(self, raw: bytes) -> list[int]:
        if self.two_byte:
            return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2)]
        return list(raw)

    def text(self, codes: Iterable[int]) -> str:
        return "".join(self.to_text.get(c, chr(c) if not self.two_byte else "?") for c in codes)


def _raw_bytes(obj) -> bytes:
    if isinstance(obj, bytes):
        return bytes(obj)
    original = getattr(obj, "original_bytes", None)
    if original is not None:
        return bytes(original)
    return str(obj).encode("latin-1", errors="replace")


def page_texts(page, reader) -> list[TextBox]:
    """Every text string on a pypdf page, with its printed size and box (pt)."""
    from pypdf.generic import ContentStream

    fonts = {}
    resources = page.get("/Resources") or {}
    font_dict = resources.get("/Font") or {}
    for key, ref in font_dict.items():
        fonts[str(key)] = _Font(ref)
    contents = page.get_contents()
    if contents is None:
        return []
    ops = ContentStream(contents, reader).operations
    ctm = [1.0, 0, 0, 1.0, 0, 0]
    stack: list[list[float]] = []
    tm = [1.0, 0, 0, 1.0, 0, 0]
    tlm = list(tm)
    font: _Font | None = None
    size = 0.0
    leading = 0.0
    out: list[TextBox] = []

    def show(items) -> None:
        nonlocal tm
        if font is None:
            return
        x = 0.0
        codes_all: list[int] = []
        for item in items:
            if isinstance(item, int | float) or type(item).__name__ in ("FloatObject", "NumberObject"):
                x -= float(item) / 1000 * size
                continue
            codes = font.codes(_raw_bytes(item))
            codes_all += codes
            x += sum(font.widths.get(c, font.default) for c in codes) / 1000 * size
        text = font.text(codes_all)
        m = _mul(tm, ctm)
        corners = [
            (0.0, font.descent * size),
            (x, font.descent * size),
            (0.0, font.ascent * size),
            (x, font.ascent * size),
        ]
        pts = [(cx * m[0] + cy * m[2] + m[4], cx * m[1] + cy * m[3] + m[5]) for cx, cy in corners]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        scale = math.sqrt(abs(m[0] * m[3] - m[1] * m[2]))
        if text.strip():
            out.append(TextBox(text, round(size * scale, 2), (min(xs), min(ys), max(xs), max(ys))))
        tm = _mul([1.0, 0, 0, 1.0, x, 0], tm)

    for operands, op in ops:
        if op == b"q":
            stack.append(list(ctm))
        elif op == b"Q":
            ctm = stack.pop() if stack else [1.0, 0, 0, 1.0, 0, 0]
        elif op == b"cm":
            ctm = _mul([float(v) for v in operands], ctm)
        elif op == b"BT":
            tm, tlm = [1.0, 0, 0, 1.0, 0, 0], [1.0, 0, 0, 1.0, 0, 0]
        elif op == b"Tf":
            font = fonts.get(str(operands[0]))
            size = float(operands[1])
        elif op == b"TL":
            leading = float(operands[0])
        elif op in (b"Td", b"TD"):
            tx, ty = float(operands[0]), float(operands[1])
            if op == b"TD":
                leading = -ty
            tlm = _mul([1.0, 0, 0, 1.0, tx, ty], tlm)
            tm = list(tlm)
        elif op == b"Tm":
            tlm = [float(v) for v in operands]
            tm = list(tlm)
        elif op == b"T*":
            tlm = _mul([1.0, 0, 0, 1.0, 0, -leading], tlm)
            tm = list(tlm)
        elif op == b"Tj":
            show([operands[0]])
        elif op == b"TJ":
            show(list(operands[0]))
        elif op in (b"'", b'"'):
            tlm = _mul([1.0, 0, 0, 1.0, 0, -leading], tlm)
            tm = list(tlm)
            show([operands[-1]])
    return _merge_runs(out)


def _merge_runs(texts: list[TextBox]) -> list[TextBox]:
    """Join the runs of one string that a change of font split (``"≥"`` in a second subset)."""
    merged: list[TextBox] = []
    for t in texts:
        if merged:
            p = merged[-1]
            same_line = abs(p.box[1] - t.box[1]) < 0.05 and abs(p.box[3] - t.box[3]) < 0.05
            if same_line and p.size == t.size and abs(t.box[0] - p.box[2]) < 0.3:
                merged[-1] = TextBox(p.text + t.text, p.size, (p.box[0], p.box[1], t.box[2], p.box[3]))
                continue
        merged.append(t)
    return merged


def overlapping(
    texts: Sequence[TextBox], tolerance: float = OVERLAP_TOLERANCE_PT
) -> list[tuple[TextBox, TextBox]]:
    """Pairs of text boxes that overlap by more than ``tolerance`` pt both ways."""
    pairs = []
    order = sorted(range(len(texts)), key=lambda i: texts[i].box[0])
    for a_pos, i in enumerate(order):
        a = texts[i]
        for j in order[a_pos + 1 :]:
            b = texts[j]
            if b.box[0] > a.box[2]:
                break
            dx, dy = a.overlap(b)
            if dx > tolerance and dy > tolerance:
                pairs.append((a, b))
    return pairs


def check_pdf(path: str | Path) -> PdfReport:
    """Page size, text, smallest type, overlapping text and text off the page of one PDF."""
    from pypdf import PdfReader

    path = Path(path)
    reader = PdfReader(path)
    page = reader.pages[0]
    box = page.mediabox
    w, h = float(box.width), float(box.height)
    texts = page_texts(page, reader)
    tol = 0.1
    off = [t for t in texts if t.box[0] < -tol or t.box[1] < -tol or t.box[2] > w + tol or t.box[3] > h + tol]
    report = PdfReport(path, round(w * MM_PER_PT, 1), round(h * MM_PER_PT, 1), texts, overlapping(texts), off)
    report.fonts = {
        f.name for f in (_Font(r) for r in (page.get("/Resources") or {}).get("/Font", {}).values())
    }
    return report


def check_folder(folder: str | Path) -> list[PdfReport]:
    """:func:`check_pdf` for every PDF in ``folder``, by name."""
    return [check_pdf(p) for p in sorted(Path(folder).glob("*.pdf"))]


def format_reports(reports: Sequence[PdfReport], *, details: bool = True) -> str:
    """The referee's table: one line per PDF, then what overlaps or leaves the page."""
    lines = [r.summary() for r in reports]
    if details:
        for r in reports:
            for a, b in r.overlaps:
                lines.append(f"  {r.path.name}: overlap {a.text!r} / {b.text!r}")
            for t in r.off_page:
                lines.append(f"  {r.path.name}: off page {t.text!r} at {tuple(round(v, 1) for v in t.box)}")
    bad = sum(not r.ok for r in reports)
    lines.append(
        f"{len(reports)} PDFs, {bad} with overlapping or off-page text; smallest type "
        f"{min((r.min_size for r in reports), default=float('nan')):.1f} pt"
    )
    return "\n".join(lines)
