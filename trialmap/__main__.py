"""The ``trialmap`` command (also ``python -m trialmap``).

Subcommands::

    trialmap refresh [...]      the main job, same as python -m trialmap.refresh
    trialmap snapshots          list the raw snapshots
    trialmap verify ID|PATH     re-hash a snapshot's files against its manifest
    trialmap geocode IN OUT     geocode a CSV of sites (city, state, country columns)
    trialmap import FILE        make a snapshot from a file downloaded from the website
    trialmap definition         print the default study-set definition (to copy and edit)
    trialmap sensitivity        per-country counts under variants of the definition
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from trialmap import paths, pipeline
from trialmap.errors import OutputError, SourceFormatError, TrialmapError


def _snapshots(args: argparse.Namespace) -> int:
    snaps = pipeline.list_snapshots(args.data_dir)
    if not snaps:
        print(f"no snapshots in {args.data_dir / 'raw'}")  # noqa: T201
        return 0
    for m in snaps:
        flag = " (synthetic)" if m.get("synthetic") else " (bundled)" if m.get("bundled") else ""
        print(  # noqa: T201
            f"{m['snapshot_id']}\t{m.get('registry_data_date', '?')}\t"
            f"{m.get('record_count', '?')} records\t{m['format']}{flag}"
        )
    return 0


def _verify(args: argparse.Namespace) -> int:
    snap = pipeline.open_snapshot(args.snapshot, args.data_dir)
    n = len(snap.manifest["files"])
    print(f"{snap.id}: OK, {n} file(s) match their sha256 in the manifest")  # noqa: T201
    return 0


GEOCODE_ADDED = ["iso3", "lat", "lon", "geo_source", "geo_precision"]


def _geocode(args: argparse.Namespace) -> int:
    """Geocode any CSV of sites; every input column is kept as it was."""
    import pandas as pd

    from trialmap import boundaries, countries, gazetteer, geocode
    from trialmap.csvfile import read_frame, write_atomically

    df = read_frame(args.input, "geocode input", SourceFormatError)
    missing = [c for c in ("city", "state", "country") if c not in df.columns]
    if missing:
        msg = (
            f"{args.input} lacks column(s) {', '.join(missing)}; the CSV needs city, state and "
            "country columns (state may be empty)"
        )
        raise SourceFormatError(msg)
    taken = [c for c in GEOCODE_ADDED if c in df.columns]
    if taken:
        msg = f"{args.input} already has column(s) {', '.join(taken)}; rename them first"
        raise SourceFormatError(msg)
    key = df[["city", "state", "country"]].replace("", None).astype("string")
    sites = pd.DataFrame(
        {
            "nct_id": pd.Series(range(len(df)), dtype="string"),
            **{c: key[c] for c in ("city", "state", "country")},
            "iso3": countries.to_iso3(key["country"]),
            "lat": pd.Series(pd.NA, index=df.index, dtype="Float64"),
            "lon": pd.Series(pd.NA, index=df.index, dtype="Float64"),
            "geo_source": pd.Series(pd.NA, index=df.index, dtype="string"),
            "geo_precision": pd.Series(pd.NA, index=df.index, dtype="string"),
        }
    )
    ov = gazetteer.read_overrides(args.overrides) if args.overrides else None
    placed = geocode.place_sites(sites, boundaries.country_points(), gazetteer.load(), ov)
    out = df.assign(**{c: placed[c] for c in GEOCODE_ADDED})
    try:
        # Written beside OUT and renamed over it: a killed or disk-full run leaves OUT as it was.
        write_atomically(args.output, lambda f: out.to_csv(f, index=False))
    except OSError as exc:
        msg = f"cannot write {args.output} ({exc.strerror or exc}); it was not changed"
        raise OutputError(msg) from exc
    audit = geocode.geo_audit(placed)
    print(  # noqa: T201
        f"{len(df)} rows -> {args.output}: "
        + ", ".join(f"{r.geo_source}/{r.geo_precision} {r.n_sites}" for r in audit.itertuples())
        + ". Coordinates: GeoNames (geonames.org, CC BY 4.0); country points: Natural Earth."
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from trialmap.sources import import_download

    snap = import_download(args.file, args.data_dir / "raw", args.id, args.downloaded)
    m = snap.manifest
    print(  # noqa: T201
        f"{snap.id}: {m['record_count']} studies, format {m['format']}, downloaded "
        f"{m['downloaded']} ({m['downloaded_from']}); kept byte for byte in {snap.path}"
    )
    return 0


def _definition(args: argparse.Namespace) -> int:
    if args.list:
        for d in pipeline.list_definitions():
            print(f"{d['name']}\tv{d['version']}\t{d['title']}")  # noqa: T201
        return 0
    d = pipeline.load_definition(args.name)
    if Path(d.source).is_file():
        text = Path(d.source).read_text(encoding="utf-8")
    else:
        from trialmap.studyset import definition_text

        text = definition_text(d.name)
    sys.stdout.write(text)
    return 0


def _sensitivity(args: argparse.Namespace) -> int:
    import pandas as pd

    from trialmap import aggregate, outputs
    from trialmap.figures import export_figure
    from trialmap.figures.sensitivity import sensitivity_plot
    from trialmap.sensitivity import sensitivity

    definition = pipeline.load_definition(args.definition)
    snap = pipeline.open_snapshot(args.snapshot, args.data_dir)
    rule = aggregate.CountingRule(args.counting_rule)
    run = pipeline.run(snap, definition, rule=rule)  # the default variant, and its provenance
    wide, summary = sensitivity(run.tables, definition, rule)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False))  # noqa: T201
        print()  # noqa: T201
        print(wide.head(args.top).to_string(index=False))  # noqa: T201
    out = args.data_dir / "processed" / f"{snap.id}_sensitivity-{rule.name}"
    import matplotlib.pyplot as plt

    src, prov = run.source_line(), run.provenance()
    with outputs.building(out) as tmp:
        wide.to_csv(tmp / "sensitivity_counts.csv", index=False)
        summary.to_csv(tmp / "sensitivity_summary.csv", index=False)
        ax = sensitivity_plot(wide, top=args.top, unit=rule.unit, source_line=src)
        try:
            export_figure(ax.figure, tmp / "sensitivity", prov, title="Sensitivity of per-country counts",
                          source_line=src,
                          caption=f"Per-country counts under variants of {definition.label}.",
                          data=wide, formats=("pdf", "png"), dpis=(300,))
        finally:
            plt.close(ax.figure)
    print(f"outputs    {out}")  # noqa: T201
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``trialmap`` command. Called as the program (``argv`` None), a Ctrl-C while
    the libraries load or the interpreter shuts down ends it at once with status 130."""
    from trialmap.sigint import quiet_exit

    program = argv is None
    if program:
        quiet_exit()
    try:
        return _main(argv)
    finally:
        if program:
            quiet_exit()


