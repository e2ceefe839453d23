"""Size and time of every figure export the main command writes.

``python -m trialmap.bench figures [--data-dir DATA] [--snapshot ID]`` processes a snapshot,
draws and exports the whole figure suite into a temporary folder and prints, per file, its
size and the seconds it took (PNG: rendering + writing; TIFF: conversion from that
rendering), then totals per figure and for the suite.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from trialmap import pipeline
    from trialmap.figures.suite import write_figures
    from trialmap.snapshot import open_snapshot
    from trialmap.studyset import load_definition

    p = argparse.ArgumentParser(prog="python -m trialmap.bench figures")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--snapshot", default=None)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    result = pipeline.run(open_snapshot(args.snapshot, args.data_dir / "raw"), load_definition())
    t_process = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        exports = write_figures(result, Path(tmp), result.provenance([]))
        t_suite = time.perf_counter() - t0
        print(f"{'file':32} {'format':6} {'dpi':>4} {'pixels':>11} {'KB':>7} {'s':>6}")  # noqa: T201
        n_bytes = 0
        for e in exports:
            for f in e.files:
                px = "x".join(map(str, f.pixels)) if f.pixels else ""
                print(f"{f.path.name:32} {f.format:6} {f.dpi or '':>4} {px:>11} "  # noqa: T201
                      f"{f.bytes / 1024:7.0f} {f.seconds:6.2f}")
                n_bytes += f.bytes
            total = sum(f.seconds for f in e.files)
            print(f"  {e.sidecar.stem}: {len(e.files)} files, {total:.2f} s in export")  # noqa: T201
    print(f"process {t_process:.1f} s; suite {t_suite:.1f} s for {sum(len(e.files) for e in exports)} "  # noqa: T201
          f"files + {len(exports)} sidecars, {n_bytes / 1e6:.1f} MB")
    return 0
