"""Slow phases shown on stderr, so a command is never silent while it builds or trains.

The library reports ``simulator.progress`` events to a hook; ``PhaseDisplay`` is the hook
the commands hand it. A terminal sees a spinner per running phase (with a count and a
note while a phase counts, such as SASRec's epochs and loss) and keeps one line per
finished phase with its time. A file or pipe gets none of it, as rich's own bars do not
draw there: what a script captures stays the results, or the one line of an error.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from simulator.cli.app import err_console
from simulator.progress import ProgressEvent


class PhaseDisplay:
    """A ``ProgressHook`` that shows events; use it as a context manager around the work.

    Args:
        console: Where it shows them (stderr by default).
        progress: A rich display already on screen to add the phases to (``compare``'s
            run bars); then finished phases leave no line, and its owner starts and stops
            it. Without one, a display of its own is shown while the block runs.

    Events after the block (a recommender refitting during the steps) are ignored: the
    steps have a progress bar of their own.
    """

    def __init__(self, console: Console = err_console, *, progress: Progress | None = None):
        self.own = progress is None
        self.bars = progress or Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),  # names hold data (paths)
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.console = self.bars.console
        self.live = self.own and self.console.is_terminal
        self.tasks: dict[str, TaskID] = {}
        self.open = False
        """Whether events are shown: inside the block, and on a terminal or in a display
        on screen."""

    def __enter__(self) -> PhaseDisplay:
        if self.live:
            self.bars.start()
        self.open = self.live or not self.own
        return self

    def __exit__(self, *exc: object) -> None:
        self.open = False
        for task in self.tasks.values():
            self.bars.remove_task(task)
        self.tasks.clear()
        if self.live:
            self.bars.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if not self.open:
            return
        indent = "    " if not self.own else ""
        if event.state == "started":
            self.tasks[event.phase] = self.bars.add_task(f"{indent}{event.phase}", total=None)
        elif event.state == "advanced":
            counted = f"{event.phase}: {event.done}/{event.total}"
            if event.detail:
                counted += f", {event.detail}"
            if event.phase not in self.tasks:
                self.tasks[event.phase] = self.bars.add_task("", total=None)
            self.bars.update(self.tasks[event.phase], description=f"{indent}{counted}")
        else:
            task = self.tasks.pop(event.phase, None)
            if task is not None:
                self.bars.remove_task(task)
            if self.own:
                line = Text(f"{event.phase} … {event.seconds:.1f} s", style="dim")
                self.console.print(line, soft_wrap=True)
