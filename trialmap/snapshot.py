"""Write-once raw snapshots: ``data/raw/<snapshot-id>/`` plus ``manifest.json``.

A snapshot is written into a hidden temporary folder beside its final place,
every file is hashed, the manifest is written last, and only then is the folder
renamed into place (an atomic rename on one filesystem). A crash at any point
leaves at most a ``.tmp-*`` folder, never a half-written snapshot, and an
existing snapshot is never overwritten. Reading a snapshot re-hashes every file.

A manifest is checked against a schema (:func:`validate_manifest`: required keys
and their types, a sha256 and a size per file) before anything uses it, and every
file it names must be a plain name inside the snapshot's folder (no absolute
name, no ``..``, no separator, no symbolic link leading out of the folder). A
damaged manifest makes that one snapshot unusable with one line; listing the
others (:func:`list_snapshots`) and choosing the newest go on without it.

Stale temporary folders: a ``.tmp-*`` folder in the raw store whose last change
is more than :data:`STALE_AFTER` seconds (an hour) old is left by a run that was
killed while writing it, and the next :func:`write_snapshot` removes it (with a
warning naming it). No live write takes that long: pages are fetched into memory
first and a snapshot is written in seconds; a pid file was not chosen because a
raw store can be shared between machines, where a pid says nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
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
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: Seconds after its last change when a ``.tmp-*`` folder in the raw store counts as stale.
STALE_AFTER = 3600.0


@dataclass(frozen=True)
class Snapshot:
    """A verified raw snapshot: its folder and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return self.manifest["snapshot_id"]

    def __repr__(self) -> str:
        m = self.manifest
        flag = " synthetic" if m.get("synthetic") else ""
        return (f"<Snapshot {self.id}: {m.get('record_count', '?')} records, registry data date "
                f"{m.get('registry_data_date', '?')}, {m.get('format', '?')}{flag}>")

    @property
    def format(self) -> str:
        return self.manifest["format"]

    def file(self, name: str) -> Path:
        """The path of a file the manifest lists (any other name is an error: raw data is
        read only through the manifest, which the snapshot's hashes cover)."""
        if name not in {e["name"] for e in self.manifest["files"]}:
            msg = f"snapshot {self.id}: {name!r} is not a file its manifest lists"
            raise SnapshotIntegrityError(msg)
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
    try:
        raw_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(raw_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{snapshot_id}-", dir=raw_dir))
    except OSError as exc:
        raise _write_error(final, exc) from exc
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
    except BaseException as exc:
        _remove_tree(tmp)
        if isinstance(exc, OSError):
            raise _write_error(final, exc) from exc
        raise
    return Snapshot(final, full)


def _write_error(final: Path, exc: OSError) -> SnapshotError:
    msg = (
        f"cannot write snapshot {final}: {exc.strerror or exc}; nothing was kept "
        "(free some space, or pass another --data-dir)"
    )
    return SnapshotError(msg)


def remove_stale_temporaries(raw_dir: Path, older_than: float = STALE_AFTER) -> list[Path]:
    """Remove ``.tmp-*`` folders of killed runs (unchanged for ``older_than`` seconds)."""
    removed = []
    now = time.time()
    for d in Path(raw_dir).glob(".tmp-*"):
        try:
            if not d.is_dir() or d.is_symlink() or now - d.stat().st_mtime < older_than:
                continue
        except OSError:
            continue
        _remove_tree(d)
        if not d.exists():
            log.warning("removed %s: left by a run that stopped while writing a snapshot", d)
            removed.append(d)
    return removed


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for p in (path, *path.rglob("*")):
        with contextlib.suppress(OSError):
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path, ignore_errors=True)


def read_manifest(path: Path) -> dict[str, Any]:
    """Read a snapshot folder's manifest and check it against the schema, without
    verifying its files.

    Raises
    ------
    SnapshotNotFoundError
        The folder has no manifest.
    SnapshotIntegrityError
        The manifest is unreadable, not JSON, or breaks the schema (:func:`validate_manifest`).
    """
    mpath = Path(path) / MANIFEST
    if not mpath.is_file():
        msg = f"{path} is not a snapshot: it has no {MANIFEST}"
        raise SnapshotNotFoundError(msg)
    _confined(Path(path), MANIFEST, f"snapshot {Path(path).name}")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{mpath} is not valid JSON ({exc}); the snapshot is damaged, fetch or import it again"
        raise SnapshotIntegrityError(msg) from exc
    except OSError as exc:
        msg = f"cannot read {mpath} ({exc.strerror or exc})"
        raise SnapshotIntegrityError(msg) from exc
    return validate_manifest(manifest, mpath)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_file_name(name: str) -> str | None:
    """Why ``name`` is not a plain file name inside a snapshot folder (``None``: it is)."""
    if not name:
        return "an empty name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute name"
    if ".." in re.split(r"[/\\]", name):
        return "a name that leads out of the folder ('..')"
    if "/" in name or "\\" in name:
        return "a name with a folder in it (snapshot files are flat)"
    if name in {".", ".."}:
        return "not a file name"
    if "\0" in name:
        return "a name with a NUL character"
    if name == MANIFEST:
        return "the manifest itself"
    return None


