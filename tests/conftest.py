"""Shared fixtures: the bundled real snapshot, read and processed once per session."""

from __future__ import annotations

import json
import os
import socket
import tarfile
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # no screen in CI


def closed_port_url() -> str:
    """An API URL on 127.0.0.1 where nothing listens (a port just freed by the OS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v2"


# Tests never touch the real network: unless a test passes --api-url, the CLI (also in
# subprocesses, which inherit this) talks to a closed local port and falls back.
os.environ["TRIALMAP_API_URL"] = closed_port_url()

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
    from trialmap import pipeline

    return pipeline.run(bundled_snapshot, definition)


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


@pytest.fixture(autouse=True)
def _close_figures():
    """Every test leaves no matplotlib figure open (as geopandas' tests do)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
