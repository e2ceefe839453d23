"""trialmap.paths: where data lives, the bundled snapshot, the one hash helper, the package list."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from trialmap import paths

from .conftest import BUNDLED_ID, BUNDLED_TARBALL, ROOT


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIALMAP_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    # no ./data here: the per-user folder
    assert paths.data_dir() == tmp_path / "xdg" / "trialmap"
    (tmp_path / "data").mkdir()
    assert paths.data_dir() == Path("data")  # ./data when the current folder holds one
    monkeypatch.setenv("TRIALMAP_DATA", str(tmp_path / "env"))
    assert paths.data_dir() == tmp_path / "env"
    assert paths.data_dir(tmp_path / "arg") == tmp_path / "arg"  # the argument wins


def test_bundled_snapshot_is_found_from_a_checkout():
    assert paths.bundled_raw_dir() is not None
    assert (paths.bundled_raw_dir() / BUNDLED_ID / "manifest.json").is_file()
    assert paths.BUNDLED_SNAPSHOT == BUNDLED_ID


def test_sha256_file_matches_hashlib():
    assert paths.sha256_file(BUNDLED_TARBALL) == hashlib.sha256(BUNDLED_TARBALL.read_bytes()).hexdigest()


def test_every_package_is_listed_for_the_build():
    # pyproject lists packages by hand (the bundled snapshot is mapped from data/raw):
    # a new subpackage missing from the list would be left out of the wheel.
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "trialmap").rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
    assert "trialmap.bundled" in listed
