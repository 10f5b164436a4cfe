"""Progress bars on stderr that leave nothing behind."""

from __future__ import annotations


def transient_progress(*columns):
    """A Rich `Progress` on stderr that disappears when done. Where stderr is not a terminal (a
    log file, a pipe) it shows nothing: Rich would write an empty line when it stops there."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


def stop(progress) -> None:
    """Stops `progress` if it started (one never started writes an empty line when stopped)."""
    if progress.live.is_started:
        progress.stop()
