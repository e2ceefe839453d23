r"""Where trialmap keeps its data, and the one file-hash helper.

The data directory holds ``raw/`` (immutable snapshots) and ``processed/``
(outputs). It is, in order of precedence: the ``data_dir=`` argument (CLI
``--data-dir``), the ``TRIALMAP_DATA`` environment variable, ``./data`` when
the current folder holds one, otherwise a per-user folder
(``$XDG_DATA_HOME/trialmap``, by default ``~/.local/share/trialmap``;
``%LOCALAPPDATA%\\trialmap`` on Windows).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

ENV_VAR = "TRIALMAP_DATA"
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
        The file to hash.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def user_data_dir() -> Path:
    """The per-user data folder used when neither an argument, ``TRIALMAP_DATA`` nor ``./data`` applies."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "trialmap"


def data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory trialmap reads snapshots from and writes outputs to.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        An explicit folder; wins over everything else.

    Returns
    -------
    pathlib.Path
        ``data_dir``, else ``$TRIALMAP_DATA``, else ``./data`` if it exists,
        else :func:`user_data_dir`. The folder need not exist yet.
    """
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    local = Path("data")
    if local.is_dir():
        return local
    return user_data_dir()


#: The real snapshot shipped with trialmap (ClinicalTrials.gov classic API, January 2022).
BUNDLED_SNAPSHOT = "ctgov-classic-2022-01-21"


def bundled_raw_dir() -> Path | None:
    """The folder holding the bundled snapshot: inside the installed package, or a checkout's ``data/raw``.

    The snapshot is committed once, in the repository's ``data/raw/``; the
    build packages it as ``trialmap/bundled/`` (see ``pyproject.toml``).
    ``None`` if neither exists (a broken install).
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "bundled", here.parent / "data" / "raw"):
        if (candidate / BUNDLED_SNAPSHOT / "manifest.json").is_file():
            return candidate
    return None
