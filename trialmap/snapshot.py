"""Write-once raw snapshots: ``data/raw/<snapshot-id>/`` plus ``manifest.json``.

A snapshot is written into a hidden temporary folder beside its final place,
every file is hashed, the manifest is written last, and only then is the folder
renamed into place (an atomic rename on one filesystem). A crash at any point
leaves at most a ``.tmp-*`` folder, never a half-written snapshot, and an
existing snapshot is never overwritten. Reading a snapshot re-hashes every file.
"""

from __future__ import annotations

import contextlib
import json
import logging
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
from trialmap.paths import sha256_file

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SCHEMA = "trialmap-snapshot/1"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    if manifest["snapshot_id"] != path.name:
        msg = (
            f"{path} holds a manifest for snapshot {manifest['snapshot_id']!r}; a snapshot folder is "
            "named after its id: do not rename or copy snapshots under another name"
        )
        raise SnapshotIntegrityError(msg)
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
        try:
            m = read_manifest(d)
        except SnapshotError as exc:
            # One damaged snapshot must not hide the intact ones (e.g. the fallback).
            log.warning("skipping %s: %s", d, exc)
            continue
        out.append({**m, "path": str(d)})
    return sorted(out, key=_order_key)


def _order_key(m: Mapping[str, Any]) -> tuple[str, str, str]:
    return (
        str(m.get("registry_data_date") or ""),
        str(m.get("created_utc") or ""),
        str(m["snapshot_id"]),
    )


