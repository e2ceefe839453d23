"""Write-once raw snapshots: ``data/raw/<snapshot-id>/`` plus ``manifest.json``.

A snapshot is written into a hidden temporary folder beside its final place,
every file is hashed, the manifest is written last, and only then is the folder
renamed into place (an atomic rename on one filesystem). A crash at any point
leaves at most a ``.tmp-*`` folder, never a half-written snapshot, and an
existing snapshot is never overwritten. Reading a snapshot re-hashes every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialmap.errors import (
    SnapshotError,
    SnapshotExistsError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
)

MANIFEST = "manifest.json"
SCHEMA = "trialmap-snapshot/1"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Snapshot:
    """A verified raw snapshot: its folder and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return self.manifest["snapshot_id"]

    @property
    def format(self) -> str:
        return self.manifest["format"]

    def file(self, name: str) -> Path:
        return self.path / name


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check_id(snapshot_id: str) -> None:
    if not _ID_RE.match(snapshot_id):
        msg = (
            f"invalid snapshot id {snapshot_id!r}: use letters, digits, '.', '_' or '-' "
            "(at most 128 characters, not starting with a dot)"
        )
        raise SnapshotError(msg)


def write_snapshot(
    raw_dir: Path,
    snapshot_id: str,
    files: Iterable[tuple[str, bytes | Path]],
    manifest: Mapping[str, Any],
) -> Snapshot:
    """Write a new immutable snapshot and return it.

    Parameters
    ----------
    raw_dir
        The raw store, usually ``data/raw``.
    snapshot_id
        Folder name of the new snapshot; must not exist yet.
    files
        ``(name, content)`` pairs; content is bytes or a path whose bytes are
        copied unchanged. Names are flat file names.
    manifest
        Fields describing the snapshot (source, format, query, dates, counts).
        ``snapshot_id``, ``schema`` and ``files`` (name, bytes, sha256) are
        filled in here.

    Raises
    ------
    SnapshotExistsError
        If ``raw_dir/snapshot_id`` already exists.
    """
    _check_id(snapshot_id)
    raw_dir = Path(raw_dir)
    final = raw_dir / snapshot_id
    if final.exists():
        msg = f"snapshot {snapshot_id!r} already exists in {raw_dir}; raw snapshots are never overwritten"
        raise SnapshotExistsError(msg)
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{snapshot_id}-", dir=raw_dir))
    try:
        entries = []
        for name, content in files:
            if "/" in name or "\\" in name or name in {"", ".", "..", MANIFEST}:
                msg = f"invalid file name {name!r} for a snapshot"
                raise SnapshotError(msg)
            target = tmp / name
            if isinstance(content, bytes | bytearray):
                target.write_bytes(content)
            else:
                shutil.copyfile(content, target)
            entries.append(
                {"name": name, "bytes": target.stat().st_size, "sha256": sha256_file(target)}
            )
        full = {"schema": SCHEMA, "snapshot_id": snapshot_id, **dict(manifest), "files": entries}
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n")
        for p in (*tmp.iterdir(), tmp):
            # Make the immutability visible: read-only files and folder.
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if final.exists():
                msg = f"snapshot {snapshot_id!r} appeared in {raw_dir} while writing; not overwritten"
                raise SnapshotExistsError(msg) from exc
            raise
    except BaseException:
        _remove_tree(tmp)
        raise
    return Snapshot(final, full)


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for p in (path, *path.rglob("*")):
        with contextlib.suppress(OSError):
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path, ignore_errors=True)


def read_manifest(path: Path) -> dict[str, Any]:
    """Read a snapshot folder's manifest without verifying its files."""
    mpath = Path(path) / MANIFEST
    if not mpath.is_file():
        msg = f"{path} is not a snapshot: it has no {MANIFEST}"
        raise SnapshotNotFoundError(msg)
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{mpath} is not valid JSON ({exc}); the snapshot is damaged, fetch or import it again"
        raise SnapshotIntegrityError(msg) from exc
    for key in ("snapshot_id", "format", "files"):
        if key not in manifest:
            msg = f"{mpath} has no {key!r} field; the snapshot is damaged, fetch or import it again"
            raise SnapshotIntegrityError(msg)
    return manifest


def verify_snapshot(path: Path) -> Snapshot:
    """Re-hash every file of a snapshot against its manifest.

    Raises
    ------
    SnapshotIntegrityError
        If a file is missing, has another size or sha256, or an unlisted file
        is present.
    """
    path = Path(path)
    manifest = read_manifest(path)
    listed = {e["name"] for e in manifest["files"]}
    for entry in manifest["files"]:
        f = path / entry["name"]
        if not f.is_file():
            msg = f"snapshot {path.name}: file {entry['name']} listed in the manifest is missing"
            raise SnapshotIntegrityError(msg)
        size = f.stat().st_size
        digest = sha256_file(f)
        if size != entry["bytes"] or digest != entry["sha256"]:
            msg = (
                f"snapshot {path.name}: {entry['name']} has sha256 {digest[:12]}… ({size} bytes), "
                f"manifest says {entry['sha256'][:12]}… ({entry['bytes']} bytes); the raw data "
                "was changed: restore it (git checkout / re-fetch) rather than edit it"
            )
            raise SnapshotIntegrityError(msg)
    extra = sorted(p.name for p in path.iterdir() if p.name not in listed | {MANIFEST})
    if extra:
        msg = f"snapshot {path.name}: files not in the manifest: {', '.join(extra)}; remove them"
        raise SnapshotIntegrityError(msg)
    return Snapshot(path, manifest)


def list_snapshots(raw_dir: Path) -> list[dict[str, Any]]:
    """Manifests of the complete snapshots in ``raw_dir``, oldest data first.

    Temporary ``.tmp-*`` folders of interrupted writes are ignored. Files are
    not re-hashed here (use :func:`verify_snapshot`).
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        return []
    out = []
    for d in sorted(raw_dir.iterdir()):
        if d.name.startswith(".") or not (d / MANIFEST).is_file():
            continue
        m = read_manifest(d)
        out.append({**m, "path": str(d)})
    return sorted(out, key=_order_key)


def _order_key(m: Mapping[str, Any]) -> tuple[str, str, str]:
    return (
        str(m.get("registry_data_date") or ""),
        str(m.get("created_utc") or ""),
        str(m["snapshot_id"]),
    )


def open_snapshot(ref: str | Path | None, raw_dir: Path) -> Snapshot:
    """Find a snapshot by id or path (``None``: the newest) and verify it.

    Raises
    ------
    SnapshotNotFoundError
        If no such snapshot exists (or, for ``None``, none at all).
    SnapshotIntegrityError
        If its files do not match its manifest.
    """
    raw_dir = Path(raw_dir)
    if ref is None:
        snaps = list_snapshots(raw_dir)
        if not snaps:
            msg = (
                f"no snapshot in {raw_dir}; run from the repository root or pass "
                "--data-dir pointing at a folder with raw/<snapshot-id>/manifest.json"
            )
            raise SnapshotNotFoundError(msg)
        return verify_snapshot(Path(snaps[-1]["path"]))
    candidate = Path(ref)
    if not (candidate / MANIFEST).is_file():
        candidate = raw_dir / str(ref)
    if not candidate.is_dir():
        known = ", ".join(m["snapshot_id"] for m in list_snapshots(raw_dir)) or "none"
        msg = f"snapshot {str(ref)!r} not found in {raw_dir} (known: {known})"
        raise SnapshotNotFoundError(msg)
    return verify_snapshot(candidate)
