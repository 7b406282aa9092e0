"""One LLM batch for several worlds at once: the vector environment's batching.

Each sub-environment steps its own world in a thread. Every world's LLM call goes to the
gate, which waits until each world still stepping has either asked or finished, then sends
everything asked as one backend batch and hands each world its own answers. A phase that
every world runs (the page decisions, say) is then one batch for all of them, however many
worlds there are. Written by hand: the backends batch what they are given, and no library
joins calls that come from several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from simulator.types import LLM, LLMRequest, LLMResponse

T = TypeVar("T")


class BatchGate:
    """Joins the calls of the worlds that ``run`` steps together into one backend batch.

    Args:
        backend: The one backend every member shares; only the gate calls it, one batch at
            a time, so it needs no thread safety.
    """

    def __init__(self, backend: LLM) -> None:
        self.backend = backend
        self.batches = 0
        """Backend calls made: what the LLM server saw."""
        self._cond = threading.Condition()
        self._running = 0
        self._asked: dict[int, list[LLMRequest]] = {}
        self._answers: dict[int, list[LLMResponse] | BaseException] = {}
        self._broken = False

    def member(self, index: int) -> GateMember:
        """The backend that world ``index`` is built with."""
        return GateMember(self, index)

    def run(self, jobs: Sequence[tuple[int, Callable[[], T]]]) -> list[T]:
        """Run each ``(member, job)`` in a thread of its own and return their results in
        order; the LLM calls they make meanwhile are joined. The first error (by member)
        is raised after every job has ended."""
        results: dict[int, T] = {}
        errors: dict[int, BaseException] = {}

        def work(index: int, job: Callable[[], T]) -> None:
            try:
                results[index] = job()
            except BaseException as exc:  # handed to the caller below
                errors[index] = exc
            finally:
                with self._cond:
                    self._running -= 1
                    self._flush_when_ready()

        if self._broken:
            raise RuntimeError(
                "an earlier step was interrupted while its worlds were stepping; "
                "make a new vector environment"
            )
        with self._cond:
            self._running = len(jobs)
        threads = [threading.Thread(target=work, args=job, daemon=True) for job in jobs]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:
            # Ctrl-C: the threads cannot be stopped and their worlds are mid-step, so no
            # later step may count on them.
            self._broken = True
            raise
        if errors:
            raise errors[min(errors)]
        return [results[index] for index, _ in jobs]

    def generate(self, index: int, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Member ``index``'s call: answered alone outside ``run``, else in the joined batch."""
        with self._cond:
            if self._running == 0:
                self.batches += 1
                return self.backend.generate(requests)
            self._asked[index] = list(requests)
            self._flush_when_ready()
            while index not in self._answers:
                self._cond.wait()
            answer = self._answers.pop(index)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _flush_when_ready(self) -> None:
        """With the lock held: once every running member has asked, answer them all."""
        if not self._asked or len(self._asked) < self._running:
            return
        members = sorted(self._asked)  # a fixed order, so a run replays exactly
        batch = [r for m in members for r in self._asked[m]]
        self.batches += 1
        try:
            answers = self.backend.generate(batch)
        except BaseException as exc:  # every waiting member raises it in its own thread
            for m in members:
                self._answers[m] = exc
        else:
            start = 0
            for m in members:
                end = start + len(self._asked[m])
                self._answers[m] = list(answers[start:end])
                start = end
        self._asked.clear()
        self._cond.notify_all()


class GateMember:
    """One world's view of the shared backend: the ``LLM`` protocol, through the gate."""

    def __init__(self, gate: BatchGate, index: int) -> None:
        self.gate = gate
        self.index = index
        self.name = gate.backend.name
        self.model = gate.backend.model

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        return self.gate.generate(self.index, requests)

    def health(self) -> str | None:
        health = getattr(self.gate.backend, "health", None)
        return health() if health is not None else None

    def close(self) -> None:
        """Nothing: the vector environment closes the shared backend once."""
