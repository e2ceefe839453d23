"""Pipeline benchmark: every stage, from the bundled snapshot up to registry scale.

``python -m trialmap.bench pipeline [--sizes bundled,10k,50k] [--profile DIR] [--keep]``

For each size, in a fresh subprocess (so one size's memory does not colour the next):

=================  =========================================================================
read snapshot      ``open_snapshot``: manifest + sha256 of every file (reads every byte)
canonical tables   ``read_snapshot`` (JSON parse, rows, dates) + ``countries.to_iso3``
study set          ``studyset.select`` + ``flow_counts``
geocode            ``gazetteer.load`` + ``geocode.place_sites`` (registry > gazetteer > country)
aggregate          ``country_counts`` + ``region_counts`` + the no-location row
figure             Figure 1 drawn and exported as PDF + 300 dpi PNG (``export_figure``)
=================  =========================================================================

The stages call the same functions, in the same way, as :func:`trialmap.refresh.process`.
Per stage: wall time, throughput (the stage's input rows per second: studies, or
sites for geocode and aggregate) and peak memory: the process's resident set size
(RSS, from ``/proc/self/statm``) sampled every 5 ms by a thread, the highest value seen
during the stage. RSS rather than tracemalloc because pandas keeps strings in Arrow
buffers that tracemalloc does not see, and tracemalloc slows allocation-heavy code.
``ru_maxrss`` (``resource.getrusage``) of each subprocess is printed as a check.

Sizes: ``bundled`` (the real classic snapshot, 1,783 records) and generated snapshots
(``10k``, ``50k``, ``100k``, ``500k`` or any number, see :mod:`trialmap.bench.scale`;
generated under ``$TMPDIR/trialmap-scale`` and deleted afterwards unless ``--keep``).
``--sizes all`` is bundled,10k,50k,100k,500k.

Ratios printed at the end, all measured in this run:

* main command (``python -m trialmap.refresh --offline`` on a copy of the bundled
  snapshot, warm: best of 2 after one warm-up run) / (``python -c "import pandas,
  geopandas, matplotlib.pyplot"`` (best of 3) + reading and JSON-parsing the bundled
  snapshot's records (best of 3)); target at most 3;
* snapshot -> country counts (stages 1-5) at 500k: under 120 s and 4 GiB peak RSS;
* time(500k) / time(50k) for stages 1-5: at most 12 (linear growth allows 10);
* Figure 1 drawn + PDF + PNG: under 2 s.

``--profile DIR`` writes a pyinstrument profile (text) of every stage per size into DIR
(needs ``pip install trialmap[bench]``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_ID = "ctgov-classic-2022-01-21"
BUNDLED_RAW = ROOT / "data" / "raw"
QUICK = "bundled,10k,50k"
ALL = "bundled,10k,50k,100k,500k"
STAGES = ("read snapshot", "canonical tables", "study set", "geocode", "aggregate", "figure")
PIPELINE = STAGES[:5]  # snapshot -> country counts
GiB = 1 << 30
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


class PeakRSS:
    """Highest RSS seen while the block runs (a thread samples every ``interval`` s)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def _stage(out: list[dict[str, Any]], name: str, rows: int | None, unit: str, fn: Callable[[], Any],
           profile_dir: Path | None, size: str) -> Any:
    prof = None
    if profile_dir is not None:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.001)
        prof.start()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - t0
    if prof is not None:
        prof.stop()
        profile_dir.mkdir(parents=True, exist_ok=True)
        (profile_dir / f"{size}-{name.replace(' ', '-')}.txt").write_text(prof.output_text(show_all=False))
    if callable(rows):
        rows = rows(value)
    out.append({"stage": name, "seconds": seconds, "rows": rows, "unit": unit,
                "rows_per_s": (rows / seconds) if rows and seconds > 0 else None,
                "peak_mib": mem.peak / 2**20})
    return value


