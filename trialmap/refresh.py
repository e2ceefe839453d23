"""``python -m trialmap.refresh``: fetch (or fall back), run the pipeline, write the outputs.

Argument parsing and printing only: the stages are :func:`trialmap.pipeline.run`,
the writing :func:`trialmap.outputs.write`.
"""

from __future__ import annotations

import signal
import sys

if __name__ == "__main__":
    # `python -m trialmap.refresh`: a Ctrl-C while the libraries load ends the process at
    # once with status 130 and no traceback; main() then turns Ctrl-C into a clean stop
    # (trialmap.sigint). No cyclic garbage collection while they load (see _collector).
    # Before the other imports on purpose.
    import gc

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    gc.disable()

import argparse
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trialmap import cli, forked, paths, pipeline
from trialmap.errors import (
    ApiRefusedError,
    ApiUnavailableError,
    FetchError,
    TrialmapError,
)
from trialmap.query import DEFAULT_API_URL

COUNTING_RULES = ("trials", "sites", "fractional")


def summary(run: pipeline.Run, out: Path | None, seconds: float) -> str:
    """What the main command prints after a run."""
    how = "local snapshot, not fetched"
    if run.fetch and run.fetch.get("fetched"):
        how = f"fetched now: {run.fetch['requests']} requests, {run.fetch['bytes']:,} bytes"
    elif run.fetch and run.fetch.get("fallback"):
        how = "local snapshot, not fetched: the API could not be reached"
    f = run.flow_numbers()
    flow = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in f.items())
    lines = [
        f"snapshot   {run.snapshot.id} (registry data date {run.data_date}; {how})",
        f"definition {run.definition.label}: {run.definition.title}",
        f"counting   {run.rule.describe()}",
        *([f"as of      {run.as_of} (sites as the snapshot records them)"] if run.as_of else []),
        f"flow       {flow}",
    ]
    if run.unknown_countries.empty:
        lines.append("countries  every site country name is known")
    else:
        listed = ", ".join(f"{r.country!r} ({r.n_sites})" for r in run.unknown_countries.itertuples())
        lines.append(f"countries  UNKNOWN names, sites not mapped: {listed}")
    lines.append(
        "geocoding  "
        + ", ".join(f"{r.geo_source}/{r.geo_precision} {r.n_sites}" for r in run.geo_audit.itertuples())
        + (f"; {len(run.geo_unmatched)} place keys at country level or unplaced (geo_unmatched.csv)"
           if run.geo_unmatched is not None else "")
    )
    col = run.rule.column

    def fmt(v: float) -> str:
        return f"{v:.1f}" if col == "trial_share" else f"{int(v)}"

    top = run.country_counts.head(10)
    lines.append("top ten    " + ", ".join(f"{r.country} {fmt(getattr(r, col))}" for r in top.itertuples()))
    rc = run.region_counts.set_index("region")[col]
    lines.append("regions    " + ", ".join(f"{k} {fmt(v)}" for k, v in rc.items()))
    if run.no_location is not None:
        n = int(run.no_location["n_trials"].iloc[0])
        lines.append(f"no location {n} in-scope trial(s) with no counted site")
    if out is not None:
        lines.append(f"outputs    {out}")
    lines.append(f"time       {seconds:.1f} s")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The main command's options."""
    p = argparse.ArgumentParser(
        prog="python -m trialmap.refresh",
        description="Process a ClinicalTrials.gov snapshot into tables, counts per country and the "
                    "Figure 1 world map under DATA_DIR/processed/<snapshot-id>/.",
    )
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder holding raw/ and processed/ (default: $TRIALMAP_DATA, else ./data if it "
                        "exists, else a per-user folder)")
    p.add_argument("--snapshot", default=None,
                   help="snapshot id (folder name under DATA_DIR/raw) or path; default: the newest")
    p.add_argument("--definition", default=None, metavar="NAME|FILE",
                   help="study-set definition: a shipped name (`trialmap definition --list`) or a TOML file")
    p.add_argument("--switch", action="append", default=[], metavar="NAME=on|off",
                   help="flip a judgement call of the definition, e.g. --switch osteoarthritis=on "
                        "(repeatable)")
    p.add_argument("--counting-rule", choices=COUNTING_RULES, default="trials",
                   help="trials (distinct trials with a site in the country; default), sites "
                        "(trial x site rows) or fractional (a trial in k countries adds 1/k to each)")
    p.add_argument("--drop-withdrawn-sites", action="store_true",
                   help="do not count sites whose status is WITHDRAWN")
    p.add_argument("--count-removed-countries", action="store_true",
                   help="also count a trial in the countries the registry lists as removed from it")
    p.add_argument("--no-location-bucket", action=argparse.BooleanOptionalAction, default=True,
                   help="report in-scope trials with no counted site as '(no location)' (default: on)")
    p.add_argument("--as-of", type=cli.date_arg, default=None, metavar="YYYY-MM-DD",
                   help="keep only trials first posted on or before this date (sites stay as the "
                        "snapshot records them); not after the registry data date")
    p.add_argument("--figures", default=None, metavar="all|NAME,...",
                   help="figures to write: 'all' (the suite) or names separated by commas "
                        "(default: figure1; with --journal: all)")
    p.add_argument("--journal", action="store_true",
                   help="write the figures in every journal format: PDF, SVG, PNG and TIFF at 300 and "
                        "600 dpi, at 89 and 183 mm (default: PDF and 300 dpi PNG)")
    p.add_argument("--overrides", type=Path, default=None,
                   help="CSV of city,state,country,lat,lon placing sites the gazetteer cannot "
                        "(see geo_unmatched.csv in the outputs); recorded in provenance.json")
    p.add_argument("--full-paths", action="store_true",
                   help="record absolute paths and the platform in provenance (default: file names only)")
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
    p.add_argument("--max-studies", type=cli.int_range(1), default=None,
                   help="refuse a query matching more studies than this (default: the query file's)")
    p.add_argument("--page-size", type=cli.int_range(1, 1000), default=None,
                   help="studies per page, 1-1000 (default: the query file's, 1000, the API's maximum)")
    p.add_argument("--min-interval", type=float, default=1.0,
                   help="seconds between two requests (default 1.0: about one request per second)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr)  # noqa: T201 - the CLI talks to its user


def fetch_step(args: argparse.Namespace, data_dir: Path, client: Any = None) -> tuple[Any, dict[str, Any]]:
    """Fetch a new snapshot; on an unreachable API return (None, info) so the caller falls back.

    Raises
    ------
    FetchError
        The API broke the protocol, the size guard tripped, or (``--require-fresh``)
        it could not be reached or refused the client.
    """
    url = args.api_url or DEFAULT_API_URL
    info: dict[str, Any] = {
        "attempted_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "api_url": url, "fetched": False, "fallback": False, "incremental": args.incremental, "error": None,
    }
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

    try:
        snap = pipeline.fetch(args.query, data_dir, api_url=args.api_url, incremental=args.incremental,
                              page_size=args.page_size, max_studies=args.max_studies,
                              min_interval=args.min_interval, progress=progress, client=client)
    except (ApiUnavailableError, ApiRefusedError) as exc:
        if args.require_fresh:
            raise
        info.update(error=str(exc), fallback=True)
        return None, info
    finally:
        if bar is not None:
            bar.close()
    f = snap.manifest.get("fetch", {})
    info.update(fetched=True, snapshot_id=snap.id, requests=f.get("requests"), bytes=f.get("bytes_received"),
                api_url=snap.manifest.get("source", {}).get("api_url", url),
                base_snapshot=(snap.manifest.get("incremental") or {}).get("base", {}).get("snapshot_id"))
    _say(args, f"trialmap: fetched {snap.manifest['record_count']} studies into snapshot {snap.id} "
               f"({info['requests']} requests, {info['bytes'] or 0:,} bytes)")
    return snap, info


def _snapshot(args: argparse.Namespace, data_dir: Path) -> tuple[Any, dict[str, Any] | None]:
    snap, info = None, None
    if args.snapshot is None and not args.offline:
        snap, info = fetch_step(args, data_dir)
    if info is not None and info["fallback"]:
        try:
            snap = pipeline.open_snapshot(None, data_dir)
        except TrialmapError as exc:
            msg = f"{info['error']}, and no local snapshot to fall back on: {exc}"
            raise FetchError(msg) from exc
        info["fallback_snapshot"] = snap.id
        _say(args, f"trialmap: {info['error']}; processing the local snapshot {snap.id} instead")
    if snap is None:
        snap = pipeline.open_snapshot(args.snapshot, data_dir)
        _say(args, f"trialmap: processing local snapshot {snap.id} (not fetched: "
                   f"{'--snapshot given' if args.snapshot else '--offline'})")
    return snap, info


def main(argv: Sequence[str] | None = None) -> int:
    """Run the main command; returns the exit code (0 done, 1 error, 2 usage, 130 interrupted)."""
    argv_given, argv = argv, list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # urllib3 logs every retry; the fetch step reports the outcome in one line instead.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    from trialmap.sigint import caused_by_ctrl_c, interrupts

    with interrupts() as sigint:
        try:
            return _main(args, argv, t0, sigint, program=argv_given is None)
        except BaseException as exc:  # KeyboardInterrupt, or one Python wrapped (caused_by_ctrl_c)
            if not caused_by_ctrl_c(exc):
                raise
            print("trialmap: interrupted; nothing half-written is left (snapshots and output "  # noqa: T201
                  "folders are written whole or not at all)", file=sys.stderr)
            return 130


def _collector(program: bool, small: bool) -> None:
    """As the program, a small run does without the cyclic garbage collector (a short-lived
    process: on the bundled snapshot its processes spent 0.3 of 4.7 s of CPU in it, and the
    highest resident set grew by 2.5 MiB without it; with ``--figures all --journal`` 583 ->
    612 MiB); a large run collects as usual. A caller's own process (a notebook, the tests)
    is left alone.
    """
    if program:
        import gc

        (gc.disable if small else gc.enable)()


def _main(args: argparse.Namespace, argv: list[str], t0: float, sigint: Any, program: bool = False) -> int:
    try:
        from trialmap import aggregate
        from trialmap.figures import suite

        if args.figures is not None:
            suite.figure_names(args.figures)  # a typo fails now, not after the work
        data_dir = paths.data_dir(args.data_dir)
        definition = pipeline.load_definition(args.definition, cli.parse_switches(args.switch))
        rule = aggregate.CountingRule(
            args.counting_rule, withdrawn_sites=not args.drop_withdrawn_sites,
            removed_countries=args.count_removed_countries, no_location=args.no_location_bucket,
        )
        snap, info = _snapshot(args, data_dir)

        def compute() -> pipeline.Run:
            return pipeline.run(snap, definition, rule=rule, as_of=args.as_of, overrides=args.overrides,
                                fetch=info)

        small = int(snap.manifest.get("record_count") or 0) <= forked.SMALL_RECORDS
        _collector(program, small)  # before the fork: the copy inherits it
        if small:
            # A forked copy runs the pipeline while this process loads the figure stack (a
            # second of imports and map data); the run comes back pickled (5 MB for the
            # bundled snapshot). A large snapshot runs here: its run would be costly to copy.
            with forked.beside(compute) as computed:
                suite.warm_up()
                run = computed()
        else:
            run = compute()
        if len(run.included) == 0 and not args.quiet:
            print(f"trialmap: warning: no trial is left to map ({run.definition.label}"  # noqa: T201
                  f"{', as of ' + args.as_of if args.as_of else ''}, snapshot {snap.id}): the map is empty",
                  file=sys.stderr)
        out = run.write(data_dir / "processed", figures=args.figures, journal=args.journal, argv=argv)
    except TrialmapError as exc:
        print(f"trialmap: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if sigint.received:
        # A Ctrl-C that a finalizer swallowed: the run finished, but it was asked to stop.
        print(f"trialmap: interrupted; the outputs in {out} were complete before it",  # noqa: T201
              file=sys.stderr)
        return 130
    if not args.quiet:
        print(summary(run, out, time.perf_counter() - t0))  # noqa: T201
    return 0


if __name__ == "__main__":
    from trialmap.sigint import leave, quiet_exit

    try:
        code = main()
    except BrokenPipeError:  # e.g. piped into head
        code = 0
    quiet_exit()  # a Ctrl-C during shutdown: exit 130 at once, no traceback
    leave(code)
