"""The audit's figures: robust accuracy vs ε (check 10) and PGD loss traces (checks 11, 12)."""

from __future__ import annotations

from pathlib import Path

from tfls import io


def write_plots(report, out) -> dict[str, Path]:
    """Writes `accuracy_vs_eps.png` and `loss_traces.png` (when their data exists), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    written: dict[str, Path] = {}
    sweep = _data(report, 10, "accuracy")
    if sweep:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        xs = list(range(len(sweep["accuracy"])))
        ax.plot(xs, [100 * a for a in sweep["accuracy"]], marker="o")
        ax.set_xticks(xs, [f"{lab}\n{e:.3g}" for lab, e in zip(sweep["labels"], sweep["eps"])])
        ax.set_ylabel("PGD-20 robust accuracy (%)")
        ax.set_xlabel("ε")
        ax.set_ylim(-2, 102)
        ax.set_title("Robust accuracy vs ε (must fall, reach 0)")
        fig.tight_layout()
        written["accuracy_vs_eps.png"] = _save(fig, out / "accuracy_vs_eps.png")
        plt.close(fig)
    traces = _data(report, 11, "loss_traces") or _data(report, 12, "loss_traces")
    if traces:
        rows = traces["loss_traces"]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for row in rows:
            ax.plot(range(len(row)), row, lw=0.8, alpha=0.7)
        ax.set_xlabel("PGD step")
        ax.set_ylabel("cross-entropy")
        ax.set_title(f"PGD loss traces ({len(rows)} points)")
        fig.tight_layout()
        written["loss_traces.png"] = _save(fig, out / "loss_traces.png")
        plt.close(fig)
    return written


def _data(report, check_id, key):
    for c in report.checks:
        if c.id == check_id and c.data.get(key):
            return c.data
    return None


def _save(fig, path: Path) -> Path:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path