def _main(argv: Sequence[str] | None) -> int:
    from trialmap import refresh  # here, not at import: heavy (pandas, matplotlib)
    from trialmap.sigint import caused_by_ctrl_c, interrupts

    argv = list(sys.argv[1:] if argv is None else argv)
    if "refresh" in argv:
        # Everything after "refresh" belongs to refresh's own parser; a --data-dir given
        # before it is passed on.
        i = argv.index("refresh")
        head = argparse.ArgumentParser(add_help=False)
        head.add_argument("--data-dir", type=Path, default=None)
        known, rest = head.parse_known_args(argv[:i])
        if not rest:
            extra = ["--data-dir", str(known.data_dir)] if known.data_dir is not None else []
            return refresh.main(extra + argv[i + 1:])
    p = argparse.ArgumentParser(prog="trialmap", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=None,
                   help="default: $TRIALMAP_DATA, else ./data if it exists, else a per-user folder")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("refresh", help="process a snapshot into tables and figures (see --help)")
    sub.add_parser("snapshots", help="list raw snapshots").set_defaults(func=_snapshots)
    v = sub.add_parser("verify", help="check a snapshot's files against its manifest")
    v.add_argument("snapshot", help="snapshot id or folder")
    v.set_defaults(func=_verify)
    g = sub.add_parser(
        "geocode",
        help="add iso3, lat, lon, geo_source, geo_precision to a CSV with city, state, country",
    )
    g.add_argument("input", type=Path, help="CSV with city, state and country columns (UTF-8)")
    g.add_argument("output", type=Path, help="CSV to write: the input's columns plus the five above")
    g.add_argument("--overrides", type=Path, default=None,
                   help="CSV of city,state,country,lat,lon applied before the gazetteer")
    g.set_defaults(func=_geocode)
    im = sub.add_parser("import", help="make a snapshot from a website CSV or JSON download")
    im.add_argument("file", type=Path, help="the downloaded file (kept byte for byte)")
    im.add_argument("--id", default=None, help="snapshot id (default: <kind>-<date>-<sha256 prefix>)")
    im.add_argument("--downloaded", default=None, metavar="YYYY-MM-DD",
                    help="when the file was downloaded (default: its modification date)")
    im.set_defaults(func=_import)
    d = sub.add_parser("definition", help="print a study-set definition (TOML) or --list the shipped ones")
    d.add_argument("name", nargs="?", default=None, help="shipped name or file (default: the default)")
    d.add_argument("--list", action="store_true", help="list the shipped definitions")
    d.set_defaults(func=_definition)
    se = sub.add_parser("sensitivity", help="per-country counts under variants of the definition")
    se.add_argument("--snapshot", default=None, help="snapshot id or path (default: newest)")
    se.add_argument("--definition", default=None, metavar="NAME|FILE",
                    help="definition: shipped name or TOML file (default: the default)")
    se.add_argument("--counting-rule", choices=["trials", "sites", "fractional"], default="trials")
    se.add_argument("--top", type=int, default=12, help="countries to show (default 12)")
    se.set_defaults(func=_sensitivity)
    args = p.parse_args(argv)
    args.data_dir = paths.data_dir(args.data_dir)
    try:
        with interrupts() as sigint:
            code = args.func(args)
            if sigint.received:  # a Ctrl-C that a finalizer swallowed is still a Ctrl-C
                raise KeyboardInterrupt
            return code
    except KeyboardInterrupt:
        print("trialmap: interrupted; nothing half-written is left", file=sys.stderr)  # noqa: T201
        return 130
    except ValueError as exc:  # e.g. a --downloaded date that is not YYYY-MM-DD
        print(f"trialmap: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except TrialmapError as exc:
        print(f"trialmap: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except Exception as exc:  # a KeyboardInterrupt Python wrapped (e.g. during an import)
        if not caused_by_ctrl_c(exc):
            raise
        print("trialmap: interrupted; nothing half-written is left", file=sys.stderr)  # noqa: T201
        return 130


if __name__ == "__main__":
    from trialmap.sigint import leave

    leave(main())
