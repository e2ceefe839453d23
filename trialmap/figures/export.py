"""Saving figures for journals: several formats in one call, fonts embedded, metadata written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MM = 1 / 25.4  # inches per millimetre
DOUBLE_COLUMN_MM = 183.0
SINGLE_COLUMN_MM = 89.0


def save_figure(
    fig: Figure,
    stem: Path,
    formats: Sequence[str] = ("pdf", "png"),
    *,
    dpi: int = 300,
    metadata: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write a figure in several formats; fonts embedded as TrueType, not Type 3.

    Each file is written to a temporary name and renamed into place, so a
    crash never leaves a truncated figure. ``metadata`` (title, author,
    subject, keywords...) goes into the PDF info / PNG text chunks.
    """
    import matplotlib as mpl

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with mpl.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}):
        for fmt in formats:
            target = stem.with_suffix(f".{fmt}")
            md = _metadata_for(fmt, metadata or {})
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            os.close(fd)
            try:
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=md, bbox_inches="tight", pad_inches=0.02)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(target)
    return written


def _metadata_for(fmt: str, md: Mapping[str, Any]) -> dict[str, Any]:
    if fmt == "pdf":
        keys = {"Title", "Author", "Subject", "Keywords", "Creator"}
        return {k: str(v) for k, v in md.items() if k in keys}
    if fmt == "png":
        return {k: str(v) for k, v in md.items()}
    if fmt == "svg":
        return {k: str(v) for k, v in md.items() if k in {"Title", "Description", "Creator"}}
    return {}
