"""Writing a run's output folder: tables, figures, methods and provenance, atomically.

Everything is built in a hidden ``.tmp-<name>-<pid>-*`` folder beside the final
one and swapped into ``<root>/<run.output_name>/`` only when complete, so a
failed or killed run leaves the previous outputs untouched. A lock file per
output folder keeps two runs from swapping into the same place at once; hidden
folders left by dead runs are removed by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from trialmap import forked
from trialmap.errors import OutputError
from trialmap.paths import sha256_file

#: Figures written when none are named: Figure 1 only (each PDF costs about a second).
DEFAULT_FIGURES = ("figure1",)
#: A hidden folder of a run whose pid cannot be read is stale after this long.
STALE_SECONDS = 3600


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_in(name: str) -> int | None:
    """The pid in ``.tmp-<anything>-p<pid>-<random>`` (None for older names)."""
    for part in name.split("-"):
        if part.startswith("p") and part[1:].isdigit():
            return int(part[1:])
    return None


def remove_stale(root: Path) -> list[Path]:
    """Remove hidden ``.tmp-*`` / ``.old-*`` folders left in ``root`` by runs that died.

    A folder counts as stale when the pid in its name is not running, or (for
    names without a pid) when it is older than :data:`STALE_SECONDS`.

    Returns
    -------
    list of pathlib.Path
        The folders removed.
    """
    removed = []
    if not root.is_dir():
        return removed
    now = time.time()
    for p in root.iterdir():
        if not p.is_dir() or not p.name.startswith((".tmp-", ".old-")):
            continue
        pid = _pid_in(p.name)
        try:
            stale = not _alive(pid) if pid is not None else now - p.stat().st_mtime > STALE_SECONDS
        except OSError:
            continue
        if stale:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@contextlib.contextmanager
def folder_lock(final: Path) -> Iterator[Path]:
    """Hold ``<final>.lock`` (a hidden file beside it) while a run writes ``final``.

    Raises
    ------
    OutputError
        When another live run holds the lock.
    """
    lock = final.with_name(f".{final.name}.lock")
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder and _alive(holder) and holder != os.getpid():
                msg = (
                    f"another trialmap run (pid {holder}) is writing {final}; wait for it to "
                    f"finish (or delete {lock} if no run is active)"
                )
                raise OutputError(msg) from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # left by a run that died
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        try:
            yield lock
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        return
    msg = f"cannot take the lock {lock}; delete it if no trialmap run is active"
    raise OutputError(msg)


def _follow_umask(folder: Path) -> None:
    # mkdtemp and temporary files are private (0700/0600); finished outputs follow the umask.
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for p in folder.rglob("*"):
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)


def swap_into_place(tmp: Path, final: Path) -> None:
    """Move a finished folder into place, replacing an earlier one only once done.

    Parameters
    ----------
    tmp : pathlib.Path
        The complete folder, on the same file system as ``final``.
    final : pathlib.Path
        Where it goes; an existing folder there is replaced.
    """
    _follow_umask(tmp)
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-p{os.getpid()}")
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except OSError:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def building(final: Path) -> Iterator[Path]:
    """A temporary folder that becomes ``final`` when the block ends without an error.

    Takes the folder's lock, removes stale folders of dead runs, and turns
    ``OSError`` (disk full, permissions) into one-line :class:`OutputError`.
    """
    root = final.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = (f"cannot create the output folder {root} ({exc.strerror}); "
               "pass a writable --data-dir / data_dir=")
        raise OutputError(msg) from exc
    remove_stale(root)
    with folder_lock(final):
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-p{os.getpid()}-", dir=root))
        except OSError as exc:
            msg = f"cannot write in {root} ({exc.strerror}); pass a writable --data-dir / data_dir="
            raise OutputError(msg) from exc
        try:
            yield tmp
            swap_into_place(tmp, final)
        except OSError as exc:
            what = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            where = exc.filename or root
            msg = f"cannot write the outputs to {where} ({what}); nothing was replaced"
            raise OutputError(msg) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def output_folder_name(run: Any, figures: Sequence[str], journal: bool) -> str:
    """The run's folder name plus the figure options when they are not the default.

    A plain run after ``--journal`` or ``--figures all`` therefore never deletes what they wrote.
    """
    name = run.output_name
    if journal:
        name += "_journal"
    if tuple(figures) != DEFAULT_FIGURES and not journal:
        name += "_figures-" + ("all" if len(figures) > 3 else "+".join(figures))
    return name


def tables_of(run: Any) -> dict[str, Any]:
    """The tables a run's folder holds, by file stem (``None`` entries are skipped)."""
    import pandas as pd

    from trialmap.tables import isin

    ids, t = run.included, run.tables
    return {
        "studies": t.studies[isin(t.studies["nct_id"], ids)],
        "sites": t.sites[isin(t.sites["nct_id"], ids)],
        "country_counts": (
            run.country_counts if run.no_location is None
            else pd.concat([run.country_counts, run.no_location], ignore_index=True)
        ),
        "region_counts": run.region_counts,
        "categories": run.categories,
        "category_counts": run.category_counts,
        "inclusion_log": run.inclusion_log,
        "flow": run.flow,
        "unknown_countries": run.unknown_countries,
        "geo_audit": run.geo_audit,
        "geo_unmatched": run.geo_unmatched,
    }