def validate_manifest(manifest: Any, where: Path | str = MANIFEST) -> dict[str, Any]:
    """Check a parsed manifest against the snapshot schema and return it.

    Required: ``snapshot_id`` (a valid id), ``format`` (a non-empty string) and
    ``files``, a non-empty list of ``{"name", "bytes", "sha256"}`` with a plain,
    unique file name, a size >= 0 and 64 lowercase hex digits. Optional keys that
    are present must have their type: ``registry_data_date``, ``created_utc``,
    ``title`` (string or null), ``record_count``, ``page_count``, ``total_count``
    (integer >= 0), ``synthetic``, ``manual_download`` (boolean), ``query``,
    ``source`` (object), ``pages``, ``membership_pages`` (lists of names the
    ``files`` list holds).

    Raises
    ------
    SnapshotIntegrityError
        Naming the manifest file and the first problem found.
    """
    problem = _manifest_problem(manifest)
    if problem is not None:
        msg = (
            f"{where}: {problem}; the snapshot is damaged and cannot be used: restore it "
            "(git checkout / fetch or import it again)"
        )
        raise SnapshotIntegrityError(msg)
    return manifest


def _manifest_problem(manifest: Any) -> str | None:
    """The first way ``manifest`` breaks the schema of :func:`validate_manifest`, or ``None``."""
    if not isinstance(manifest, dict):
        return f"the manifest is {_kind(manifest)}, not a JSON object"
    for key, kind in (("snapshot_id", str), ("format", str), ("files", list)):
        if key not in manifest:
            return f"no {key!r} field"
        if not isinstance(manifest[key], kind):
            return f"{key!r} is {_kind(manifest[key])}, not a {'list' if kind is list else 'string'}"
    if not _ID_RE.match(manifest["snapshot_id"]):
        return f"snapshot_id {manifest['snapshot_id']!r} is not a valid snapshot id"
    if not manifest["format"]:
        return "'format' is empty"
    files = manifest["files"]
    if not files:
        return "'files' is empty: a snapshot holds at least one file"
    names: set[str] = set()
    for i, entry in enumerate(files):
        if not isinstance(entry, dict):
            return f"files[{i}] is {_kind(entry)}, not an object with name, bytes and sha256"
        for key in ("name", "bytes", "sha256"):
            if key not in entry:
                return f"files[{i}] has no {key!r}"
        name = entry["name"]
        if not isinstance(name, str):
            return f"files[{i}].name is {_kind(name)}, not a string"
        why = _check_file_name(name)
        if why:
            return f"files[{i}].name {name!r} is {why}: every file must be inside the snapshot folder"
        if name in names:
            return f"file {name!r} is listed twice"
        names.add(name)
        size = entry["bytes"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return f"files[{i}].bytes is {size!r}, not a whole number of bytes"
        digest = entry["sha256"]
        if not isinstance(digest, str) or not _SHA256_RE.match(digest):
            return f"files[{i}].sha256 is {digest!r}, not 64 lowercase hex digits"
    optional: dict[str, tuple[type, ...]] = {
        "registry_data_date": (str, type(None)), "created_utc": (str, type(None)),
        "title": (str, type(None)), "synthetic": (bool,), "manual_download": (bool,),
        "query": (dict,), "source": (dict,), "pages": (list,), "membership_pages": (list,),
    }
    for key, kinds in optional.items():
        if key in manifest and not isinstance(manifest[key], kinds):
            return f"{key!r} is {_kind(manifest[key])}, not {' or '.join(k.__name__ for k in kinds)}"
    for key in ("record_count", "page_count", "total_count"):
        value = manifest.get(key)
        if key in manifest and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            return f"{key!r} is {value!r}, not a whole number"
    for key in ("pages", "membership_pages"):
        for name in manifest.get(key, []):
            if name not in names:
                return f"{key} names {name!r}, which 'files' does not list (and no hash covers)"
    return None


def _confined(folder: Path, name: str, label: str) -> None:
    """A symbolic link among a snapshot's files must not lead out of its folder."""
    f = folder / name
    if f.is_symlink():
        target = f.resolve()
        if target.parent != folder.resolve():
            msg = (
                f"{label}: {name} is a symbolic link to {target}, outside the snapshot folder; "
                "a snapshot holds its files itself: replace the link by the file"
            )
            raise SnapshotIntegrityError(msg)


def verify_snapshot(path: Path) -> Snapshot:
    """Re-hash every file of a snapshot against its manifest.

    Raises
    ------
    SnapshotIntegrityError
        If the manifest breaks the schema, a file is missing, leads out of the
        folder, has another size or sha256, or an unlisted file is present.
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
        _confined(path, entry["name"], f"snapshot {path.name}")
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
        them = "it" if len(extra) == 1 else "them"
        msg = (
            f"snapshot {path.name}: {', '.join(extra)} {'is' if len(extra) == 1 else 'are'} not in "
            f"the manifest; trialmap never deletes raw data, so move {them} out of {path} yourself "
            "if you put it there (or restore the snapshot: git checkout / fetch or import it again)"
        )
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
            for entry in m["files"]:  # cheap (no hashing): a link out of the folder is damage too
                _confined(d, entry["name"], f"snapshot {d.name}")
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