def open_snapshot(ref: str | Path | None, raw_dir: Path) -> Snapshot:
    """Find a snapshot by id or path (``None``: the newest fetched or bundled one) and verify it.

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
        # "Newest" means the newest registry snapshot: synthetic benchmark snapshots and
        # files imported by hand (which may be about another therapy) are used only when
        # nothing else exists, or when asked for by id.
        fetched = [m for m in snaps if not m.get("synthetic") and not m.get("manual_download")]
        return verify_snapshot(Path((fetched or snaps)[-1]["path"]))
    candidate = Path(ref)
    if not (candidate / MANIFEST).is_file():
        candidate = raw_dir / str(ref)
    if not candidate.is_dir():
        known = ", ".join(m["snapshot_id"] for m in list_snapshots(raw_dir)) or "none"
        msg = f"snapshot {str(ref)!r} not found in {raw_dir} (known: {known})"
        raise SnapshotNotFoundError(msg)
    return verify_snapshot(candidate)


# -- snapshots of API fetches -------------------------------------------------------------------

FORMAT_PAGES = "ctgov-v2-api-pages"
FORMAT_INCREMENTAL = "ctgov-v2-api-pages-incremental"
ATTRIBUTION = (
    "Data: ClinicalTrials.gov (U.S. National Library of Medicine), fetched through API v2. "
    "U.S. government public data."
)


def _paged_entries(paged: Any, prefix: str) -> tuple[list[tuple[str, bytes]], list[dict[str, Any]]]:
    files, pages = [], []
    for page in paged.pages:
        name = f"{prefix}{page.number:04d}.json"
        files.append((name, page.body))
        pages.append(
            {
                "name": name,
                "params": page.params,
                "studies": len(page.nct_ids),
                "next_page_token": page.next_page_token,
            }
        )
    return files, pages


def _paged_record(paged: Any, pages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "params": paged.params,
        "page_size": paged.page_size,
        "total_count": paged.total_count,
        "study_count": len(paged.nct_ids),
        "page_count": len(paged.pages),
        "pages": pages,
    }


def fetched_snapshot_id(run: Any) -> str:
    """``ctgov-v2-<registry date>-<fetch start>`` (``-inc`` for an incremental fetch)."""
    start = run.started_utc.replace("-", "").replace(":", "")[:15]
    kind = "-inc" if run.since else ""
    return f"ctgov-v2-{run.registry_data_date or 'unknown'}{kind}-{start}Z"


def write_fetched(raw_dir: Path, run: Any, base: Snapshot | None = None,
                  snapshot_id: str | None = None) -> Snapshot:
    """Store a :class:`trialmap.client.FetchRun` as a new snapshot, every page exactly as received.

    A full fetch gives format ``ctgov-v2-api-pages``: ``page-0001.json`` ...
    An incremental fetch gives format ``ctgov-v2-api-pages-incremental`` and is
    self-contained: the base snapshot's study pages are copied byte for byte
    (``<base-id>__<name>``; their sha256 must equal the base manifest's), then
    the pages of studies entering the set by id (``fill-*``), then the changed
    studies (``page-*``), plus the current list of ids (``ids-*``). Reading it
    keeps the newest version of each study and only the studies the id list
    names, which is what a full fetch of the same registry state returns.
    """
    files: list[tuple[str, bytes | Path]] = []
    manifest: dict[str, Any] = {
        "title": f"ClinicalTrials.gov API v2: {run.query.label}",
        "source": {
            "registry": "ClinicalTrials.gov",
            "api": run.api_url,
            "endpoint": f"{run.api_url}/studies",
            "api_version": run.version.get("apiVersion"),
            "data_timestamp": run.version.get("dataTimestamp"),
        },
        "query": {
            "name": run.query.name,
            "version": run.query.version,
            "description": run.query.description,
            "file": run.query.source,
            "file_sha256": run.query.sha256,
            "params": run.query.request_params(),
        },
        "registry_data_date": run.registry_data_date,
        "fetch": {
            "started_utc": run.started_utc,
            "finished_utc": run.finished_utc,
            "requests": run.requests,
            "bytes_received": run.bytes,
            "restarts": run.restarts,
        },
        "created_utc": run.finished_utc,
        "attribution": ATTRIBUTION,
        "manual_download": False,
        "synthetic": False,
    }
    if run.since is None:
        page_files, pages = _paged_entries(run.full, "page-")
        files += page_files
        manifest.update(
            format=FORMAT_PAGES,
            pages=[p["name"] for p in pages],
            page_count=len(pages),
            record_count=len(run.full.nct_ids),
            total_count=run.full.total_count,
            paging=_paged_record(run.full, pages),
        )
    else:
        if base is None:
            msg = "an incremental fetch needs the base snapshot it was fetched against"
            raise SnapshotError(msg)
        base_pages = list(base.manifest.get("pages") or [e["name"] for e in base.manifest["files"]])
        by_name = {e["name"]: e for e in base.manifest["files"]}
        copied = []
        for name in base_pages:
            new = f"{base.id}__{name}"
            if sha256_file(base.file(name)) != by_name[name]["sha256"]:
                msg = f"base snapshot {base.id}: {name} does not match its manifest; verify it first"
                raise SnapshotIntegrityError(msg)
            files.append((new, base.file(name)))
            copied.append({"name": new, "base_name": name, "sha256": by_name[name]["sha256"]})
        fill_names, fills = [], []
        for k, paged in enumerate(run.filled, 1):
            f, p = _paged_entries(paged, f"fill-{k:02d}-")
            files += f
            fill_names += [x["name"] for x in p]
            fills.append(_paged_record(paged, p))
        changed_files, changed = _paged_entries(run.changed, "page-")
        ids_files, ids = _paged_entries(run.membership, "ids-")
        files += changed_files + ids_files
        manifest.update(
            format=FORMAT_INCREMENTAL,
            pages=[c["name"] for c in copied] + fill_names + [p["name"] for p in changed],
            membership_pages=[p["name"] for p in ids],
            page_count=len(changed) + len(ids) + len(fill_names),
            record_count=len(run.membership.nct_ids),
            total_count=run.membership.total_count,
            incremental={
                "since": run.since,
                "how": (
                    "studies updated on or after `since` (filter.advanced LastUpdatePostDate range) "
                    "+ studies that entered the set without an update (filter.ids) + the base "
                    "snapshot's pages copied byte for byte; read: newest version of each study, "
                    "only the NCT ids the current id list (ids-*) names"
                ),
                "base": {
                    "snapshot_id": base.id,
                    "format": base.format,
                    "registry_data_date": base.manifest.get("registry_data_date"),
                    "manifest_sha256": sha256_file(base.path / MANIFEST),
                    "files": copied,
                },
                "membership": _paged_record(run.membership, ids),
                "changed": _paged_record(run.changed, changed),
                "filled": fills,
            },
        )
    return write_snapshot(Path(raw_dir), snapshot_id or fetched_snapshot_id(run), files, manifest)