def run_one(size: str, profile_dir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    """Run every stage on one size in this process; return the measurements."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trialmap import aggregate, boundaries, countries, gazetteer, geocode, studyset
    from trialmap.bench import scale
    from trialmap.figures.export import export_figure, journal_rc
    from trialmap.figures.suite import draw as draw_suite_figure
    from trialmap.refresh import Result, _provenance
    from trialmap.snapshot import _remove_tree, open_snapshot
    from trialmap.sources import read_snapshot

    generated = None
    t_gen = None
    if size == "bundled":
        path = BUNDLED_RAW / BUNDLED_ID
    else:
        n = scale.parse_size(size)
        existed = (scale.default_dir() / scale.snapshot_id(n) / "manifest.json").is_file()
        t0 = time.perf_counter()
        path = scale.generate(n).path
        t_gen = time.perf_counter() - t0
        generated = None if (existed or keep) else path
    definition = studyset.load_definition()
    rule = aggregate.CountingRule()
    stages: list[dict[str, Any]] = []
    base_rss = rss()
    try:
        snap = _stage(stages, "read snapshot", None, "studies", lambda: open_snapshot(path, path.parent),
                      profile_dir, size)
        n_studies = int(snap.manifest.get("record_count") or 0) or None
        stages[-1]["rows"] = n_studies
        stages[-1]["rows_per_s"] = n_studies / stages[-1]["seconds"] if n_studies else None

        def tables_stage():
            t = read_snapshot(snap)
            sites = t.sites.assign(iso3=countries.to_iso3(t.sites["country"]))
            return t.replace(sites=sites), countries.unknown_countries(t.sites["country"])

        tables, unknown = _stage(stages, "canonical tables", n_studies, "studies", tables_stage,
                                 profile_dir, size)
        n_studies = len(tables.studies)
        n_sites = len(tables.sites)

        def select_stage():
            log, cats = studyset.select(tables, definition)
            return log, cats, studyset.flow_counts(log)

        log, cats, flow = _stage(stages, "study set", n_studies, "studies", select_stage, profile_dir, size)

        def geocode_stage():
            return geocode.place_sites(tables.sites, boundaries.country_points(), gazetteer.load())

        sites = _stage(stages, "geocode", n_sites, "sites", geocode_stage, profile_dir, size)

        def aggregate_stage():
            ids = log.loc[log["included"], "nct_id"]
            names = countries.country_table().set_index("iso3")["name"].to_dict()
            removed = aggregate.removed_country_rows(tables.studies, countries.to_iso3)
            counts = aggregate.country_counts(sites, ids, names, rule, removed)
            regions = {r: countries.region_members(r) for r, _ in countries.REPORTED_REGIONS}
            rc = aggregate.region_counts(sites, ids, regions, rule, removed,
                                         schemes=dict(countries.REPORTED_REGIONS))
            in_scope = log.loc[log["step"].isin(["included", "with_site", "with_mapped_country"]), "nct_id"]
            aggregate.no_location_row(sites, in_scope, rule, removed)
            return counts, rc

        counts, rc = _stage(stages, "aggregate", n_sites, "sites", aggregate_stage, profile_dir, size)
        result = Result(snap, definition, tables.replace(sites=sites), log, flow, cats, counts, rc,
                        unknown, geocode.geo_audit(sites), rule=rule)

        def figure_stage():
            with tempfile.TemporaryDirectory() as tmp:
                with matplotlib.rc_context(journal_rc("double")):
                    ax = draw_suite_figure(result, "figure1")
                try:
                    export_figure(ax.figure, Path(tmp) / "figure1", _provenance(result, []),
                                  formats=("pdf", "png"), dpis=(300,))
                finally:
                    plt.close(ax.figure)
            return len(counts)

        _stage(stages, "figure", len(counts), "countries", figure_stage, profile_dir, size)
        included = int(log["included"].sum())
    finally:
        if generated is not None:
            _remove_tree(generated)
    return {
        "size": size, "studies": n_studies, "sites": n_sites, "included": included,
        "top": counts.head(3)[["iso3", "n_trials"]].to_dict(orient="records"),
        "base_rss_mib": base_rss / 2**20,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "generate_seconds": t_gen, "stages": stages,
        "snapshot_mb": sum(e["bytes"] for e in snap.manifest["files"]) / 1e6,
    }


# ---------------------------------------------------------------- the main command vs its baseline


def _best(cmd: list[str], n: int, cwd: Path | None = None) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            msg = f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}"
            raise RuntimeError(msg)
    return min(times)


def parse_seconds() -> float:
    """Read and JSON-parse every record of the bundled snapshot (no tables)."""
    from trialmap.sources.classic import iter_records

    tarball = BUNDLED_RAW / BUNDLED_ID / "full_studies.tar.gz"
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        n = sum(1 for _ in iter_records(tarball))
        best = min(best, time.perf_counter() - t0)
    if n != 1783:
        msg = f"the bundled snapshot has {n} records, expected 1783"
        raise RuntimeError(msg)
    return best


def main_command() -> dict[str, float]:
    """The main command on the bundled snapshot, warm, and its baseline, measured now."""
    py = sys.executable
    imports = _best([py, "-c", "import pandas, geopandas, matplotlib.pyplot"], 3)
    parse = parse_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(BUNDLED_RAW / BUNDLED_ID, data / "raw" / BUNDLED_ID)
        cmd = [py, "-m", "trialmap.refresh", "--data-dir", str(data), "--offline", "-q"]
        _best(cmd, 1, cwd=ROOT)  # warm-up (file cache, matplotlib font cache)
        main = _best(cmd, 2, cwd=ROOT)
        outputs = sorted(str(p.relative_to(data / "processed" / BUNDLED_ID))
                         for p in (data / "processed" / BUNDLED_ID).rglob("*") if p.is_file())
    return {"imports": imports, "parse": parse, "main": main, "n_outputs": len(outputs)}


# ---------------------------------------------------------------- report


def _fmt_rate(r: float | None) -> str:
    if not r:
        return ""
    return f"{r / 1e6:.2f}M" if r >= 1e6 else f"{r / 1e3:.1f}k" if r >= 1e3 else f"{r:.0f}"


def report(results: list[dict[str, Any]], main: dict[str, float] | None) -> str:
    lines = []
    for r in results:
        gen = f", generated in {r['generate_seconds']:.1f} s" if r["generate_seconds"] else ""
        lines.append(
            f"\n{r['size']}: {r['studies']:,} studies, {r['sites']:,} sites, "
            f"{r['snapshot_mb']:.0f} MB on disk, {r['included']:,} included{gen}; top "
            + ", ".join(f"{t['iso3']} {t['n_trials']}" for t in r["top"])
        )
        lines.append(f"  {'stage':18} {'seconds':>8} {'rows/s':>8} {'rows':>10} {'unit':9} "
                     f"{'peak RSS MiB':>12}")
        for s in r["stages"]:
            rows = f"{s['rows']:,}" if s["rows"] is not None else ""
            lines.append(f"  {s['stage']:18} {s['seconds']:8.2f} {_fmt_rate(s['rows_per_s']):>8} {rows:>10} "
                         f"{s['unit']:9} {s['peak_mib']:12.0f}")
        pipe = sum(s["seconds"] for s in r["stages"] if s["stage"] in PIPELINE)
        peak = max(s["peak_mib"] for s in r["stages"] if s["stage"] in PIPELINE)
        lines.append(f"  {'snapshot->counts':18} {pipe:8.2f} {_fmt_rate(r['studies'] / pipe):>8} "
                     f"{r['studies']:>10,} studies   {peak:12.0f}   (ru_maxrss {r['ru_maxrss_mib']:.0f} MiB)")
    by = {r["size"]: r for r in results}
    lines.append("\nratios and targets (this run)")

    def pipe_s(r: dict[str, Any]) -> float:
        return sum(s["seconds"] for s in r["stages"] if s["stage"] in PIPELINE)

    if main is not None:
        base = main["imports"] + main["parse"]
        ratio = main["main"] / base
        lines.append(
            f"  main command {main['main']:.2f} s ({main['n_outputs']} files) / "
            f"(imports {main['imports']:.2f} s + "
            f"parse {main['parse']:.2f} s = {base:.2f} s) = {ratio:.2f}  (target <= 3: "
            f"{'met' if ratio <= 3 else 'NOT met'})"
        )
    if "500k" in by:
        r = by["500k"]
        peak = max(s["peak_mib"] for s in r["stages"] if s["stage"] in PIPELINE) * 2**20
        ok = pipe_s(r) < 120 and peak < 4 * GiB
        lines.append(f"  500k snapshot->counts {pipe_s(r):.1f} s, peak RSS {peak / GiB:.2f} GiB  "
                     f"(target < 120 s and < 4 GiB: {'met' if ok else 'NOT met'})")
    if "500k" in by and "50k" in by:
        ratio = pipe_s(by["500k"]) / pipe_s(by["50k"])
        lines.append(f"  time(500k) / time(50k) = {pipe_s(by['500k']):.1f} / {pipe_s(by['50k']):.1f} = "
                     f"{ratio:.1f}  (target <= 12: {'met' if ratio <= 12 else 'NOT met'})")
    figs = [s["seconds"] for r in results for s in r["stages"] if s["stage"] == "figure"]
    if figs:
        lines.append(f"  Figure 1 draw + PDF + PNG: {min(figs):.2f} .. {max(figs):.2f} s over the sizes  "
                     f"(target < 2 s: {'met' if max(figs) < 2 else 'NOT met'})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trialmap.bench pipeline",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=QUICK,
                   help=f"comma-separated: bundled and/or numbers of studies (default {QUICK}; "
                        f"'all' = {ALL})")
    p.add_argument("--no-main", action="store_true", help="skip timing the main command")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="write a pyinstrument profile of every stage into DIR")
    p.add_argument("--keep", action="store_true", help="keep the generated snapshots (default: delete)")
    p.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one size, JSON to stdout
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.profile, args.keep)))  # noqa: T201
        return 0
    sizes = [s.strip() for s in (ALL if args.sizes == "all" else args.sizes).split(",") if s.strip()]
    results = []
    for size in sizes:
        cmd = [sys.executable, "-m", "trialmap.bench", "pipeline", "--one", size]
        cmd += ["--keep"] if args.keep else []
        cmd += ["--profile", str(args.profile)] if args.profile else []
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"size {size} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)  # noqa: T201
            return 1
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(report(results[-1:], None).split("\nratios")[0], flush=True)  # noqa: T201
    main_t = None if args.no_main or "bundled" not in sizes else main_command()
    full = report(results, main_t)
    print(full[full.index("\nratios"):])  # noqa: T201
    if args.json:
        args.json.write_text(json.dumps({"results": results, "main_command": main_t}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
