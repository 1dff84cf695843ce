"""A stderr progress bar (stage, percent, elapsed, ETA) fed by pipeline progress events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from reflector.pipelines.progress import Progress as PipelineProgress
from reflector.pipelines.progress import ProgressCallback


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[ProgressCallback | None]:
    """Yield a callback that draws pipeline progress, or ``None`` when disabled."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.fields[label]}[/] {task.description:<18}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("starting", total=1000, label=label)

        def update(event: PipelineProgress) -> None:
            bar.update(task, completed=round(event.fraction * 1000), description=event.stage)

        yield update
        bar.update(task, completed=1000, description="done")
