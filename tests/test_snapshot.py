"""Raw snapshots: the bundled one verifies, changed bytes are caught, writes are atomic."""

from __future__ import annotations

import shutil

import pytest

from trialmap.errors import SnapshotExistsError, SnapshotIntegrityError, SnapshotNotFoundError
from trialmap.snapshot import list_snapshots, open_snapshot, verify_snapshot, write_snapshot

from .conftest import BUNDLED_ID, RAW


def test_bundled_snapshot_manifest_describes_the_real_archive(bundled_snapshot):
    m = bundled_snapshot.manifest
    assert m["snapshot_id"] == BUNDLED_ID
    assert m["format"] == "ctgov-classic-full-studies-tar"
    assert m["record_count"] == 1783
    assert m["registry_data_date"] == "2022-01-21"
    assert "ClinicalTrials.gov" in m["attribution"]
    assert m["synthetic"] is False
    # The sha256 published with the shared data for full_studies.tar.gz.
    (entry,) = m["files"]
    assert entry["sha256"] == "024e6c0e305f3400c57bef88970874fca2e4ced1977c43d16146eb1105cab40b"


def test_newest_snapshot_is_found_without_an_id():
    assert open_snapshot(None, RAW).id == BUNDLED_ID


def _copy(tmp_path):
    dst = tmp_path / "raw" / BUNDLED_ID
    shutil.copytree(RAW / BUNDLED_ID, dst)
    for p in (dst, *dst.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def test_a_single_changed_byte_is_an_integrity_error(tmp_path):
    snap = _copy(tmp_path)
    data = bytearray((snap / "full_studies.tar.gz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (snap / "full_studies.tar.gz").write_bytes(bytes(data))
    with pytest.raises(SnapshotIntegrityError, match=r"full_studies\.tar\.gz has sha256"):
        verify_snapshot(snap)


def test_missing_and_unlisted_files_are_integrity_errors(tmp_path):
    snap = _copy(tmp_path)
    (snap / "notes.txt").write_text("edited by hand")
    with pytest.raises(SnapshotIntegrityError, match=r"notes\.txt is not in the manifest; trialmap never "
                                                     r"deletes raw data, so move it out of"):
        verify_snapshot(snap)
    (snap / "notes.txt").unlink()
    (snap / "full_studies.tar.gz").unlink()
    with pytest.raises(SnapshotIntegrityError, match="missing"):
        verify_snapshot(snap)


def test_unknown_snapshot_names_the_known_ones():
    with pytest.raises(SnapshotNotFoundError, match=BUNDLED_ID):
        open_snapshot("no-such-snapshot", RAW)


def test_write_snapshot_is_write_once_and_verifiable(tmp_path):
    raw = tmp_path / "raw"
    # Synthetic bytes: this tests the store, not registry content.
    snap = write_snapshot(raw, "s1", [("page-0001.json", b'{"studies": []}')], {"format": "x"})
    assert verify_snapshot(snap.path).manifest["files"][0]["bytes"] == 15
    with pytest.raises(SnapshotExistsError):
        write_snapshot(raw, "s1", [("page-0001.json", b"{}")], {"format": "x"})
    assert [m["snapshot_id"] for m in list_snapshots(raw)] == ["s1"]


def test_a_failed_write_leaves_no_folder_behind(tmp_path):
    raw = tmp_path / "raw"

    def pages():
        yield "page-0001.json", b"{}"
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a fetch

    with pytest.raises(KeyboardInterrupt):
        write_snapshot(raw, "s2", pages(), {"format": "x"})
    assert list(raw.iterdir()) == []
    assert list_snapshots(raw) == []
