"""Work done by a forked copy of this process, on the machine's second core.

Writing a run's outputs is several independent pieces (Figure 1's PDF, its PNG, the
tables and the report) of about half a second each; on two cores two of them can be
made at once. A forked copy shares everything already in memory (the run, the drawn
figure) without pickling it; only its result comes back, through a pipe. Where
forking is unsafe (other threads, whose locks the copy could inherit held: a Jupyter
kernel, the benchmark's memory sampler) or pointless (one core), the work is done
in-process instead.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from trialmap.errors import TrialmapError

# A run of up to this many records may hand whole results between copies: its tables are a
# few MB (5 MB pickled for the bundled 1,783 records); a registry-wide run's would be GBs.
SMALL_RECORDS = 20_000


def available() -> bool:
    """Whether a forked copy can work beside this process: fork, a second core, one thread."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and threading.active_count() == 1


@dataclass
class Forked:
    """A forked copy doing ``work``; :meth:`result` waits for it, :meth:`close` stops it."""

    pid: int
    pipe: int

    def result(self) -> Any:
        """What ``work`` returned, or the exception it raised, raised here."""
        with os.fdopen(self.pipe, "rb") as fh:
            message = fh.read()
        self.pipe = -1
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if not message:  # killed (out of memory?) or exited without a word
            how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit status {os.waitstatus_to_exitcode(status)}")
            msg = (f"the copy of this process doing part of the work ended without a result ({how}); "
                   "if the machine ran out of memory, close other programs and run again")
            raise TrialmapError(msg)
        ok, value = pickle.loads(message)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Stop the copy if it still runs (after a failure here)."""
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        if self.pipe >= 0:
            os.close(self.pipe)
            self.pipe = -1


def start(work: Callable[[], Any]) -> Forked:
    """Run ``work`` in a forked copy of this process; call :meth:`Forked.result` for its value."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return Forked(pid, read_end)
    # The copy: never returns, never runs the parent's exit handlers or finalizers.
    code = 1
    try:
        os.close(read_end)
        message, code = pickle.dumps((True, work()), protocol=pickle.HIGHEST_PROTOCOL), 0
    except BaseException as exc:  # every failure goes back to the parent
        try:
            message = pickle.dumps((False, exc))
        except Exception:  # an exception that does not pickle
            message = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        try:
            with os.fdopen(write_end, "wb") as fh:
                fh.write(message)
            for stream in (sys.stdout, sys.stderr):  # what work printed (os._exit flushes nothing)
                if stream is not None:
                    stream.flush()
        finally:
            os._exit(code)


@contextmanager
def beside(work: Callable[[], Any]) -> Iterator[Callable[[], Any]]:
    """``with beside(work) as result:``: ``work`` runs in a forked copy while the block runs;
    ``result()`` waits for its value. Where forking is not :func:`available`, ``result()``
    runs ``work`` in-process. Leaving the block before ``result()`` (an error) stops the copy.
    """
    if not available():
        yield work
        return
    job = start(work)
    try:
        yield job.result
    finally:
        job.close()
