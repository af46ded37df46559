"""A fake `tui.backend.Backend`: instant, deterministic, and paced batch by batch by the test."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tfls.eval.progress import Progress
from tui.backend import Backend, Library

# The presets the fake offers, in the picker's order; their specs, editable parameters and shown
# defaults come from the real `tfls.attacks.PRESETS` through the real backend, so they cannot drift.
SHOWN = ("fgsm", "pgd20", "pgd-cw", "cw-l2", "transfer-pgd20")


def write_run(
    root: Path, name: str, *, alpha: float, clean: float = 0.9, dataset="fashion_mnist"
) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "run.json").write_text(
        json.dumps(
            {
                "dataset": dataset,
                "model": "cnn4",
                "method": "natural",
                "label_smoothing": alpha,
                "eps": 0.0,
                "epochs": 1,
                "seed": 0,
                "clean_accuracy": clean,
                "logit_stats": {"min": -1.0, "max": 1.0, "mean_margin": 0.5},
            }
        )
    )
    return path


class FakeBackend(Backend):
    """Batches of 10 images: 9 clean-correct; attack i leaves 8 - i robust; worst = min.

    With `paced=True` the evaluator waits for `release(k)` before each of the next k batches, so a
    test decides exactly when batches happen (no sleeping).
    """

    def __init__(self, *, paced: bool = False):
        self.paced = paced
        self.gate = threading.Semaphore(0)
        self.calls: list[dict] = []
        self.built: list[tuple[str, dict]] = []
        self.stored: dict[Path, int] = {}  # out folder -> batches on "disk"

    def release(self, k: int = 1) -> None:
        for _ in range(k):
            self.gate.release()

    def load_library(self) -> Library:
        real = super().load_library()
        return Library(
            {name: real.presets[name] for name in SHOWN},
            {name: real.params[name] for name in SHOWN},
            ("ce", "margin", "dlr"),
            ("fashion_mnist",),
            ("cnn4",),
            defaults={name: real.defaults[name] for name in SHOWN},
        )

    def load_run(self, path):
        run = json.loads((Path(path) / "run.json").read_text())
        return f"model:{Path(path).name}", run

    def load_data(self, run, n, batch_size):
        return ("data", n, batch_size)

    def plan_attacks(self, attacks, *, eps, norm):
        from tfls.attacks import plan_suite  # the real rules: the app refuses what tfls refuses

        return plan_suite(
            [a.name for a in attacks],
            eps=eps,
            norm=norm,
            overrides={a.name: a.overrides for a in attacks if a.overrides},
        )

    def build_attacks(self, model, attacks, *, eps, norm):
        self.plan_attacks(attacks, eps=eps, norm=norm)
        built = {}
        for a in attacks:
            if a.overrides.get("steps") == 13:
                raise ValueError("Received: steps=13 (refused by the fake attack)")
            self.built.append((a.name, a.overrides))
            built[a.name] = {"name": a.name, "eps": eps, "norm": norm, **a.overrides}
        return built

    def evaluate(self, model, dataset, attacks, *, out, on_batch, n, meta):
        self.calls.append({"attacks": attacks, "out": out})
        names = tuple(attacks)
        _, n, batch_size = dataset
        assert batch_size == 10, "the fake counts in batches of 10"
        self.batches = -(-n // batch_size)
        done = self.stored.get(out, 0)
        restored = done * 10
        for b in range(done, self.batches):
            if self.paced and not self.gate.acquire(timeout=20):
                raise RuntimeError("the test never released this batch")  # fail, don't hang
            imgs = 10 * (b + 1)
            robust = {n: (8 - i) * (b + 1) for i, n in enumerate(names)}
            self.stored[out] = b + 1
            progress = Progress(
                images_done=imgs,
                images_total=10 * self.batches,
                batches_done=b + 1,
                clean_correct=9 * (b + 1),
                robust=robust,
                worst_case=min(robust.values()),
                elapsed_s=0.1 * (b + 1),
                images_per_s=100.0,
                eta_s=0.1,
                attacks=names,
                restored_images=restored,
            )
            if on_batch(progress) is False:
                break
        complete = self.stored[out] == self.batches
        report = {
            "images": 10 * self.stored[out],
            "clean_accuracy": 0.9,
            "complete": complete,
            "worst_case_accuracy": (8 - len(names) + 1) / 10,
            "attacks": {n: {"robust_accuracy": (8 - i) / 10} for i, n in enumerate(names)},
        }
        (Path(out) / "report.json").write_text(json.dumps(report))
        return report

    def train(self, request, out, *, on_epoch):
        for epoch in range(1, request.epochs + 1):
            on_epoch(epoch, {"epochs": request.epochs, "loss": 1.0 / epoch, "accuracy": 0.5})
        write_run(Path(out).parent, Path(out).name, alpha=request.label_smoothing, clean=0.5)
        return out
