"""Size and time of every figure export, and the referee check of the written PDFs.

``python -m trialmap.bench figures [--data-dir DATA] [--snapshot ID] [--names all|NAME,...]``
processes a snapshot, draws and exports the figure suite (:data:`trialmap.figures.suite.DEFAULT_FIGURES`)
into a temporary folder and prints, per file, its size and the seconds it took (PNG:
rendering + writing; TIFF: conversion from that rendering), then totals per figure.

``--check`` reads the written PDFs back, as a journal's figure editor would
(:mod:`trialmap.figures.pdfcheck`): per figure and width, the page width in mm, the
smallest type, overlapping text and text off the page. ``--check DIR`` checks the PDFs
already in ``DIR`` (e.g. ``data/processed/<id>/figures``) instead of writing the suite;
``--formats pdf`` (the default with ``--check``) writes only what the check reads. Exits 1
when any PDF has overlapping or off-page text, or type under 6 pt.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

MIN_PT = 6.0


def _check(folder: Path) -> int:
    from trialmap.figures.pdfcheck import check_folder, format_reports

    reports = check_folder(folder)
    print(format_reports(reports))  # noqa: T201
    bad = [r for r in reports if not r.ok or r.min_size < MIN_PT]
    return 1 if bad or not reports else 0


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")

    p = argparse.ArgumentParser(prog="python -m trialmap.bench figures")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--snapshot", default=None)
    p.add_argument("--names", default="all", help="figures to write: all or NAME,... (default: all)")
    p.add_argument("--formats", default=None,
                   help="formats, comma-separated (default: every journal format; pdf with --check)")
    p.add_argument("--check", nargs="?", const="", default=None, metavar="DIR",
                   help="read the PDFs back and report width, smallest type, overlapping and off-page text "
                        "(of DIR when given, else of the suite written now)")
    args = p.parse_args(argv)
    if args.check:
        return _check(Path(args.check))

    from trialmap import pipeline
    from trialmap.figures.export import JOURNAL_FORMATS
    from trialmap.figures.suite import figure_names, write_figures
    from trialmap.snapshot import open_snapshot
    from trialmap.studyset import load_definition

    names = figure_names(args.names)
    formats = tuple(args.formats.split(",")) if args.formats else (
        ("pdf",) if args.check is not None else JOURNAL_FORMATS)
    t0 = time.perf_counter()
    run = pipeline.run(open_snapshot(args.snapshot, args.data_dir / "raw"), load_definition())
    t_process = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        timings = []
        t0 = time.perf_counter()
        exports = []
        for name in names:
            t1 = time.perf_counter()
            exports += write_figures(run, Path(tmp), run.provenance([]), names=[name], formats=formats)
            timings.append((name, time.perf_counter() - t1))
        t_suite = time.perf_counter() - t0
        if args.check is not None:
            status = _check(Path(tmp))
            print("\nseconds per figure (draw + export, both widths): "  # noqa: T201
                  + ", ".join(f"{n} {s:.1f}" for n, s in timings))
            return status
        print(f"{'file':36} {'format':6} {'dpi':>4} {'pixels':>11} {'KB':>7} {'s':>6}")  # noqa: T201
        n_bytes = 0
        for e in exports:
            for f in e.files:
                px = "x".join(map(str, f.pixels)) if f.pixels else ""
                print(f"{f.path.name:36} {f.format:6} {f.dpi or '':>4} {px:>11} "  # noqa: T201
                      f"{f.bytes / 1024:7.0f} {f.seconds:6.2f}")
                n_bytes += f.bytes
            total = sum(f.seconds for f in e.files)
            print(f"  {e.sidecar.stem}: {len(e.files)} files, {total:.2f} s in export")  # noqa: T201
        print("seconds per figure (draw + export, both widths): "  # noqa: T201
              + ", ".join(f"{n} {s:.1f}" for n, s in timings))
    print(f"process {t_process:.1f} s; suite {t_suite:.1f} s for {sum(len(e.files) for e in exports)} "  # noqa: T201
          f"files + {len(exports)} sidecars, {n_bytes / 1e6:.1f} MB")
    return 0