def write(
    run: Any, root: str | Path, *, argv: Sequence[str] | None = None,
    figures: Sequence[str] | str | None = None, journal: bool = False, full_paths: bool = False,
) -> Path:
    """Write a run's tables, figures, methods and provenance to ``root/<name>/`` atomically.

    Parameters
    ----------
    run : trialmap.Run
        The run.
    root : str or pathlib.Path
        The parent folder, usually ``<data_dir>/processed``.
    argv : sequence of str, optional
        The command line recorded in provenance.
    figures : str or sequence of str, optional
        ``"all"``, ``"figure1,flow"``, a list of names, or ``None``: Figure 1
        (all figures with ``journal``).
    journal : bool, default False
        Every journal format (PDF, SVG, PNG and TIFF at 300 and 600 dpi) at 89
        and 183 mm instead of PDF + 300 dpi PNG at 183 mm.
    full_paths : bool, default False
        Record absolute paths and the platform in provenance.

    Returns
    -------
    pathlib.Path
        The output folder.

    Raises
    ------
    OutputError
        For an unknown figure name, an unwritable folder, a full disk, or a
        folder another run is writing.
    """
    from trialmap import methods
    from trialmap.figures import suite
    from trialmap.report import write_report

    chosen = suite.figure_names(figures if figures is not None else ("all" if journal else DEFAULT_FIGURES))
    final = Path(root) / output_folder_name(run, chosen, journal)
    with building(final) as tmp:

        def tables_and_report() -> None:
            tables = tables_of(run)
            for name, df in tables.items():
                if df is not None:
                    df.to_csv(tmp / f"{name}.csv", index=False)
            for name in ("studies", "sites", "country_counts"):
                tables[name].to_parquet(tmp / f"{name}.parquet", index=False)
            write_report(run, tmp / "report.html")

        prov = run.provenance(argv, full_paths=full_paths)
        kw: dict[str, Any] = {} if journal else {
            "widths": ("double",), "formats": ("pdf", "png"), "dpis": (300,),
        }
        # The tables and the report are written by a copy of this process while this one
        # draws the figures (on one core, or beside other threads, one after the other).
        with forked.beside(tables_and_report) as written:
            exports = suite.write_figures(run, tmp / "figures", prov, names=chosen, **kw)
            written()
        (tmp / "methods.md").write_text(
            methods.methods_markdown(run.snapshot.manifest, prov, exports), encoding="utf-8"
        )
        prov["outputs"] = {
            str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        (tmp / "provenance.json").write_text(json.dumps(prov, indent=2, default=str) + "\n")
    return final
