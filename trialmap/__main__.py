"""The ``trialmap`` command (also ``python -m trialmap``).

Subcommands::

    trialmap refresh [...]      the main job, same as python -m trialmap.refresh
    trialmap snapshots          list the raw snapshots
    trialmap verify ID|PATH     re-hash a snapshot's files against its manifest
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from trialmap import refresh
from trialmap.errors import TrialmapError
from trialmap.snapshot import list_snapshots, open_snapshot


def _snapshots(args: argparse.Namespace) -> int:
    snaps = list_snapshots(args.data_dir / "raw")
    if not snaps:
        print(f"no snapshots in {args.data_dir / 'raw'}")  # noqa: T201
        return 0
    for m in snaps:
        flag = " (synthetic)" if m.get("synthetic") else ""
        print(  # noqa: T201
            f"{m['snapshot_id']}\t{m.get('registry_data_date', '?')}\t"
            f"{m.get('record_count', '?')} records\t{m['format']}{flag}"
        )
    return 0


def _verify(args: argparse.Namespace) -> int:
    snap = open_snapshot(args.snapshot, args.data_dir / "raw")
    n = len(snap.manifest["files"])
    print(f"{snap.id}: OK, {n} file(s) match their sha256 in the manifest")  # noqa: T201
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["refresh"]:
        return refresh.main(argv[1:])
    p = argparse.ArgumentParser(prog="trialmap", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="default: ./data")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("refresh", help="process a snapshot into tables and figures (see --help)")
    sub.add_parser("snapshots", help="list raw snapshots").set_defaults(func=_snapshots)
    v = sub.add_parser("verify", help="check a snapshot's files against its manifest")
    v.add_argument("snapshot", help="snapshot id or folder")
    v.set_defaults(func=_verify)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except TrialmapError as exc:
        print(f"trialmap: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main())
