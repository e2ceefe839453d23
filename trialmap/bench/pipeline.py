"""Pipeline benchmark: every stage, from the bundled snapshot up to registry scale.

``python -m trialmap.bench pipeline [--sizes bundled,10k,50k] [--zip 600k] [--profile DIR] [--keep]``

For each size, in a fresh subprocess (so one size's memory does not colour the next):

=================  =========================================================================
read snapshot      ``open_snapshot``: manifest + sha256 of every file (reads every byte)
canonical tables   ``pipeline.read``: the snapshot's reader (JSON parse, rows, dates)
geocode            ``pipeline.locate``: ISO3 + gazetteer + placement (registry > gazetteer > country)
study set          ``pipeline.select``: the study set, inclusion log and flow
aggregate          ``pipeline.count``: country and region counts + the no-location row
figure             Figure 1 drawn and exported as PDF + 300 dpi PNG (``export_figure``; the PNG in a
                   forked copy, as in the main command; RSS at the stage's ends only)
=================  =========================================================================

The four middle stages are :func:`trialmap.pipeline.run` itself, timed through its ``timer=`` hook.
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
  snapshot, warm: after one warm-up run) / (``python -c "import pandas, geopandas,
  matplotlib.pyplot"`` + reading and JSON-parsing the bundled snapshot's records (best of
  5)); the command and the imports are timed in five alternating rounds, best of each
  (medians printed too); target at most 2;
* per generated size: snapshot -> country counts (stages 1-5) / the decode floor, measured
  in the same subprocess just before the stages: every page read and decoded with msgspec
  into typed Structs of only the fields the pipeline reads, one core, no tables
  (:func:`decode_floor`); target at most 3 at 100k and 500k, peak RSS at 500k at most 2 GiB;
* ``--zip 600k``: a generated bulk download (json.zip of full records, see
  :func:`trialmap.bench.scale.generate_zip`) read to canonical tables: MB/s of uncompressed
  JSON (target at least 100) and peak RSS (at most 3 GiB);
* snapshot -> country counts (stages 1-5) at 500k: under 120 s and 4 GiB peak RSS;
* time(500k) / time(50k) for stages 1-5: at most 12 (linear growth allows 10);
* Figure 1 drawn + PDF + PNG: under 2 s.

``--profile DIR`` writes a pyinstrument profile (text) of every stage per size into DIR
(needs ``pip install trialmap[bench]``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
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
STAGES = ("read snapshot", "canonical tables", "geocode", "study set", "aggregate", "figure")
PIPELINE = STAGES[:5]  # snapshot -> country counts
MAIN_ROUNDS = 5  # the main command and its floor, timed in alternating rounds
GiB = 1 << 30
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


class PeakRSS:
    """Highest RSS seen while the block runs (a thread samples every ``interval`` s).

    ``sampled=False``: no thread, RSS at the block's ends only (a process with a second
    thread renders figures in-process, so the figure stage would not be timed as the main
    command runs it: PNG in a forked copy, see :mod:`trialmap.forked`).
    """

    def __init__(self, interval: float = 0.005, sampled: bool = True) -> None:
        self.interval = interval
        self.sampled = sampled
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = rss()
        self._thread = threading.Thread(target=self._run, daemon=True) if self.sampled else None
        if self._thread:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak = max(self.peak, rss())


@contextlib.contextmanager
def _measured(out: list[dict[str, Any]], name: str, unit: str, profile_dir: Path | None, size: str,
              sampled: bool = True):
    """Time the block, sample its peak RSS (and profile it with ``profile_dir``); append a row to ``out``."""
    prof = None
    if profile_dir is not None:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.001)
        prof.start()
    with PeakRSS(sampled=sampled) as mem:
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
    if prof is not None:
        prof.stop()
        profile_dir.mkdir(parents=True, exist_ok=True)
        (profile_dir / f"{size}-{name.replace(' ', '-')}.txt").write_text(prof.output_text(show_all=False))
    out.append({"stage": name, "seconds": seconds, "rows": None, "unit": unit, "rows_per_s": None,
                "peak_mib": mem.peak / 2**20})


def _rows(row: dict[str, Any], rows: int | None) -> None:
    row["rows"] = rows
    row["rows_per_s"] = rows / row["seconds"] if rows and row["seconds"] > 0 else None


def _stage(out: list[dict[str, Any]], name: str, rows: int | None, unit: str, fn: Callable[[], Any],
           profile_dir: Path | None, size: str, sampled: bool = True) -> Any:
    with _measured(out, name, unit, profile_dir, size, sampled):
        value = fn()
    _rows(out[-1], rows(value) if callable(rows) else rows)
    return value


def _floor_of(path: Path) -> dict[str, Any] | None:
    """The decode floor of a pages snapshot (None for other formats)."""
    from trialmap.snapshot import read_manifest

    m = read_manifest(path)
    if m.get("format") != "ctgov-v2-api-pages":
        return None
    return decode_floor([path / name for name in m["pages"]])


def _both(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """The floor measured before and after the stages: the faster counts (the stricter ratio)."""
    if not before or before.get("seconds") is None or not after:
        return before
    return {**before, "seconds": min(before["seconds"], after["seconds"]),
            "runs": [before["seconds"], after["seconds"]]}


def _timed_run(stages: list[dict[str, Any]], snap: Any, definition: Any, rule: Any,
               names: dict[str, tuple[str, str]], profile_dir: Path | None, size: str) -> Any:
    """``trialmap.pipeline.run`` with each of its stages timed (time, rows/s, peak RSS)."""
    from trialmap import pipeline

    def timer(stage: str):
        name, unit = names[stage]
        return _measured(stages, name, unit, profile_dir, size)

    run = pipeline.run(snap, definition, rule=rule, timer=timer)
    rows = {"studies": len(run.tables.studies), "sites": len(run.tables.sites)}
    for st in stages[-len(pipeline.STAGES):]:
        _rows(st, rows[st["unit"]])
    return run


def run_one(size: str, profile_dir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    """Run every stage on one size in this process; return the measurements."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trialmap import aggregate, studyset
    from trialmap.bench import scale
    from trialmap.figures.export import export_figure, journal_rc
    from trialmap.snapshot import _remove_tree, open_snapshot

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
    floor = _floor_of(path)
    base_rss = rss()
    try:
        snap = _stage(stages, "read snapshot", None, "studies", lambda: open_snapshot(path, path.parent),
                      profile_dir, size)
        n_studies = int(snap.manifest.get("record_count") or 0) or None
        stages[-1]["rows"] = n_studies
        stages[-1]["rows_per_s"] = n_studies / stages[-1]["seconds"] if n_studies else None

        # The library's one stage order (trialmap.pipeline.STAGES), each stage timed by the hook.
        names = {"read": ("canonical tables", "studies"), "locate": ("geocode", "sites"),
                 "select": ("study set", "studies"), "count": ("aggregate", "sites")}

        result = _timed_run(stages, snap, definition, rule, names, profile_dir, size)
        tables, log, counts = result.tables, result.inclusion_log, result.country_counts
        n_studies = len(tables.studies)
        n_sites = len(tables.sites)

        def figure_stage():
            with tempfile.TemporaryDirectory() as tmp:
                with matplotlib.rc_context(journal_rc("double")):
                    ax = result.figure1()
                try:
                    export_figure(ax.figure, Path(tmp) / "figure1", result.provenance([]),
                                  formats=("pdf", "png"), dpis=(300,))
                finally:
                    plt.close(ax.figure)
            return len(counts)

        _stage(stages, "figure", len(counts), "countries", figure_stage, profile_dir, size, sampled=False)
        included = int(log["included"].sum())
        floor_after = _floor_of(path)
    finally:
        if generated is not None:
            _remove_tree(generated)
    return {
        "size": size, "studies": n_studies, "sites": n_sites, "included": included,
        "top": counts.head(3)[["iso3", "n_trials"]].to_dict(orient="records"),
        "base_rss_mib": base_rss / 2**20,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "generate_seconds": t_gen, "stages": stages, "floor": _both(floor, floor_after),
        "threads": _threads(),
        "snapshot_mb": sum(e["bytes"] for e in snap.manifest["files"]) / 1e6,
    }


