"""Progress of the slow phases (loading data, building profiles, training a model).

Library code never prints: a part that may take long reports ``ProgressEvent``s to the
``ProgressHook`` it was handed, and whoever handed it (the command line) shows them.
Without a hook (``None``, the default everywhere) nothing is reported at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened to a phase.

    Attributes:
        phase: What is being done, in words ("loading dataset ml-100k").
        state: ``started``; ``advanced`` (``done`` of ``total`` units, e.g. epochs);
            ``finished`` (after ``seconds``). A phase that fails is never finished.
        done: Units done, when advanced.
        total: Units in all, when advanced.
        seconds: How long the phase took, when finished.
        detail: A short note on the latest unit ("loss 0.4127").
    """

    phase: str
    state: Literal["started", "advanced", "finished"]
    done: int | None = None
    total: int | None = None
    seconds: float | None = None
    detail: str = ""


ProgressHook = Callable[[ProgressEvent], None]
"""Receives every event, in order, on the thread doing the work."""


@contextmanager
def phase(hook: ProgressHook | None, name: str) -> Iterator[None]:
    """Report ``name`` started, then finished with its time if the block succeeds."""
    if hook is None:
        yield
        return
    hook(ProgressEvent(name, "started"))
    started = time.perf_counter()
    yield
    hook(ProgressEvent(name, "finished", seconds=time.perf_counter() - started))


def advance(hook: ProgressHook | None, name: str, done: int, total: int, detail: str = "") -> None:
    """Report that phase ``name`` has done ``done`` of ``total`` units."""
    if hook is not None:
        hook(ProgressEvent(name, "advanced", done=done, total=total, detail=detail))
