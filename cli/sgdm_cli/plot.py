"""The paper-style figure: ‖∇f‖² (log scale), loss, test accuracy, learning rate and batch size
against epochs, one line per run label."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

PANELS = (
    ("grad_norm_sq", "‖∇f(θ)‖² (full batch)", "log"),
    ("train_loss", "training loss", "log"),
    ("test_accuracy", "test accuracy", "linear"),
    ("lr", "learning rate η", "log"),
    ("batch_size", "batch size b", "log"),
)


def save_figure(path: Path, runs: Mapping[str, Sequence[Mapping[str, Any]]], title: str) -> None:
    """Draw ``runs`` (label → history rows) into ``path`` (format from its extension)."""
    fig = figure(runs, title)
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure(runs: Mapping[str, Sequence[Mapping[str, Any]]], title: str) -> Any:
    """The figure of ``runs`` (label → history rows), one panel per quantity of :data:`PANELS`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "plotting needs matplotlib: pip install 'sgdm-cli[plot]'"
        ) from err

    fig, grid = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    axes, legend_ax = list(grid.flat[: len(PANELS)]), grid.flat[-1]
    for label, rows in runs.items():
        # Row e holds the metrics after epoch e, and the batch size and learning rate used
        # during it: those are drawn over (e - 1, e], as steps ending at their row ("steps-pre").
        epochs = [r["epoch"] for r in rows]
        for ax, (key, name, scale) in zip(axes, PANELS):
            values = [r.get(key) for r in rows]
            pairs = [(e, v) for e, v in zip(epochs, values) if v is not None and v == v and (scale != "log" or v > 0)]
            if pairs:
                xs, ys = zip(*pairs)
                step = key in ("lr", "batch_size")
                ax.plot(xs, ys, label=label, drawstyle="steps-pre" if step else "default", linewidth=1.4)
    for ax, (key, name, scale) in zip(axes, PANELS):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_yscale(scale)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    legend_ax.axis("off")
    legend_ax.legend(handles, labels, loc="center", title="run", frameon=False)
    fig.suptitle(title)
    return fig
