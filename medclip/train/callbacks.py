"""Loop callbacks: code that observes (or, in tests, interrupts) the loop without living inside it.

A callback is any object with some of these methods; the loop calls each at its point:

- ``on_fetch(loop, micro)``: after the micro-batches of one optimizer step were read (``micro`` = the
  loader's dicts with ``keys``, ``skip_reasons``, ``damage`` ...);
- ``on_step_end(loop)``: after a step's logging, checkpoint and evaluation (``loop.state`` holds the step).

:func:`train` takes ``callbacks=[...]``; :func:`from_env` is the bridge for tests that can only set the
environment of a subprocess (the kill-9 restart test of ``tests/test_train_ddp.py``), read once at start-up.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "MEDCLIP_FAULT_KILL_AT_STEP"


class KillAtStep:
    """Fault injection: SIGKILL this process right after step ``step`` (checkpoint writes finished first)."""

    def __init__(self, step: int):
        self.step = int(step)

    def on_step_end(self, loop) -> None:
        if loop.state.step == self.step:
            if loop.run.writer is not None:
                loop.run.writer.wait()
            os.kill(os.getpid(), signal.SIGKILL)


def from_env(environ=os.environ) -> list:
    """Callbacks requested by the environment: ``MEDCLIP_FAULT_KILL_AT_STEP=N`` (first torchrun attempt only)."""
    kill_at = environ.get(FAULT_ENV)
    if kill_at and environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0":
        return [KillAtStep(int(kill_at))]
    return []


def call(callbacks: list, hook: str, *args) -> None:
    """Call ``hook(*args)`` on every callback that has it."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)
