"""``python -m trialmap.refresh``: snapshot -> tables -> study set -> map -> outputs.

This is the one place that chains the stages. Outputs for a snapshot are built
in a hidden temporary folder and swapped into ``data/processed/<snapshot-id>/``
only when complete, so a failed run leaves the previous outputs untouched and
no half-written folder behind.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import trialmap
from trialmap import aggregate, boundaries, countries, geocode, studyset
from trialmap.errors import OutputError, TrialmapError
from trialmap.snapshot import Snapshot, open_snapshot
from trialmap.sources import read_snapshot
from trialmap.tables import Tables

log = logging.getLogger("trialmap.refresh")

COUNTING_RULE = "trials per country = distinct trials with at least one site in the country"
REGIONS = ("Europe", "EU27", "Asia", "Americas", "Africa", "Oceania")
CTGOV_CREDIT = "ClinicalTrials.gov (U.S. National Library of Medicine)"
NE_CREDIT = "Natural Earth (public domain)"


@dataclass(frozen=True)
class Result:
    """Everything one run computed, before anything is written."""

    snapshot: Snapshot
    definition: studyset.Definition
    tables: Tables
    inclusion_log: pd.DataFrame
    flow: pd.DataFrame
    categories: pd.DataFrame
    country_counts: pd.DataFrame
    region_counts: pd.DataFrame
    unknown_countries: pd.DataFrame
    geo_audit: pd.DataFrame

    @property
    def included(self) -> pd.Index:
        return pd.Index(self.inclusion_log.loc[self.inclusion_log["included"], "nct_id"])

    @property
    def data_date(self) -> str:
        return str(self.snapshot.manifest.get("registry_data_date", "unknown"))


def process(snapshot: Snapshot, definition: studyset.Definition) -> Result:
    """Run every stage on a verified snapshot (no writing)."""
    tables = read_snapshot(snapshot)
    sites = tables.sites.assign(iso3=countries.to_iso3(tables.sites["country"]))
    unknown = countries.unknown_countries(tables.sites["country"])
    sites = geocode.place_sites(sites, boundaries.country_points())
    tables = tables.replace(sites=sites)

    inclusion_log, categories = studyset.select(tables, definition)
    flow = studyset.flow_counts(inclusion_log)
    ids = inclusion_log.loc[inclusion_log["included"], "nct_id"]
    names = countries.country_table().set_index("iso3")["name"].to_dict()
    counts = aggregate.country_counts(sites, ids, names)
    regions = {r: countries.region_members(r) for r in REGIONS}
    region_counts = aggregate.region_counts(sites, ids, regions)
    audit = geocode.geo_audit(sites[sites["nct_id"].isin(set(ids))])
    return Result(
        snapshot, definition, tables, inclusion_log, flow, categories, counts, region_counts,
        unknown, audit,
    )


def source_line(result: Result) -> str:
    return (
        f"Data: {CTGOV_CREDIT}, registry data date {result.data_date}, snapshot "
        f"{result.snapshot.id}. Study set: {result.definition.label}. Counting: {COUNTING_RULE}. "
        f"Boundaries: {NE_CREDIT}."
    )


def draw_figure1(result: Result):  # -> Axes
    """Figure 1 for a run: choropleth with China, the US and Europe called out."""
    from trialmap.figures import figure1

    europe = int(result.region_counts.set_index("region")["n_trials"].get("Europe", 0))
    return figure1(
        result.country_counts,
        boundaries.load_world(),
        regions={"Europe": (europe, countries.region_members("Europe"))},
        source_line=source_line(result),
        title=(
            f"MSC trials in inflammatory and autoimmune disease, by country "
            f"(n = {len(result.included)} trials; ClinicalTrials.gov, {result.data_date})"
        ),
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_outputs(result: Result, out_root: Path, argv: Sequence[str]) -> Path:
    """Write tables, figures and provenance to ``out_root/<snapshot-id>/`` atomically."""
    from trialmap import methods
    from trialmap.figures import suite

    out_root = Path(out_root)
    final = out_root / result.snapshot.id
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{result.snapshot.id}-", dir=out_root))
    except OSError as exc:
        msg = (
            f"cannot create the output folder under {out_root} ({exc.strerror}); "
            "pass a writable --data-dir"
        )
        raise OutputError(msg) from exc
    try:
        ids = set(result.included)
        t = result.tables
        tables = {
            "studies": t.studies[t.studies["nct_id"].isin(ids)],
            "sites": t.sites[t.sites["nct_id"].isin(ids)],
            "country_counts": result.country_counts,
            "region_counts": result.region_counts,
            "categories": result.categories,
            "inclusion_log": result.inclusion_log,
            "flow": result.flow,
            "unknown_countries": result.unknown_countries,
            "geo_audit": result.geo_audit,
        }
        for name, df in tables.items():
            df.to_csv(tmp / f"{name}.csv", index=False)
        for name in ("studies", "sites", "country_counts"):
            tables[name].to_parquet(tmp / f"{name}.parquet", index=False)

        provenance = _provenance(result, argv)
        exports = suite.write_figures(result, tmp / "figures", provenance)
        methods_md = methods.methods_markdown(result.snapshot.manifest, provenance, exports)
        (tmp / "methods.md").write_text(methods_md, encoding="utf-8")
        provenance["outputs"] = {
            str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _swap_into_place(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except OSError:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _provenance(result: Result, argv: Sequence[str]) -> dict[str, Any]:
    m = result.snapshot.manifest
    d = result.definition
    return {
        "trialmap_version": trialmap.__version__,
        "created_utc": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command_line": ["python", "-m", "trialmap.refresh", *argv],
        "fetched": False,
        "snapshot": {
            "id": result.snapshot.id,
            "path": str(result.snapshot.path),
            "format": m.get("format"),
            "registry_data_date": m.get("registry_data_date"),
            "source": m.get("source"),
            "files": m.get("files"),
            "synthetic": m.get("synthetic", False),
        },
        "attribution": m.get("attribution", CTGOV_CREDIT),
        "definition": {
            "name": d.name, "version": d.version, "source": d.source, "switches": d.switches,
        },
        "counting_rule": COUNTING_RULE,
        "flow": result.flow.set_index("step")["n_remaining"].to_dict(),
        "unknown_countries": result.unknown_countries.to_dict(orient="records"),
        "boundaries": (
            "Natural Earth 10m admin-0 countries v5.1.1, German point-of-view edition "
            "(public domain), simplified; see trialmap/data/NATURAL_EARTH.md"
        ),
        "environment": {
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "platform": platform.platform(),
        },
    }


def summary(result: Result, out: Path | None, seconds: float) -> str:
    f = result.flow.set_index("step")["n_remaining"]
    lines = [
        f"snapshot   {result.snapshot.id} (registry data date {result.data_date}; "
        "local snapshot, not fetched)",
        f"definition {result.definition.label}",
        f"records read {f['records_read']}, unique {f['unique_records']}, MSC confirmed "
        f"{f['msc_confirmed']}, interventional {f['study_type']}, in scope {f['in_scope']}, "
        f"with a site {f['with_site']}, mapped to a country {f['with_mapped_country']}",
    ]
    if result.unknown_countries.empty:
        lines.append("countries  every site country name is known")
    else:
        listed = ", ".join(
            f"{r.country!r} ({r.n_sites})" for r in result.unknown_countries.itertuples()
        )
        lines.append(f"countries  UNKNOWN names, sites not mapped: {listed}")
    top = result.country_counts.head(10)
    lines.append(
        "top ten    " + ", ".join(f"{r.country} {r.n_trials}" for r in top.itertuples())
    )
    rc = result.region_counts.set_index("region")["n_trials"]
    lines.append("regions    " + ", ".join(f"{k} {v}" for k, v in rc.items()))
    if out is not None:
        lines.append(f"outputs    {out}")
    lines.append(f"time       {seconds:.1f} s")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trialmap.refresh",
        description=(
            "Process a ClinicalTrials.gov snapshot into tables, counts per country and the "
            "Figure 1 world map under DATA_DIR/processed/<snapshot-id>/."
        ),
    )
    p.add_argument("--data-dir", type=Path, default=Path("data"),
                   help="folder holding raw/ and processed/ (default: ./data)")
    p.add_argument("--snapshot", default=None,
                   help="snapshot id (folder name under DATA_DIR/raw) or path; default: the newest")
    p.add_argument("--definition", type=Path, default=None,
                   help="study-set definition TOML (default: the bundled one)")
    p.add_argument("--offline", action="store_true",
                   help="never touch the network (this version never fetches; accepted for scripts)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    try:
        definition = studyset.load_definition(args.definition)
        raw = args.data_dir / "raw"
        snap = open_snapshot(args.snapshot, raw)
        if not args.quiet:
            print(  # noqa: T201 - the CLI talks to its user
                f"trialmap: processing local snapshot {snap.id} (this version does not fetch "
                "from clinicaltrials.gov)",
                file=sys.stderr,
            )
        result = process(snap, definition)
        out = write_outputs(result, args.data_dir / "processed", argv)
    except TrialmapError as exc:
        print(f"trialmap: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        print("trialmap: interrupted; no output folder was written", file=sys.stderr)  # noqa: T201
        return 130
    if not args.quiet:
        print(summary(result, out, time.perf_counter() - t0))  # noqa: T201
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
