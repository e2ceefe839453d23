"""Work in a forked copy: its value and its failures come back; a copy not waited for is stopped.

Earlier tests may leave threads behind (a local HTTP server's), which would make
:func:`forked.available` say no: the tests of the copy itself force it.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from trialmap import forked
from trialmap.errors import OutputError, TrialmapError


@pytest.fixture
def fork(monkeypatch):
    monkeypatch.setattr(forked, "available", lambda: True)
    return forked


def test_the_value_comes_back_and_the_work_ran_elsewhere(fork):
    with forked.beside(lambda: (os.getpid(), b"x" * 3_000_000)) as result:  # larger than a pipe's buffer
        pid, blob = result()
    assert pid != os.getpid() and len(blob) == 3_000_000


def test_a_trialmap_error_is_raised_here_with_its_message(fork):
    def fail():
        raise OutputError("cannot write x.csv (the disk is full); nothing was replaced")

    with pytest.raises(OutputError, match="the disk is full"), forked.beside(fail) as result:
        result()


def test_an_exception_that_does_not_pickle_still_says_what_it_was(fork):
    class Local(Exception):  # defined in a function: pickle cannot find it by name
        pass

    def fail():
        raise Local("made up")

    with pytest.raises(RuntimeError, match="Local: made up"), forked.beside(fail) as result:
        result()


def test_leaving_early_stops_the_copy(fork, tmp_path):
    pid_file = tmp_path / "pid"

    def slow():
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)

    with pytest.raises(ValueError), forked.beside(slow):
        for _ in range(500):
            if pid_file.is_file() and pid_file.read_text():
                break
            time.sleep(0.01)
        raise ValueError("the caller failed first")
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left sleeping
        os.kill(int(pid_file.read_text()), 0)


def test_with_another_thread_the_work_runs_in_process():
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not forked.available()
        with forked.beside(os.getpid) as result:
            assert result() == os.getpid()
    finally:
        stop.set()
        t.join()


def test_a_copy_that_dies_without_a_word_is_a_one_line_error(fork):
    # Made up: the copy ends as an out-of-memory kill would, with no result written.
    with pytest.raises(TrialmapError, match=r"ended without a result \(exit status 3\)"), \
            forked.beside(lambda: os._exit(3)) as result:
        result()
