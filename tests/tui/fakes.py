"""A fake `tui.backend.Backend`: instant, deterministic, and paced batch by batch by the test."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tfls.eval.progress import Progress
from tui.backend import Backend, Library

# The presets the fake offers, in the picker's order; their specs, editable parameters and shown
# defaults come from the real `tfls.attacks.PRESETS` through the real backend, so they cannot drift.
SHOWN = ("fgsm", "pgd20", "pgd-cw", "cw-l2", "transfer-pgd20")


def write_run(
    root: Path,
    name: str,
    *,
    alpha: float,
    clean: float = 0.9,
    dataset="fashion_mnist",
    method="natural",
    eps=0.0,
) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "run.json").write_text(
        json.dumps(
            {
                "dataset": dataset,
                "model": "cnn4",
                "method": method,
                "label_smoothing": alpha,
                "eps": eps,
                "epochs": 1,
                "seed": 0,
                "clean_accuracy": clean,
                "logit_stats": {"min": -1.0, "max": 1.0, "mean_margin": 0.5},
            }
        )
    )
    return path


# The real audit's order: model checks, FGSM vs PGD, the trace and stability, then the rest.
AUDIT_ORDER = (1, 2, 3, 4, 5, 6, 12, 13, 7, 8, 9, 10, 11, 14)
QUICK = (1, 2, 3, 4, 5, 6, 12, 13)


def fake_check(check_id: int, title: str, cls):
    """Check 4 fails, 13 warns, the quick budget's others pass and the rest are skipped."""
    if check_id not in QUICK:
        return cls(check_id, title, "skipped", "not in the quick budget")
    if check_id == 4:
        return cls(
            check_id,
            title,
            "fail",
            "CE gradient all zero on 12% of points",
            numbers={"zero_ce": 0.12, "zero_margin": 0.0},
            advice="use margin/DLR losses (apgd-dlr, pgd-cw)",
        )
    if check_id == 13:
        return cls(
            check_id,
            title,
            "warn",
            "loss moves 31% under small noise",
            numbers={"instability": 0.31},
            advice="average over several draws",
        )
    return cls(check_id, title, "ok", f"fake check {check_id} found nothing", numbers={"n": 50})


class FakeBackend(Backend):
    """Batches of 10 images: 9 clean-correct; attack i leaves 8 - i robust; worst = min.

    With `paced=True` the evaluator waits for `release(k)` before each of the next k batches, so a
    test decides exactly when batches happen (no sleeping).
    """

    def __init__(self, *, paced: bool = False, cache: Path | None = None):
        self.paced = paced
        self.cache = cache  # the fake recipes' cache of the demo pair
        self.epoch_gate = threading.Semaphore(0)
        self.demo_trained: list[str] = []  # demo models trained (not loaded from the cache)
        self.gate = threading.Semaphore(0)
        self.calls: list[dict] = []
        self.built: list[tuple[str, dict]] = []
        self.stored: dict[Path, int] = {}  # out folder -> batches on "disk"
        self.check_gate = threading.Semaphore(0)
        self.audit_calls: list[dict] = []
        self.audit_stored: dict[Path, dict] = {}  # audit folder -> finished checks on "disk"

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

    # --- the fake audit ----------------------------------------------------------------------

    def release_checks(self, k: int = 1) -> None:
        """With `paced=True`, lets the fake audit finish its next `k` checks."""
        for _ in range(k):
            self.check_gate.release()

    def audit(self, model, data, *, eps, norm, n, budget, out, on_check, evaluations=()):
        """The real audit's order of checks; 4 fails and 13 warns (so `overestimated`).

        Finished checks are kept per `out` folder and read back first on a rerun, as the real
        audit does; with `paced=True` each new check waits for `release_checks()`.
        """
        from tfls.audit import TITLES, AuditReport, CheckResult
        from tfls.audit.verdict import decide, gap_test

        self.audit_calls.append(
            {
                "model": model,
                "eps": eps,
                "n": n,
                "budget": budget,
                "out": out,
                "evaluations": tuple(evaluations),
            }
        )
        done = self.audit_stored.setdefault(Path(out), {})
        for check_id in AUDIT_ORDER:
            if check_id not in done:
                if self.paced and not self.check_gate.acquire(timeout=20):
                    raise RuntimeError("the test never released this check")  # fail, don't hang
                done[check_id] = fake_check(check_id, TITLES[check_id], CheckResult)
            on_check(done[check_id])
        checks = [done[i] for i in sorted(done)]
        lowest = ("apgd-ce", 0.16)
        # 100 points: PGD-20 leaves 46 robust, the rest of the attacks break 31 of them.
        pgd20_bits, worst_bits = np.zeros(100, bool), np.zeros(100, bool)
        pgd20_bits[:46], worst_bits[:15] = True, True
        gap = gap_test(pgd20_bits, worst_bits)
        verdict = decide(checks, gap)
        report = AuditReport(
            checks=checks,
            verdict=verdict.verdict,
            reason=verdict.reason,
            recommended_suite=verdict.recommended_suite,
            clean_accuracy=0.9,
            pgd20=0.46,
            lowest={"attack": lowest[0], "accuracy": lowest[1]},
            worst_case=0.15,
            points_of_difference=31.0,
            accuracies={"fgsm": 0.6, "pgd20": 0.46, "apgd-ce": 0.16},
            meta={"eps": eps, "norm": norm, "budget": "quick", "images": n},
        )
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "audit.json").write_text(json.dumps(report.to_dict()))
        return report

    def train(self, request, out, *, on_epoch):
        for epoch in range(1, request.epochs + 1):
            on_epoch(epoch, {"epochs": request.epochs, "loss": 1.0 / epoch, "accuracy": 0.5})
        write_run(Path(out).parent, Path(out).name, alpha=request.label_smoothing, clean=0.5)
        return out

    # --- the fake demo pair --------------------------------------------------------------------

    def release_epochs(self, k: int = 1) -> None:
        """With `paced=True`, lets the demo's training finish its next `k` epochs."""
        for _ in range(k):
            self.epoch_gate.release()

    def demo_pair(self):
        from tfls.recipes.demo import DemoModel

        config = SimpleNamespace(epochs=2)
        return (
            DemoModel("demo-natural", "natural", config, "fakehash-natural"),
            DemoModel("demo-ls0.9", "LS α=0.9", config, "fakehash-ls0.9"),
        )

    def demo_threat(self):
        """The fake offers no AutoAttack: three of its presets stand in (same flow)."""
        from tfls.recipes.demo import DemoAttack, DemoThreat

        attacks = (
            DemoAttack("fgsm", "FGSM", {}),
            DemoAttack("pgd20", "PGD-20", {}),
            DemoAttack("pgd-cw", "PGD-CW", {"restarts": 2}),
        )
        return DemoThreat("fashion_mnist", 0.03, "linf", 30, 10, attacks)

    def demo_cached(self, model) -> bool:
        return (self.cache / model.hash / "run.json").is_file()

    def train_demo(self, model, *, on_epoch):
        folder = self.cache / model.hash
        if not self.demo_cached(model):
            for epoch in range(1, 3):
                if self.paced and not self.epoch_gate.acquire(timeout=20):
                    raise RuntimeError("the test never released this epoch")  # fail, don't hang
                on_epoch(epoch, {"epochs": 2, "loss": 1.0 / epoch, "accuracy": 0.5})
            alpha = 0.0 if model.name == "demo-natural" else 0.9
            write_run(self.cache, model.hash, alpha=alpha, clean=0.9)
            (folder / "model.keras").write_text("fake")
            self.demo_trained.append(model.name)
        return folder
