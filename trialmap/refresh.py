"""``python -m trialmap.refresh``: snapshot -> tables -> study set -> map -> outputs.

This is the one place that chains the stages. Outputs for a snapshot are built
in a hidden temporary folder and swapped into ``data/processed/<snapshot-id>/``
only when complete, so a failed run leaves the previous outputs untouched and
no half-written folder behind.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import trialmap
from trialmap import aggregate, boundaries, countries, gazetteer, geocode, studyset
from trialmap.credits import CTGOV_CREDIT, NE_CREDIT
from trialmap.errors import ApiUnavailableError, DefinitionError, FetchError, OutputError, TrialmapError
from trialmap.paths import sha256_file
from trialmap.query import DEFAULT_API_URL
from trialmap.snapshot import Snapshot, open_snapshot
from trialmap.sources import read_snapshot
from trialmap.tables import Tables, isin

log = logging.getLogger("trialmap.refresh")

GEONAMES_CREDIT = gazetteer.CREDIT


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
    rule: aggregate.CountingRule = field(default_factory=aggregate.CountingRule)
    as_of: str | None = None
    no_location: pd.DataFrame | None = None
    category_counts: pd.DataFrame | None = None
    geo_unmatched: pd.DataFrame | None = None
    geocoding: dict[str, Any] | None = None  # gazetteer and overrides used, for provenance
    #: What the fetch step did (None: not attempted); see fetch_step().
    fetch: dict[str, Any] | None = None

    @property
    def included(self) -> pd.Index:
        return pd.Index(self.inclusion_log.loc[self.inclusion_log["included"], "nct_id"])

    @property
    def output_name(self) -> str:
        """Folder name under processed/: the snapshot id, plus the as-of date, a
        non-default counting rule, and a short hash of any other non-default setting
        (definition file or switches, rule switches, overrides), so such runs never
        replace the default outputs."""
        name = self.snapshot.id
        if self.as_of:
            name += f"_as-of-{self.as_of}"
        if self.rule.name != "trials":
            name += f"_{self.rule.name}"
        default = studyset.load_definition()
        custom = {
            "definition": [self.definition.source, self.definition.label, self.definition.switches]
            if (self.definition.source, self.definition.switches) != (default.source, default.switches)
            else None,
            "rule": [self.rule.withdrawn_sites, self.rule.removed_countries, self.rule.no_location]
            if dataclasses.replace(self.rule, name="trials") != aggregate.CountingRule() else None,
            "overrides": (self.geocoding or {}).get("overrides"),
        }
        if any(v is not None for v in custom.values()):
            digest = hashlib.sha256(json.dumps(custom, sort_keys=True, default=str).encode()).hexdigest()
            name += f"_custom-{digest[:8]}"
        return name

    @property
    def data_date(self) -> str:
        return str(self.snapshot.manifest.get("registry_data_date", "unknown"))


def process(
    snapshot: Snapshot,
    definition: studyset.Definition,
    rule: aggregate.CountingRule | None = None,
    as_of: str | None = None,
    overrides: Path | None = None,
) -> Result:
    """Run every stage on a verified snapshot (no writing).

    ``rule`` picks the counting rule and its switches (default: trials per
    country); ``as_of`` ("YYYY-MM-DD") keeps only trials first posted on or
    before that date; ``overrides`` is a user's CSV of city, state, country,
    lat, lon (see :func:`trialmap.gazetteer.read_overrides`), applied before
    the gazetteer.
    """
    rule = rule or aggregate.CountingRule()
    tables = read_snapshot(snapshot)
    gaz, points = gazetteer.load(), boundaries.country_points()
    sites = tables.sites.assign(iso3=countries.to_iso3(tables.sites["country"]))
    unknown = countries.unknown_countries(tables.sites["country"])
    ov = gazetteer.read_overrides(overrides) if overrides is not None else None
    sites = geocode.place_sites(sites, points, gaz, ov)
    tables = tables.replace(sites=sites)
    geocoding: dict[str, Any] = {
        "ladder": "registry geoPoint > overrides > GeoNames gazetteer (city, state, country) > "
        "country representative point",
        "gazetteer": gaz.meta,
        "overrides": None,
    }
    if ov is not None:
        geocoding["overrides"] = {
            "path": str(overrides),
            "sha256": sha256_file(Path(overrides)),
            "rows": len(ov),
            "sites_placed": int((sites["geo_source"] == "override").sum()),
        }

    inclusion_log, categories = studyset.select(tables, definition, as_of=as_of)
    flow = studyset.flow_counts(inclusion_log, as_of=as_of is not None)
    ids = inclusion_log.loc[inclusion_log["included"], "nct_id"]
    names = countries.country_table().set_index("iso3")["name"].to_dict()
    removed = aggregate.removed_country_rows(tables.studies, countries.to_iso3)
    # The bucket holds the in-scope trials that the site steps of the flow dropped.
    in_scope = inclusion_log.loc[
        inclusion_log["step"].isin(["included", "with_site", "with_mapped_country"]), "nct_id"
    ]
    # Counting removed countries can place a trial that lists no current site.
    counted = in_scope if rule.removed_countries else ids
    counts = aggregate.country_counts(sites, counted, names, rule, removed)
    regions = {r: countries.region_members(r) for r, _ in countries.REPORTED_REGIONS}
    region_counts = aggregate.region_counts(
        sites, counted, regions, rule, removed, schemes=dict(countries.REPORTED_REGIONS)
    )
    no_location = aggregate.no_location_row(sites, in_scope, rule, removed) if rule.no_location else None
    included_sites = sites[isin(sites["nct_id"], ids)]
    return Result(
        snapshot, definition, tables, inclusion_log, flow, categories, counts, region_counts,
        unknown, geocode.geo_audit(included_sites),
        rule=rule, as_of=as_of, no_location=no_location,
        category_counts=studyset.category_counts(categories, definition),
        geo_unmatched=geocode.unmatched_keys(included_sites), geocoding=geocoding,
    )


def as_of_note(result: Result) -> str:
    """What an as-of replay means, for figures and provenance ("" when not a replay)."""
    if result.as_of is None:
        return ""
    return (
        f"As of {result.as_of}: only trials first posted on or before that date; their sites "
        f"and conditions are as the {result.data_date} snapshot records them, not as they were then."
    )


def source_line(result: Result, *, boundaries: bool = True) -> str:
    """The credit and provenance line printed under a figure (the boundary credit for maps)."""
    switches = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in result.definition.switches.items())
    note = ""
    if result.fetch and result.fetch.get("fallback"):
        note = f" (local snapshot: the API could not be reached on {result.fetch['attempted_utc'][:10]})"
    line = (
        f"Data: {CTGOV_CREDIT}, registry data date {result.data_date}, snapshot "
        f"{result.snapshot.id}{note}. Study set: {result.definition.label} ({switches}). "
        f"Counting: {result.rule.describe()}."
    )
    if result.as_of:
        line += f" {as_of_note(result)}"
    return line + (f" Boundaries: {NE_CREDIT}." if boundaries else "")


DEFAULT_FIGURES = ("figure1",)


def write_outputs(
    result: Result, out_root: Path, argv: Sequence[str], *, journal: bool = False,
    figures: Sequence[str] | str | None = None,
) -> Path:
    """Write tables, figures and provenance to ``out_root/<output_name>/`` atomically.

    ``figures`` names the figures of the suite to write: a list of names,
    ``"all"``, or ``None`` for the default, Figure 1 only (``"all"`` when
    ``journal``). They are written as PDF and 300 dpi PNG at double-column
    width; ``journal=True`` writes them in every journal format (SVG, TIFF,
    600 dpi) at both widths (89 and 183 mm). The default
    keeps the main command quick (each PDF embeds a font subset, about a second
    per figure drawn and exported); ``--figures all`` writes the whole suite.
    """
    from trialmap import methods
    from trialmap.figures import suite

    out_root = Path(out_root)
    final = out_root / result.output_name
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
        ids = result.included
        t = result.tables
        tables = {
            "studies": t.studies[isin(t.studies["nct_id"], ids)],
            "sites": t.sites[isin(t.sites["nct_id"], ids)],
            "country_counts": (
                result.country_counts if result.no_location is None
                else pd.concat([result.country_counts, result.no_location], ignore_index=True)
            ),
            "region_counts": result.region_counts,
            "categories": result.categories,
            "category_counts": result.category_counts,
            "inclusion_log": result.inclusion_log,
            "flow": result.flow,
            "unknown_countries": result.unknown_countries,
            "geo_audit": result.geo_audit,
            "geo_unmatched": result.geo_unmatched,
        }
        for name, df in tables.items():
            if df is None:
                continue
            df.to_csv(tmp / f"{name}.csv", index=False)
        for name in ("studies", "sites", "country_counts"):
            tables[name].to_parquet(tmp / f"{name}.parquet", index=False)

        provenance = _provenance(result, argv)
        chosen = figure_names(figures if figures is not None else ("all" if journal else DEFAULT_FIGURES))
        if journal:
            exports = suite.write_figures(result, tmp / "figures", provenance, names=chosen)
        else:
            exports = suite.write_figures(
                result, tmp / "figures", provenance, names=chosen, widths=("double",),
                formats=("pdf", "png"), dpis=(300,),
            )
        methods_md = methods.methods_markdown(result.snapshot.manifest, provenance, exports)
        (tmp / "methods.md").write_text(methods_md, encoding="utf-8")
        provenance["outputs"] = {
            str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
        swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def figure_names(figures: Sequence[str] | str) -> list[str]:
    """``"all"``, ``"figure1,flow"`` or a list of names -> suite figure names, in suite order.

    Raises
    ------
    OutputError
        For a name the figure suite does not have.
    """
    from trialmap.figures import suite

    return suite.figure_names(figures)


def swap_into_place(tmp: Path, final: Path) -> None:
    """Move a finished output folder into place, replacing an earlier one only once done."""
    # mkdtemp makes the folder private (0700); the finished outputs follow the umask.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
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
        "fetched": bool(result.fetch and result.fetch.get("fetched")),
        "fetch": result.fetch,
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
        "counting_rule": result.rule.describe(),
        "source_line": source_line(result, boundaries=False),
        "counting": {
            "rule": result.rule.name,
            "column": result.rule.column,
            "withdrawn_sites": result.rule.withdrawn_sites,
            "removed_countries": result.rule.removed_countries,
            "no_location_bucket": result.rule.no_location,
        },
        "as_of": result.as_of,
        "as_of_note": as_of_note(result) or None,
        "regions": {
            name: {"scheme": scheme, "members": sorted(countries.region_members(name))}
            for name, scheme in countries.REPORTED_REGIONS
        },
        "flow": result.flow.set_index("step")["n_remaining"].to_dict(),
        "unknown_countries": result.unknown_countries.to_dict(orient="records"),
        "geocoding": {
            **(result.geocoding or {}),
            "audit": result.geo_audit.to_dict(orient="records"),
        },
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
    how = "local snapshot, not fetched"
    if result.fetch and result.fetch.get("fetched"):
        how = f"fetched now: {result.fetch['requests']} requests, {result.fetch['bytes']:,} bytes"
    elif result.fetch and result.fetch.get("fallback"):
        how = "local snapshot, not fetched: the API could not be reached"
    lines = [
        f"snapshot   {result.snapshot.id} (registry data date {result.data_date}; {how})",
        f"definition {result.definition.label}",
        f"counting   {result.rule.describe()}",
        *([f"as of      {as_of_note(result)}"] if result.as_of else []),
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
    audit = result.geo_audit
    lines.append(
        "geocoding  " + ", ".join(
            f"{r.geo_source}/{r.geo_precision} {r.n_sites}" for r in audit.itertuples()
        ) + (f"; {len(result.geo_unmatched)} place keys at country level or unplaced "
             "(geo_unmatched.csv)" if result.geo_unmatched is not None else "")
    )
    col = result.rule.column

    def fmt(v: float) -> str:
        return f"{v:.1f}" if col == "trial_share" else f"{int(v)}"

    top = result.country_counts.head(10)
    lines.append("top ten    " + ", ".join(f"{r.country} {fmt(getattr(r, col))}" for r in top.itertuples()))
    rc = result.region_counts.set_index("region")[col]
    lines.append("regions    " + ", ".join(f"{k} {fmt(v)}" for k, v in rc.items()))
    if result.no_location is not None:
        n_none = int(result.no_location["n_trials"].iloc[0])
        lines.append(f"no location {n_none} in-scope trial(s) with no counted site")
    if out is not None:
        lines.append(f"outputs    {out}")
    lines.append(f"time       {seconds:.1f} s")
    return "\n".join(lines)


def _date_arg(text: str) -> str:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
    except ValueError:
        msg = f"{text!r} is not a date in YYYY-MM-DD form, e.g. 2018-06-30"
        raise argparse.ArgumentTypeError(msg) from None


def _parse_switches(items: Sequence[str]) -> dict[str, bool]:
    values = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if value.lower() not in values:
            msg = f"--switch {item!r}: write NAME=on or NAME=off"
            raise DefinitionError(msg)
        out[name.strip()] = values[value.lower()]
    return out


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
                   help="study-set definition TOML (default: the bundled one; "
                        "write it out with `trialmap definition`)")
    p.add_argument("--switch", action="append", default=[], metavar="NAME=on|off",
                   help="flip a judgement call of the definition, e.g. --switch osteoarthritis=on "
                        "(repeatable)")
    p.add_argument("--counting-rule", choices=list(aggregate.COUNTING_RULES), default="trials",
                   help="trials (distinct trials with a site in the country; default), sites "
                        "(trial x site rows) or fractional (a trial in k countries adds 1/k to each)")
    p.add_argument("--drop-withdrawn-sites", action="store_true",
                   help="do not count sites whose status is WITHDRAWN")
    p.add_argument("--count-removed-countries", action="store_true",
                   help="also count a trial in the countries the registry lists as removed from it")
    p.add_argument("--no-location-bucket", action=argparse.BooleanOptionalAction, default=True,
                   help="report in-scope trials with no counted site as '(no location)' (default: on)")
    p.add_argument("--as-of", type=_date_arg, default=None, metavar="YYYY-MM-DD",
                   help="keep only trials first posted on or before this date (sites stay as the "
                        "snapshot records them)")
    p.add_argument("--figures", default=None, metavar="all|NAME,...",
                   help="figures to write: 'all' (the suite: Figure 1, site maps, study flow, regions, "
                        "timeline, change map) or names separated by commas (default: figure1; "
                        "with --journal: all)")
    p.add_argument("--journal", action="store_true",
                   help="write the figures in every journal format: PDF, SVG, PNG and TIFF at 300 and "
                        "600 dpi, at 89 and 183 mm (default: PDF and 300 dpi PNG)")
    p.add_argument("--overrides", type=Path, default=None,
                   help="CSV of city,state,country,lat,lon placing sites the gazetteer cannot "
                   "(see geo_unmatched.csv in the outputs); recorded in provenance.json")
    p.add_argument("--offline", action="store_true",
                   help="never touch the network: process the newest local snapshot (or --snapshot)")
    p.add_argument("--api-url", default=None,
                   help=f"API v2 base URL (default: $TRIALMAP_API_URL or {DEFAULT_API_URL})")
    p.add_argument("--query", type=Path, default=None,
                   help="API query TOML (default: the bundled trialmap/data/ctgov_query.toml)")
    p.add_argument("--incremental", action="store_true",
                   help="fetch only studies updated since the newest snapshot of the same query")
    p.add_argument("--require-fresh", action="store_true",
                   help="fail (exit 1) instead of falling back to a local snapshot when fetching fails")
    p.add_argument("--max-studies", type=int, default=None,
                   help="refuse a query matching more studies than this (default: the query file's)")
    p.add_argument("--page-size", type=int, default=None,
                   help="studies per page (default: the query file's, 1000, the API's maximum)")
    p.add_argument("--min-interval", type=float, default=1.0,
                   help="seconds between two requests (default 1.0: about one request per second)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # urllib3 logs every retry; the fetch step reports the outcome in one line instead.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    try:
        if args.figures is not None:
            figure_names(args.figures)  # a typo fails now, not after the work
        definition = studyset.load_definition(args.definition)
        if args.switch:
            definition = studyset.with_switches(definition, _parse_switches(args.switch))
        rule = aggregate.CountingRule(
            args.counting_rule, withdrawn_sites=not args.drop_withdrawn_sites,
            removed_countries=args.count_removed_countries, no_location=args.no_location_bucket,
        )
        raw = args.data_dir / "raw"
        snap, fetch_info = None, None
        if args.snapshot is None and not args.offline:
            snap, fetch_info = fetch_step(args, raw)
        if fetch_info is not None and fetch_info["fallback"]:
            try:
                snap = open_snapshot(None, raw)
            except TrialmapError as exc:
                msg = f"{fetch_info['error']}, and no local snapshot to fall back on: {exc}"
                raise FetchError(msg) from exc
            _say(args, f"trialmap: {fetch_info['error']}; processing the newest local snapshot "
                       f"{snap.id} instead")
        if snap is None:
            snap = open_snapshot(args.snapshot, raw)
            if not args.quiet and fetch_info is None:
                print(  # noqa: T201 - the CLI talks to its user
                    f"trialmap: processing local snapshot {snap.id} (not fetched: "
                    f"{'--snapshot given' if args.snapshot else '--offline'})",
                    file=sys.stderr,
                )
        if fetch_info is not None and fetch_info.get("fallback"):
            fetch_info["fallback_snapshot"] = snap.id
        result = dataclasses.replace(
            process(snap, definition, rule=rule, as_of=args.as_of, overrides=args.overrides),
            fetch=fetch_info,
        )
        out = write_outputs(result, args.data_dir / "processed", argv, journal=args.journal,
                            figures=args.figures)
    except TrialmapError as exc:
        print(f"trialmap: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        print("trialmap: interrupted; no output folder was written", file=sys.stderr)  # noqa: T201
        return 130
    if not args.quiet:
        print(summary(result, out, time.perf_counter() - t0))  # noqa: T201
    return 0


def fetch_step(
    args: argparse.Namespace, raw: Path, client: Any = None
) -> tuple[Snapshot | None, dict[str, Any]]:
    """Fetch a new snapshot; on an unreachable API return (None, info) so the caller falls back.

    ``client`` (a :class:`trialmap.fetch.Client`) replaces the one built from
    ``args`` (tests inject one with tiny backoff).

    Raises
    ------
    FetchError
        The API answered but broke the protocol, the size guard tripped, or
        (with ``--require-fresh``) it could not be reached.
    """
    from trialmap import fetch, query
    from trialmap.snapshot import FORMAT_INCREMENTAL, FORMAT_PAGES, list_snapshots, write_fetched

    url = args.api_url or os.environ.get("TRIALMAP_API_URL") or DEFAULT_API_URL
    q = query.load_query(args.query)
    info: dict[str, Any] = {
        "attempted_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "api_url": url, "query": q.label, "fetched": False, "fallback": False,
        "incremental": False, "error": None,
    }
    base = None
    if args.incremental:
        same = [
            m for m in list_snapshots(raw)
            if m["format"] in (FORMAT_PAGES, FORMAT_INCREMENTAL)
            and m.get("query", {}).get("params") == q.request_params()
        ]
        if same:
            base = open_snapshot(same[-1]["path"], raw)
        else:
            _say(args, "trialmap: no earlier snapshot of this query to refresh; fetching in full")
    bar = None

    def progress(done: int, expected: int) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=expected, unit="page", desc="fetching", file=sys.stderr, leave=False)
        bar.total = expected
        bar.update(done - bar.n)

    if client is None:
        client = fetch.Client(url, min_interval=args.min_interval)
    url = info["api_url"] = client.api_url
    try:
        if base is None:
            run = fetch.fetch_full(client, q, page_size=args.page_size, max_studies=args.max_studies,
                                   progress=progress)
        else:
            have = set(read_snapshot(base).studies["nct_id"])
            since = str(base.manifest["registry_data_date"])
            run = fetch.fetch_changes(client, q, since, have, page_size=args.page_size,
                                      max_studies=args.max_studies, progress=progress)
    except ApiUnavailableError as exc:
        if args.require_fresh:
            raise
        info.update(error=str(exc), fallback=True)
        return None, info
    finally:
        client.close()
        if bar is not None:
            bar.close()
    snap = write_fetched(raw, run, base=base)
    info.update(
        fetched=True, incremental=base is not None, snapshot_id=snap.id, requests=run.requests,
        bytes=run.bytes, base_snapshot=base.id if base is not None else None,
    )
    _say(args, f"trialmap: fetched {snap.manifest['record_count']} studies from {url} into "
               f"snapshot {snap.id} ({run.requests} requests, {run.bytes:,} bytes)")
    return snap, info


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr)  # noqa: T201 - the CLI talks to its user


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