# ---------------------------------------------------------------- the decode floor of a pages snapshot


def _floor_types() -> Any:
    """msgspec Structs holding only the fields the pipeline reads (the decode floor's types)."""
    from trialmap.bench._floor import decoder

    return decoder()


def decode_floor(pages: Sequence[Path]) -> dict[str, Any]:
    """The decode floor of a pages snapshot: read every page and decode it with msgspec into
    typed Structs of only the fields the pipeline reads; decode only, one core, no tables.

    Returns ``{"seconds", "json_mb"}``, or ``{"seconds": None, "why"}`` without msgspec
    (``pip install trialmap[bench]``).
    """
    try:
        decoder = _floor_types()
    except ImportError:
        return {"seconds": None, "why": "msgspec is not installed (pip install trialmap[bench])"}
    t0 = time.perf_counter()
    size = 0
    for page in pages:
        data = Path(page).read_bytes()
        size += len(data)
        decoder.decode(data)
    return {"seconds": time.perf_counter() - t0, "json_mb": size / 1e6}


# ---------------------------------------------------------------- the bulk download (json.zip)


def run_zip(size: str, keep: bool = False) -> dict[str, Any]:
    """Generate (or reuse) a json.zip of ``size`` full records and read it to canonical tables."""
    from trialmap import pipeline
    from trialmap.bench import scale
    from trialmap.snapshot import _remove_tree
    from trialmap.sources import bulk_zip

    n = scale.parse_size(size)
    existed = (scale.default_dir() / scale.zip_snapshot_id(n) / "manifest.json").is_file()
    t0 = time.perf_counter()
    if not existed:  # generated in another process, so that the generator's memory is not counted
        subprocess.run([sys.executable, "-m", "trialmap.bench", "scale", str(n), "--json-zip"], check=True,
                       capture_output=True)
    t_gen = time.perf_counter() - t0
    snap = scale.generate_zip(n)
    path = snap.file(snap.manifest["files"][0]["name"])
    zip_mb = path.stat().st_size / 1e6
    report = bulk_zip.Report()
    base = rss()
    try:
        # with the allocator settings pipeline.run reads a snapshot of this size with
        with PeakRSS() as mem, pipeline._malloc_for_arrow(large=True):
            t0 = time.perf_counter()
            tables = bulk_zip.read(path, report)
            seconds = time.perf_counter() - t0
    finally:
        if not (existed or keep):
            _remove_tree(snap.path)
    return {
        "size": size, "studies": len(tables.studies), "sites": len(tables.sites), "seconds": seconds,
        "json_mb": report.json_bytes / 1e6, "zip_mb": zip_mb,
        "mb_per_s": report.json_bytes / 1e6 / seconds, "peak_mib": mem.peak / 2**20,
        "base_rss_mib": base / 2**20, "generate_seconds": None if existed else t_gen,
        "threads": _threads(),
    }


