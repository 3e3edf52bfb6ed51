"""Stopping a long run: SIGTERM handled as Ctrl-C (a checkpointed run resumes), and the exit code of either."""
from __future__ import annotations

import contextlib
import signal
import sys
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, `kill`, a session ending), handled like Ctrl-C: checkpointed state stays."""


def _terminate(signum, frame):
    raise Terminated


def signal_of(interrupt: KeyboardInterrupt) -> int:
    """The signal behind an interrupt: SIGTERM for `Terminated`, else SIGINT (Ctrl-C)."""
    return signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT


@contextlib.contextmanager
def stop_signals():
    """SIGTERM raises `Terminated` as Ctrl-C raises KeyboardInterrupt, and neither is lost (main thread only).

    An interrupt whose exception lands where Python cannot propagate it (an at-fork callback such as logging's
    lock release after a fork, a `__del__`) is only reported to `sys.unraisablehook`, and the run would go on:
    the hook has the signal sent again a moment later, once the callback has returned (a handler run inside
    the hook would be lost the same way)."""
    if threading.current_thread() is not threading.main_thread():  # where signal handlers can be set
        yield
        return
    previous, previous_hook = signal.signal(signal.SIGTERM, _terminate), sys.unraisablehook

    def redeliver_lost_stop(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            threading.Timer(0.01, signal.pthread_kill,
                            (threading.main_thread().ident, signal_of(unraisable.exc_value))).start()
        else:
            previous_hook(unraisable)

    sys.unraisablehook = redeliver_lost_stop
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook
