"""A rich progress bar around :func:`run_bench` (stderr, hidden when not a terminal)."""

from __future__ import annotations

from typing import Any

from vggdeploy.bench.run import BenchConfig, run_bench


def bench_with_progress(cfg: BenchConfig) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("loading", total=None)

        def tick(description: str, advance: int, total: int | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.update(task, advance=advance, description=description or None)

        return run_bench(cfg, progress=tick)