def _threads() -> int:
    from trialmap.sources.v2 import workers

    return workers()


# ---------------------------------------------------------------- the main command vs its baseline


def _best(cmd: list[str], n: int, cwd: Path | None = None) -> float:
    # Python's own default: bytecode written on first import and reused (a sandbox setting
    # PYTHONDONTWRITEBYTECODE made every run of an editable install compile trialmap
    # again, 0.3-0.5 s, while the libraries of the floor load theirs from install time).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
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
    for _ in range(MAIN_ROUNDS):
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
    parse = parse_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(BUNDLED_RAW / BUNDLED_ID, data / "raw" / BUNDLED_ID)
        cmd = [py, "-m", "trialmap.refresh", "--data-dir", str(data), "--offline", "-q"]
        imp = [py, "-c", "import pandas, geopandas, matplotlib.pyplot"]
        _best(cmd, 1, cwd=ROOT)  # warm-up (file cache, matplotlib font cache, bytecode)
        # Rounds of one of each, best of each: a shared machine's load changes from one
        # minute to the next, and both sides of the ratio then see the same minutes. The
        # command needs both cores at once and is hit harder by other tenants than the
        # one-core imports: five rounds (with three, the ratio moved by 0.2 between calls).
        rounds = [(_best(imp, 1), _best(cmd, 1, cwd=ROOT)) for _ in range(MAIN_ROUNDS)]
        imports, main = min(r[0] for r in rounds), min(r[1] for r in rounds)
        outputs = sorted(str(p.relative_to(data / "processed" / BUNDLED_ID))
                         for p in (data / "processed" / BUNDLED_ID).rglob("*") if p.is_file())
    return {"imports": imports, "parse": parse, "main": main, "n_outputs": len(outputs),
            "main_median": statistics.median(r[1] for r in rounds),
            "imports_median": statistics.median(r[0] for r in rounds)}


# ---------------------------------------------------------------- report


