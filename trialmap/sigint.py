"""Ctrl-C in the command line: exit 130 with one line, never a traceback, never a completed run.

Why a module for this (issue 13: "one SIGINT in 13 was swallowed and the run
completed with exit 0"): Python raises ``KeyboardInterrupt`` wherever the main
thread happens to be running Python code when the signal is handled. When that
is a finalizer (``__del__``, a weakref callback, a ``weakref.finalize``, a gc
callback, an atexit function), the exception cannot propagate: Python prints
"Exception ignored in ..." with a traceback and carries on, so the run goes on to
the end and exits 0. matplotlib, pandas and the temporary-file machinery run
such callbacks all the time while figures are drawn and exported.

:func:`interrupts` (used by the CLI's ``main`` functions only, never at import)
installs a SIGINT handler that counts the signal and raises
``KeyboardInterrupt``, and an unraisable-exception hook that, for a
``KeyboardInterrupt`` swallowed in such a context, raises it again in the main
thread a millisecond later (``_thread.interrupt_main`` from a helper thread,
once the finalizer has unwound) where it does propagate, without the
"Exception ignored" report. The count also lets ``main`` refuse to report
success after a Ctrl-C that was lost anyway.

:func:`quiet_exit` is for after ``main`` returned: a Ctrl-C while the interpreter
shuts down ends the process at once with the signal's own status (130 in a
shell), rather than a traceback or an "Exception ignored" line. The entry points
(``python -m trialmap.refresh``, ``trialmap``) also set that before they import
the heavy libraries, so a Ctrl-C while they load exits the same way. What no
trialmap code can reach is the interpreter's own start and the package's
``import trialmap`` (its ``__version__`` lookup), the first ~0.1-0.25 s: a
Ctrl-C there still prints Python's traceback.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Interrupts:
    """How many SIGINTs the process received inside :func:`interrupts`."""

    received: int = 0


@contextlib.contextmanager
def interrupts() -> Iterator[Interrupts]:
    """SIGINT raises ``KeyboardInterrupt`` that no finalizer can swallow, while inside.

    Does nothing (but count nothing) outside the main thread, or when SIGINT is
    ignored (a background job started without job control): then Ctrl-C is not
    the user's way to stop this process.
    """
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    old_handler = signal.getsignal(signal.SIGINT)
    if old_handler is signal.SIG_IGN:
        yield state
        return
    old_hook = sys.unraisablehook

    def handler(signum: int, frame: object) -> None:
        state.received += 1
        raise KeyboardInterrupt

    def again() -> None:
        time.sleep(0.001)  # let the finalizer's context unwind first
        _thread.interrupt_main()

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            # Raise it again in the main thread, from outside this context, where it propagates
            # (should it land in a finalizer again, this hook runs again).
            threading.Thread(target=again, daemon=True, name="trialmap-sigint").start()
            return
        old_hook(unraisable)

    signal.signal(signal.SIGINT, handler)
    sys.unraisablehook = hook
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, old_handler if old_handler is not None else signal.SIG_DFL)
        sys.unraisablehook = old_hook


def caused_by_ctrl_c(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C in disguise: a ``KeyboardInterrupt`` among its causes.

    Python 3.11 wraps one raised while a class is being created (``__set_name__``, e.g.
    inside ``import matplotlib``) into a ``RuntimeError``.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def leave(code: int) -> None:
    """End the program with ``code`` once its work is done, without the interpreter's teardown.

    After the main command, Python's own teardown (freeing some 150,000 objects of
    pandas, matplotlib and fontTools, module by module) took 0.3-0.4 s, a tenth of the
    whole command. Every file is written and closed by then; the atexit functions run
    (logging's flush, temporary folders' removal) and both streams are flushed, then the
    process ends. With other threads still running, the normal exit joins them.
    """
    import atexit
    import os

    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if others or run_exitfuncs is None:
        sys.exit(code)
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe (piped into head): nothing to flush to
            stream.flush()
    os._exit(code)


def quiet_exit() -> None:
    """From now on a SIGINT ends the process at once, with the signal's exit status.

    For a program's last moments (after ``main`` returned): nothing is being
    written any more, and an interpreter shutting down would otherwise print a
    traceback or an "Exception ignored" line for the Ctrl-C.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
