"""trialmap.outputs: atomic folders, a lock per folder, stale folders removed, umask, disk full."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest

from trialmap import outputs
from trialmap.errors import OutputError

from .conftest import BUNDLED_ID


def _dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                       text=True, check=True)
    return int(p.stdout)


def test_a_failed_build_leaves_the_previous_folder_and_no_hidden_folder(tmp_path):
    final = tmp_path / "run"
    with outputs.building(final) as tmp:
        (tmp / "a.csv").write_text("1\n")
    with pytest.raises(RuntimeError), outputs.building(final) as tmp:
        (tmp / "b.csv").write_text("2\n")
        raise RuntimeError("stage failed")
    assert sorted(p.name for p in final.iterdir()) == ["a.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_live_lock_is_one_line_a_dead_one_is_taken_over(tmp_path):
    final = tmp_path / "run"
    lock = tmp_path / ".run.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.write_text(str(holder.pid))
        with pytest.raises(OutputError, match=rf"another trialmap run \(pid {holder.pid}\) is writing"), \
                outputs.building(final):
            pass
    finally:
        holder.kill()
        holder.wait()
    lock.write_text(str(_dead_pid()))
    with outputs.building(final) as tmp:
        (tmp / "x").write_text("ok")
    assert (final / "x").is_file() and not lock.exists()


def test_hidden_folders_of_dead_runs_are_removed_live_ones_kept(tmp_path):
    dead = tmp_path / f".tmp-run-p{_dead_pid()}-abc"
    live = tmp_path / f".tmp-run-p{os.getpid()}-def"
    old_unnamed = tmp_path / ".tmp-ctgov-xyz"
    for p in (dead, live, old_unnamed):
        p.mkdir()
    os.utime(old_unnamed, (0, 0))  # a folder of an older trialmap, long ago
    removed = outputs.remove_stale(tmp_path)
    assert set(removed) == {dead, old_unnamed} and live.is_dir()


def test_outputs_follow_the_umask_figures_included(result, tmp_path):
    old = os.umask(0o022)
    try:
        folder = result.write(tmp_path)
    finally:
        os.umask(old)
    for p in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o755 if p.is_dir() else 0o644), (p, oct(mode))
    assert folder.name == BUNDLED_ID


def test_disk_full_is_one_line_naming_the_path_and_nothing_is_replaced(tmp_path, monkeypatch):
    # The fault is made up (no real full disk in a test): writing raises ENOSPC.
    final = tmp_path / "run"
    with outputs.building(final) as tmp:
        (tmp / "a.csv").write_text("1\n")

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.csv"))

    with pytest.raises(OutputError) as exc, outputs.building(final):
        full()
    msg = str(exc.value)
    assert "\n" not in msg and "the disk is full" in msg and "x.csv" in msg and "nothing was replaced" in msg
    assert sorted(p.name for p in final.iterdir()) == ["a.csv"]


RACE = """
import sys, time
from pathlib import Path
from trialmap import outputs
from trialmap.errors import OutputError
try:
    with outputs.building(Path(sys.argv[1])) as tmp:
        (tmp / "f").write_text(sys.argv[2])
        time.sleep(0.2)
except OutputError as exc:
    print("refused:", exc)
else:
    print("done")
"""


def test_two_first_runs_racing_into_one_folder_both_end_cleanly(tmp_path):
    for i in range(5):
        final = tmp_path / f"run{i}"
        procs = [subprocess.Popen([sys.executable, "-c", RACE, str(final), str(k)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for k in range(2)]
        results = [p.communicate() for p in procs]
        assert all(p.returncode == 0 for p in procs), results
        assert all(err == "" for _, err in results), results  # no traceback
        said = sorted(out.split(":")[0].strip() for out, _ in results)
        assert said in (["done", "done"], ["done", "refused"]), said
        assert (final / "f").read_text() in ("0", "1")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_output_folder_name_keeps_figure_options_apart(result):
    assert outputs.output_folder_name(result, ["figure1"], False) == BUNDLED_ID
    two = outputs.output_folder_name(result, ["figure1", "flow"], False)
    assert two == f"{BUNDLED_ID}_figures-figure1+flow"
    assert outputs.output_folder_name(result, ["figure1"], True) == f"{BUNDLED_ID}_journal"
