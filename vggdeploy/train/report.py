"""Training outputs: history as JSON/CSV, a PNG of the curves, and the progress bar."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from vggdeploy._io import write_json, write_text


def write_history(out: Path, history: list[dict[str, float]]) -> None:
    write_json(out / "history.json", history)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text(out / "history.csv", buf.getvalue())
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are a nicety; the CSV/JSON carry the data
        return
    from vggdeploy._io import atomic_path

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(ep, [h["train_loss"] for h in history], label="train loss")
    a.plot(ep, [h["test_loss"] for h in history], label="test loss")
    a.set_xlabel("epoch")
    a.legend()
    b.plot(ep, [h["train_accuracy"] for h in history], label="train acc")
    b.plot(ep, [h["test_accuracy"] for h in history], label="test acc")
    b.set_xlabel("epoch")
    b.legend()
    fig.tight_layout()
    with atomic_path(out / "curves.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def progress_bar(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )
