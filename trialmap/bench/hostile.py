"""The hostile world of issue 13, measured: each case run as a user runs it, in a fresh process.

``python -m trialmap.bench hostile [--root DIR] [--cases NAME,...] [--cap SECONDS]``
(from the repository root: it needs tests/ctgov_server.py, tests/data and the test
extras). For every case it prints exit code, wall time, peak RSS of the trialmap
process and the last line it wrote to stderr (or stdout), as a Markdown table.

``--root`` runs the trialmap of another source tree (e.g. an unpacked older commit,
``git archive <commit> | tar -x -C /tmp/before``) against the same cases, so
"before" and "after" are measured the same way. A process still running after
``--cap`` seconds (default 150) or above ``--mem-cap`` MiB (default 4096) is killed
and reported as such.

The API cases use the local test server with the real defaults of the client
(90 s deadline, 256 MiB per response, 1 request/s): ``trickle`` sends one byte
every 20 s and so shows that the default deadline ends such a server within two
minutes; ``endless`` sends a never-ending body of real records. The disk-full
cases need root (they mount a 1 MiB tmpfs) and are skipped otherwise. The faults
themselves are made up; every record, CSV row and snapshot is real.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path.cwd()
BUNDLED = "ctgov-classic-2022-01-21"


@dataclass
class Outcome:
    case: str
    rc: int | str
    seconds: float
    peak_mib: float
    last: str
    signalled: bool = False  # a SIGINT was sent while the process still ran


def _server():
    if not (HERE / "tests" / "ctgov_server.py").is_file():
        msg = "trialmap.bench hostile: run from the repository root (needs tests/ctgov_server.py)"
        raise SystemExit(msg)
    sys.path.insert(0, str(HERE))
    from tests import ctgov_server

    return ctgov_server


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(case: str, argv: list[str], root: Path, *, cap: float, mem_cap_mib: float,
        sigint_after: float | None = None, cwd: Path | None = None) -> Outcome:
    """Run ``python ARGV`` with ``root`` first on the path; measure it."""
    env = {**os.environ, "PYTHONPATH": str(root), "TRIALMAP_API_URL": "http://127.0.0.1:9/api/v2"}
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # SIGINT back to its default in the child: a shell's background job ignores it, and
        # Python started with SIGINT ignored never raises KeyboardInterrupt.
        p = subprocess.Popen([sys.executable, *argv], stdout=out, stderr=err, env=env,
                             cwd=cwd or root,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        peak, killed = 0, ""
        sent = False
        while True:
            if p.poll() is not None:
                break
            peak = max(peak, _rss_kib(p.pid))
            dt = time.monotonic() - t0
            if sigint_after is not None and not sent and dt >= sigint_after:
                p.send_signal(signal.SIGINT)
                sent = True
            if dt > cap:
                killed = f"killed: still running after {cap:g} s"
            elif peak / 1024 > mem_cap_mib:
                killed = f"killed: RSS {peak / 1024:,.0f} MiB after {dt:.1f} s"
            if killed:
                p.kill()
                p.wait()
                break
            time.sleep(0.02)
        seconds = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        text = err.read().decode("utf-8", "replace").strip() or out.read().decode("utf-8", "replace").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if lines and any("Traceback" in ln for ln in lines):
        last = f"TRACEBACK ({len(lines)} lines): {last}"
    rc: int | str = killed or p.returncode
    return Outcome(case, rc, seconds, peak / 1024, last, sent)


@contextlib.contextmanager
def data_dir(root: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="trialmap-hostile-") as d:
        dd = Path(d) / "data"
        shutil.copytree(root / "data" / "raw" / BUNDLED, dd / "raw" / BUNDLED)
        yield dd


def refresh(dd: Path, *extra: str) -> list[str]:
    return ["-m", "trialmap.refresh", "--data-dir", str(dd), *extra]


def cli(dd: Path, *extra: str) -> list[str]:
    return ["-m", "trialmap", "--data-dir", str(dd), *extra]


# -- real rows to damage -------------------------------------------------------------------------


def real_site_rows(n: int = 40) -> list[dict[str, str]]:
    """Sites of the real v2 export (facility, city, state, country), first n with a city."""
    studies = json.loads((HERE / "tests" / "data" / "ctgov" / "ctg-studies-50.json").read_text("utf-8"))
    rows = []
    for s in studies:
        for loc in s["protocolSection"].get("contactsLocationsModule", {}).get("locations", []):
            if loc.get("city") and loc.get("country"):
                rows.append({k: str(loc.get(k) or "") for k in ("facility", "city", "state", "country")})
    return rows[:n]


def write_csv(path: Path, rows: list[dict[str, str]], shifted: list[str] | None = None, at: int = 3) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for i, r in enumerate(rows):
            if shifted and i == at:
                f.write(shifted[0] + "\r\n")
            w.writerow(r)


# -- the cases ----------------------------------------------------------------------------------


def api_cases(root: Path, opt: argparse.Namespace) -> Iterator[Outcome]:
    srv = _server()
    studies = srv.real_studies()
    kw = {"cap": opt.cap, "mem_cap_mib": opt.mem_cap}

    def with_server(name: str, setup: Callable, *extra: str) -> Outcome:
        with srv.FakeCtgov(studies, "2023-06-29T00:00:00") as api, data_dir(root) as dd:
            setup(api)
            return run(name, refresh(dd, "--api-url", api.url, *extra), root, **kw)

    def refuse(api):
        api.always["studies"] = api.always["version"] = srv.Fault("refuse")

    yield with_server("403 persistent (default run)", refuse)
    yield with_server("403 persistent --require-fresh", refuse, "--require-fresh")
    yield with_server("429 Retry-After: 2, then OK", lambda api: api.add_fault(
        srv.Fault("status", 429, {"Retry-After": "2"})))

    def endless(api):
        api.always["studies"] = srv.Fault("endless")

    yield with_server("endless body", endless, "--require-fresh")

    def trickle(api):
        api.always["studies"] = srv.Fault("trickle", delay=opt.trickle_delay)

    yield with_server(f"trickle (1 byte / {opt.trickle_delay:g} s)", trickle, "--require-fresh")


def csv_cases(root: Path, opt: argparse.Namespace) -> Iterator[Outcome]:
    kw = {"cap": opt.cap, "mem_cap_mib": opt.mem_cap}
    rows = [{k: r[k] for k in ("city", "state", "country")} for r in real_site_rows()]
    with tempfile.TemporaryDirectory() as d, data_dir(root) as dd:
        d = Path(d)
        # The row: a facility-style "Nea Kifissia, Athens" with an unquoted comma,
        # followed by a real "Paris" row.
        ok = [*rows[:3], {"city": "Paris", "state": "", "country": "France"}, *rows[3:]]
        write_csv(d / "one.csv", ok, ["Nea Kifissia, Athens,,Greece"], at=3)
        yield run("geocode: 1 row with an extra field", cli(dd, "geocode", str(d / "one.csv"),
                                                            str(d / "out1.csv")), root, **kw)
        write_csv(d / "first.csv", ok[3:], ["Nea Kifissia, Athens,,Greece"], at=0)
        o = run("geocode: the first row has an extra field", cli(dd, "geocode", str(d / "first.csv"),
                                                               str(d / "out0.csv")), root, **kw)
        if (d / "out0.csv").is_file():
            with (d / "out0.csv").open(encoding="utf-8") as f:
                got = list(csv.DictReader(f))
            o.last += f" [OUT: {len(got)} rows for {len(ok) - 2} input rows; row 1 city={got[0]['city']!r}]"
        yield o
        many = [r for _ in range(10) for r in rows]
        with (d / "many.csv").open("w", encoding="utf-8", newline="") as f:
            f.write("city,state,country\r\n")
            for i, r in enumerate(many[:400]):
                f.write(("Nea Kifissia, Athens,,Greece" if i % 2 else
                         ",".join(csv_quote(r[k]) for k in ("city", "state", "country"))) + "\r\n")
        yield run("geocode: 200 rows with an extra field", cli(dd, "geocode", str(d / "many.csv"),
                                                               str(d / "out2.csv")), root, **kw)
        (d / "ov.csv").write_text(
            "city,state,country,lat,lon\r\nNea Kifissia, Athens,,Greece,38.07,23.81\r\n"
            "Paris,,France,48.857,2.352\r\n", encoding="utf-8")
        write_csv(d / "plain.csv", ok)
        yield run("overrides: 1 row with an extra field", cli(
            dd, "geocode", str(d / "plain.csv"), str(d / "out3.csv"), "--overrides", str(d / "ov.csv")),
            root, **kw)
        # A real website CSV whose first study's Locations cell is made longer than the csv
        # module's default field limit (131,072 characters) by repeating its real sites.
        src = HERE / "tests" / "data" / "ctgov" / "ctg-studies-172.csv"
        with src.open(encoding="utf-8-sig", newline="") as f:
            table = list(csv.reader(f))
        loc = table[0].index("Locations")
        row = next(r for r in table[1:] if r[loc])
        row[loc] = "|".join([row[loc]] * (140_000 // len(row[loc]) + 1))
        with (d / "long.csv").open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([table[0], row])
        yield run(f"import: a field of {len(row[loc]):,} characters",
                  cli(dd, "import", str(d / "long.csv"), "--downloaded", "2026-04-03"), root, **kw)
        with (d / "header.csv").open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow(table[0])
        yield run("import: header-only CSV", cli(dd, "import", str(d / "header.csv")), root, **kw)
        yield run("import: --downloaded 2999-01-01",
                  cli(dd, "import", str(src), "--downloaded", "2999-01-01", "--id", "future"), root, **kw)


def csv_quote(v: str) -> str:
    return f'"{v}"' if "," in v or '"' in v else v


MANIFEST_DAMAGE: dict[str, Callable[[dict], object]] = {
    "null": lambda m: None,
    "files: []": lambda m: {**m, "files": []},
    "files: 5": lambda m: {**m, "files": 5},
    "entry without sha256": lambda m: {**m, "files": [{k: v for k, v in m["files"][0].items()
                                                       if k != "sha256"}]},
    "absolute file name": lambda m: {**m, "files": [{**m["files"][0], "name": "/etc/hostname"}]},
    "../ file name": lambda m: {**m, "files": [{**m["files"][0], "name": "../outside.tar.gz"}]},
}


def manifest_cases(root: Path, opt: argparse.Namespace) -> Iterator[Outcome]:
    kw = {"cap": opt.cap, "mem_cap_mib": opt.mem_cap}
    for name, damage in [*MANIFEST_DAMAGE.items(), ("symlink leaving the folder", None)]:
        with data_dir(root) as dd:
            # A second, damaged copy of the real bundled snapshot beside the intact one.
            bad = dd / "raw" / "zz-damaged"
            shutil.copytree(dd / "raw" / BUNDLED, bad)
            for p in (bad, *bad.iterdir()):
                p.chmod(0o755 if p.is_dir() else 0o644)
            m = json.loads((bad / "manifest.json").read_text())
            m["snapshot_id"] = "zz-damaged"
            m["registry_data_date"] = "2030-01-01"  # would be the newest
            if damage is None:
                outside = dd / "outside.tar.gz"
                (bad / m["files"][0]["name"]).rename(outside)
                (bad / m["files"][0]["name"]).symlink_to(outside)
            elif name == "../ file name":
                (bad / m["files"][0]["name"]).rename(dd / "raw" / "outside.tar.gz")
                m = damage(m)
            else:
                m = damage(m)
            (bad / "manifest.json").write_text(json.dumps(m))
            yield run(f"manifest {name}: trialmap snapshots", cli(dd, "snapshots"), root, **kw)
            yield run(f"manifest {name}: trialmap verify", cli(dd, "verify", "zz-damaged"), root, **kw)
            yield run(f"manifest {name}: default run --offline", refresh(dd, "--offline", "-q"), root, **kw)


def input_cases(root: Path, opt: argparse.Namespace) -> Iterator[Outcome]:
    kw = {"cap": opt.cap, "mem_cap_mib": opt.mem_cap}
    with data_dir(root) as dd:
        for args in (["--page-size", "0"], ["--page-size", "-5"], ["--page-size", "5000"],
                     ["--max-studies", "-1"], ["--max-studies", "0"]):
            yield run(" ".join(args), refresh(dd, *args, "-q"), root, **kw)
        snap = dd / "raw" / BUNDLED
        snap.chmod(0o755)
        (snap / "full_studies.tar.gz.bak").write_bytes(b"a copy")
        yield run("unlisted file in a snapshot: verify", cli(dd, "verify", BUNDLED), root, **kw)


@contextlib.contextmanager
def tiny_fs(size: str = "1m") -> Iterator[Path | None]:
    d = Path(tempfile.mkdtemp(prefix="trialmap-full-"))
    ok = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True).returncode == 0
    try:
        yield d if ok else None
    finally:
        if ok:
            subprocess.run(["umount", str(d)], check=False)
        shutil.rmtree(d, ignore_errors=True)


def disk_cases(root: Path, opt: argparse.Namespace) -> Iterator[Outcome]:
    kw = {"cap": opt.cap, "mem_cap_mib": opt.mem_cap}
    with data_dir(root) as dd, tiny_fs() as full:
        if full is None:
            return
        rows = [{k: r[k] for k in ("facility", "city", "state", "country")} for r in real_site_rows(2000)]
        big = dd / "sites.csv"
        write_csv(big, rows * 20)  # the output will not fit into 1 MiB
        yield run("geocode: disk full while writing OUT", cli(dd, "geocode", str(big), str(full / "out.csv")),
                  root, **kw)
        leftovers = sorted(p.name for p in full.iterdir())
        yield Outcome("  ... files left in the full folder", "", 0, 0, ", ".join(leftovers) or "none")
        for p in full.iterdir():
            p.unlink()
        (full / "raw").mkdir()
        src = HERE / "tests" / "data" / "ctgov" / "ctg-studies-172.csv"  # 0.9 MB
        filler = full / "filler"
        filler.write_bytes(b"\0" * 300_000)
        yield run("import: disk full while copying",
                  cli(full, "import", str(src), "--downloaded", "2026-04-03"), root, **kw)
        leftovers = sorted(p.name for p in (full / "raw").iterdir())
        yield Outcome("  ... entries left in raw/", "", 0, 0, ", ".join(leftovers) or "none")


def sigint_cases(root: Path, opt: argparse.Namespace) -> Iterator[Outcome]:
    rng = random.Random(13)
    kw = {"cap": opt.cap, "mem_cap_mib": opt.mem_cap}
    counts: dict[str, int] = {}
    with data_dir(root) as dd:
        t_full = run("x", refresh(dd, "--offline", "-q"), root, **kw).seconds
        for _ in range(opt.sigint_runs):
            at = rng.uniform(0.05, 0.9 * t_full)
            o = run("sigint", refresh(dd, "--offline", "-q"), root, sigint_after=at, **kw)
            if not o.signalled:
                counts["finished before the signal"] = counts.get("finished before the signal", 0) + 1
                continue
            tb = "traceback" if o.last.startswith("TRACEBACK") else (
                "one line" if o.last else "silent")
            key = f"exit {o.rc}, {tb}"
            counts[key] = counts.get(key, 0) + 1
            if o.rc not in (130,) or tb == "traceback":
                yield Outcome(f"SIGINT at {at:.2f} s", o.rc, o.seconds, o.peak_mib, o.last[:160])
    yield Outcome(f"SIGINT x{opt.sigint_runs} (uniform over a {t_full:.1f} s run)", "", 0, 0,
                  "; ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


CASES = {"api": api_cases, "csv": csv_cases, "manifest": manifest_cases, "input": input_cases,
         "disk": disk_cases, "sigint": sigint_cases}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trialmap.bench hostile", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=HERE, help="source tree whose trialmap is run")
    p.add_argument("--cases", default=",".join(CASES), help=f"groups: {', '.join(CASES)}")
    p.add_argument("--cap", type=float, default=150.0, help="kill a case after this many seconds")
    p.add_argument("--mem-cap", type=float, default=4096.0, help="kill a case above this RSS (MiB)")
    p.add_argument("--trickle-delay", type=float, default=20.0)
    p.add_argument("--sigint-runs", type=int, default=26)
    opt = p.parse_args(argv)
    root = opt.root.resolve()
    with data_dir(root) as dd:
        base = run("baseline: refresh --offline", refresh(dd, "--offline", "-q"), root,
                   cap=opt.cap, mem_cap_mib=opt.mem_cap)
    print(f"trialmap from {root}\n")  # noqa: T201
    print("| case | exit | time | peak RSS | last line |\n|---|---|---|---|---|")  # noqa: T201

    def show(o: Outcome) -> None:
        t = f"{o.seconds:.1f} s" if o.seconds else ""
        m = f"{o.peak_mib:,.0f} MiB" if o.peak_mib else ""
        last = o.last.replace("|", "\\|")
        print(f"| {o.case} | {o.rc} | {t} | {m} | {last} |", flush=True)  # noqa: T201

    show(base)
    for name in opt.cases.split(","):
        for o in CASES[name.strip()](root, opt):
            show(o)
    return 0


if __name__ == "__main__":
    sys.exit(main())
