"""Provenance of a run: the source line printed on figures (the full record is in
``provenance.json``, captions, ``methods.md``, file metadata and sidecars)."""

from __future__ import annotations

from typing import Any

from trialmap.credits import CTGOV_CREDIT, NE_CREDIT

__all__ = ["CTGOV_CREDIT", "NE_CREDIT", "source_line"]


def source_line(run: Any) -> str:
    """The one short line a figure prints: source, registry data date, snapshot id.

    Adds "(local snapshot: API unreachable)" when the run fell back on a local
    snapshot because the API could not be reached, and the date of an as-of
    replay. Definition, switches, counting rule and software are not on the
    image: they are in the caption, ``methods.md``, the file metadata and
    the sidecar.

    Parameters
    ----------
    run : Run
        A processed run (``trialmap.pipeline.Run`` or
        :class:`trialmap.refresh.Result`): ``snapshot.id``, ``data_date``,
        ``fetch`` and ``as_of`` are read.

    Returns
    -------
    str
        E.g. ``"Source: ClinicalTrials.gov, registry data date 2022-01-21,
        snapshot ctgov-classic-2022-01-21"``.
    """
    line = f"Source: ClinicalTrials.gov, registry data date {run.data_date}, snapshot {run.snapshot.id}"
    fetch = getattr(run, "fetch", None) or {}
    if fetch.get("fallback"):
        line += " (local snapshot: API unreachable)"
    as_of = getattr(run, "as_of", None)
    if as_of:
        line += f"; as of {as_of}"
    return line
