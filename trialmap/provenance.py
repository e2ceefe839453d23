"""Provenance of a run, the source lines printed on figures, and the data credits, written once.

- :func:`source_line`: the one short line on every figure (source, registry
  data date, snapshot id; boundaries for maps).
- :func:`description`: the full record in words (definition and switches,
  counting rule, as-of) for captions, methods and file metadata.
- :func:`record`: the JSON provenance record (``provenance.json``, sidecars, file metadata).

Outputs name files by name and sha256, never by absolute path, and carry no
user, host or platform string unless ``full_paths=True`` (a figure sent to a
journal should not carry the author's folders).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CTGOV_CREDIT = "ClinicalTrials.gov (U.S. National Library of Medicine)"
NE_CREDIT = "Natural Earth (public domain)"
GEONAMES_CREDIT = "GeoNames (geonames.org, CC BY 4.0)"
BOUNDARIES = (
    "Natural Earth 10m admin-0 countries v5.1.1, German point-of-view edition "
    "(public domain), simplified; see trialmap/data/NATURAL_EARTH.md"
)


def credits(geo_sources: Sequence[str] = ()) -> list[str]:
    """The data credits a run's outputs carry.

    Parameters
    ----------
    geo_sources : sequence of str
        The ``geo_source`` values used (GeoNames is credited when ``"gazetteer"`` is among them).

    Returns
    -------
    list of str
    """
    out = [CTGOV_CREDIT, NE_CREDIT]
    if "gazetteer" in set(geo_sources):
        out.append(GEONAMES_CREDIT)
    return out


def _fallback_note(run: Any) -> str:
    fetch = getattr(run, "fetch", None) or {}
    if fetch.get("fallback"):
        return f" (local snapshot: API unreachable on {str(fetch.get('attempted_utc', ''))[:10]})"
    return ""


def source_line(run: Any) -> str:
    """The one short line a figure prints: source, registry data date, snapshot id.

    Adds "(local snapshot: API unreachable)" when the run fell back on a local
    snapshot, and the date of an as-of replay. Definition, switches, counting
    rule, credits and software are not on the image: they are in the caption
    (:func:`description`), ``methods.md``, the file metadata and the sidecar.

    Parameters
    ----------
    run : trialmap.Run
        Any object with ``snapshot``, ``data_date``, ``as_of`` and ``fetch``.

    Returns
    -------
    str
        E.g. ``"Source: ClinicalTrials.gov, registry data date 2022-01-21, snapshot
        ctgov-classic-2022-01-21"``.
    """
    line = f"Source: ClinicalTrials.gov, registry data date {run.data_date}, snapshot {run.snapshot.id}"
    if (getattr(run, "fetch", None) or {}).get("fallback"):
        line += " (local snapshot: API unreachable)"
    if getattr(run, "as_of", None):
        line += f"; as of {run.as_of}"
    return line


def as_of_note(run: Any) -> str:
    """What an as-of replay means ("" when the run is not one)."""
    if not getattr(run, "as_of", None):
        return ""
    return (
        f"As of {run.as_of}: only trials first posted on or before that date; their sites "
        f"and conditions are as the {run.data_date} snapshot records them, not as they were then."
    )


def description(run: Any) -> str:
    """The full provenance in words: source, study set and switches, counting rule, as-of."""
    d = run.definition
    switches = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in d.switches.items())
    text = (
        f"Data: {CTGOV_CREDIT}, registry data date {run.data_date}, snapshot {run.snapshot.id}"
        f"{_fallback_note(run)}. Study set: {d.title} (definition {d.label}"
        f"{'; switches: ' + switches if switches else ''}). Counting: {run.rule.describe()}."
    )
    note = as_of_note(run)
    return text + (f" {note}" if note else "")


def _portable(argv: Sequence[str]) -> list[str]:
    """The command line with absolute paths reduced to file names."""
    out = []
    for a in argv:
        key, eq, value = str(a).partition("=")
        if eq and Path(value).is_absolute():
            out.append(f"{key}={Path(value).name}")
        elif Path(a).is_absolute():
            out.append(Path(a).name)
        else:
            out.append(str(a))
    return out


def record(run: Any, argv: Sequence[str] | None = None, *, full_paths: bool = False) -> dict[str, Any]:
    """The provenance record of a run (JSON-serialisable).

    Parameters
    ----------
    run : trialmap.Run
        The run.
    argv : sequence of str, optional
        The command line after ``python -m trialmap.refresh`` (``None``: a library call).
    full_paths : bool, default False
        Also record the absolute snapshot folder, the overrides path and the platform.

    Returns
    -------
    dict
    """
    import platform

    import pandas as pd

    import trialmap
    from trialmap import countries, studyset

    m = run.snapshot.manifest
    d = run.definition
    geocoding = dict(run.geocoding or {})
    rec: dict[str, Any] = {
        "trialmap_version": trialmap.__version__,
        "created_utc": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command_line": (
            None if argv is None else ["python", "-m", "trialmap.refresh",
                                       *(argv if full_paths else _portable(argv))]
        ),
        "fetched": bool(run.fetch and run.fetch.get("fetched")),
        "fetch": run.fetch,
        "snapshot": {
            "id": run.snapshot.id,
            "format": m.get("format"),
            "registry_data_date": m.get("registry_data_date"),
            "source": m.get("source"),
            "files": m.get("files"),
            "synthetic": m.get("synthetic", False),
        },
        "attribution": m.get("attribution", CTGOV_CREDIT),
        "credits": credits(run.tables.sites["geo_source"].dropna().unique().tolist()
                           if "geo_source" in run.tables.sites else ()),
        "definition": {
            "name": d.name, "version": d.version, "title": d.title,
            "source": d.source if d.source == "default" or full_paths else Path(d.source).name,
            "switches": d.switches, "step_prose": studyset.step_prose(d),
        },
        "counting_rule": run.rule.describe(),
        "source_line": source_line(run),
        "description": description(run),
        "counting": {
            "rule": run.rule.name,
            "column": run.rule.column,
            "withdrawn_sites": run.rule.withdrawn_sites,
            "removed_countries": run.rule.removed_countries,
            "no_location_bucket": run.rule.no_location,
        },
        "as_of": run.as_of,
        "as_of_note": as_of_note(run) or None,
        "regions": {
            name: {"scheme": scheme, "members": sorted(countries.region_members(name))}
            for name, scheme in countries.REPORTED_REGIONS
        },
        "flow": run.flow.set_index("step")["n_remaining"].to_dict(),
        "unknown_countries": run.unknown_countries.to_dict(orient="records"),
        "geocoding": {**geocoding, "audit": run.geo_audit.to_dict(orient="records")},
        "boundaries": BOUNDARIES,
        "environment": {"python": platform.python_version(), "pandas": pd.__version__},
    }
    if full_paths:
        rec["snapshot"]["path"] = str(Path(run.snapshot.path).resolve())
        rec["environment"]["platform"] = platform.platform()
    return rec