def _fmt_rate(r: float | None) -> str:
    if not r:
        return ""
    return f"{r / 1e6:.2f}M" if r >= 1e6 else f"{r / 1e3:.1f}k" if r >= 1e3 else f"{r:.0f}"


def _floor_lines(r: dict[str, Any]) -> list[str]:
    floor = r.get("floor")
    if not floor:
        return []
    if floor.get("seconds") is None:
        return [f"  decode floor: not measured ({floor['why']})"]
    pipe = sum(s["seconds"] for s in r["stages"] if s["stage"] in PIPELINE)
    tables = next(s["seconds"] for s in r["stages"] if s["stage"] == "canonical tables")
    return [f"  {'decode floor':18} {floor['seconds']:8.2f} {_fmt_rate(r['studies'] / floor['seconds']):>8} "
            f"{r['studies']:>10,} studies   (msgspec typed, 1 core, {floor['json_mb']:.0f} MB of pages, "
            f"best of {len(floor.get('runs', [0]))}: before and after the stages); "
            f"snapshot->counts / floor = {pipe / floor['seconds']:.2f}, canonical tables / floor = "
            f"{tables / floor['seconds']:.2f}  ({r.get('threads', 1)} reader threads)"]


def zip_report(z: dict[str, Any]) -> str:
    ok = z["mb_per_s"] >= 100 and z["peak_mib"] <= 3 * 1024
    return (f"\njson.zip {z['size']}: {z['studies']:,} studies, {z['sites']:,} sites, "
            f"{z['json_mb']:,.0f} MB of JSON ({z['zip_mb'] or 0:,.0f} MB zipped) read to canonical tables "
            f"in {z['seconds']:.1f} s = "
            f"{z['mb_per_s']:.0f} MB/s, peak RSS {z['peak_mib']:,.0f} MiB ({z['threads']} threads)  "
            f"(target >= 100 MB/s and <= 3 GiB: {'met' if ok else 'NOT met'})")


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
        lines.extend(_floor_lines(r))
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
            f"parse {main['parse']:.2f} s = {base:.2f} s) = {ratio:.2f}  (target <= 2: "
            f"{'met' if ratio <= 2 else 'NOT met'}; best of {MAIN_ROUNDS} rounds, medians "
            f"{main['main_median']:.2f} s and {main['imports_median']:.2f} s)"
        )
    for r in results:
        floor = (r.get("floor") or {}).get("seconds")
        if floor:
            ratio = pipe_s(r) / floor
            peak = max(s["peak_mib"] for s in r["stages"] if s["stage"] in PIPELINE)
            mem = (f", peak RSS {peak / 1024:.2f} GiB (target <= 2 GiB at 500k: "
                   f"{'met' if peak <= 2048 else 'NOT met'})") if r["size"] == "500k" else ""
            target = (f"target <= 3: {'met' if ratio <= 3 else 'NOT met'}" if r["studies"] >= 100_000
                      else "no target below 100k, where fixed costs such as the gazetteer's load weigh")
            lines.append(f"  {r['size']} snapshot->counts {pipe_s(r):.2f} s / decode floor {floor:.2f} s = "
                         f"{ratio:.2f}  ({target}){mem}")
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
    p.add_argument("--zip", default="", metavar="SIZES",
                   help="also read generated bulk downloads (json.zip of full records) of these sizes, "
                        "e.g. 600k")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one size, JSON to stdout
    p.add_argument("--one-zip", default=None, help=argparse.SUPPRESS)  # internal: one json.zip size
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.profile, args.keep)))  # noqa: T201
        return 0
    if args.one_zip:
        print(json.dumps(run_zip(args.one_zip, args.keep)))  # noqa: T201
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
    zips = []
    for size in [z.strip() for z in args.zip.split(",") if z.strip()]:
        cmd = [sys.executable, "-m", "trialmap.bench", "pipeline", "--one-zip", size]
        cmd += ["--keep"] if args.keep else []
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"json.zip {size} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)  # noqa: T201
            return 1
        zips.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(zip_report(zips[-1]), flush=True)  # noqa: T201
    main_t = None if args.no_main or "bundled" not in sizes else main_command()
    full = report(results, main_t)
    print(full[full.index("\nratios"):])  # noqa: T201
    if args.json:
        args.json.write_text(json.dumps({"results": results, "main_command": main_t, "json_zip": zips},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
