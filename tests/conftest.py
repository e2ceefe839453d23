"""Shared fixtures: the bundled real snapshot, read and processed once per session."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # no screen in CI

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
BUNDLED_ID = "ctgov-classic-2022-01-21"
BUNDLED_TARBALL = RAW / BUNDLED_ID / "full_studies.tar.gz"


@pytest.fixture(scope="session")
def bundled_snapshot():
    from trialmap.snapshot import open_snapshot

    return open_snapshot(BUNDLED_ID, RAW)


@pytest.fixture(scope="session")
def tables(bundled_snapshot):
    from trialmap.sources import read_snapshot

    return read_snapshot(bundled_snapshot)


@pytest.fixture(scope="session")
def definition():
    from trialmap.studyset import load_definition

    return load_definition()


@pytest.fixture(scope="session")
def result(bundled_snapshot, definition):
    from trialmap.refresh import process

    return process(bundled_snapshot, definition)


@pytest.fixture(scope="session")
def raw_records() -> dict[str, dict]:
    """The bundled records parsed straight from the tarball, independently of trialmap."""
    out = {}
    with tarfile.open(BUNDLED_TARBALL, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                study = json.load(tar.extractfile(member))
                out[study["ProtocolSection"]["IdentificationModule"]["NCTId"]] = study
    return out
