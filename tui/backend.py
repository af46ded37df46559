"""The library calls the app makes, in one class so tests can substitute fakes.

Every method runs in a worker thread (never on the UI thread) and imports `tfls` lazily: loading
TensorFlow takes seconds, and the interface must stay responsive meanwhile.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.request import PARAMS


@dataclass(frozen=True)
class Library:
    """What the form offers, read from `tfls` once it is loaded."""

    presets: dict[str, dict]
    params: dict[str, tuple[str, ...]]  # preset -> editable parameters it accepts
    losses: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    methods: tuple[str, ...] = ("natural", "madry", "trades")
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # preset -> shown defaults


@dataclass(frozen=True)
class TrainRequest:
    """The "train a quick model" form."""

    name: str
    dataset: str
    model: str
    method: str = "natural"
    label_smoothing: float = 0.0
    epochs: int = 1
    limit: int | None = 2000
    seed: int = 0


class Backend:
    """The real thing: `tfls.training`, `tfls.data`, `tfls.attacks` and `tfls.eval.evaluate`.

    Args:
        data_dir: offline data folder for `tfls.data.load` (default: `$TFLS_DATA_DIR`).
        cache_dir: the recipes' model cache the demo pair lives in (default: `$TFLS_RECIPES_DIR`,
            else `./runs/recipes`; see `tfls.training.model_cache.cache_root`).
        demo_scale: the recipe scale of the demo pair and its threat model (`cpu`; tests use
            `smoke`).
        demo_overrides: recipe `--set` overrides for the pair's training (tests shrink it with
            e.g. `train.limit=256`).
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        demo_scale: str = "cpu",
        demo_overrides: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.demo_scale = demo_scale
        self.demo_overrides = tuple(demo_overrides)

    def load_library(self) -> Library:
        import tfls.attacks
        from tfls.attacks.losses import LOSSES

        datasets: tuple[str, ...] = ()
        models: tuple[str, ...] = ()
        try:
            from tfls.training.config import DATASET_FAMILIES

            datasets = tuple(DATASET_FAMILIES)
        except ImportError:
            pass
        try:
            import tfls.models

            models = tuple(getattr(tfls.models, "NAMES", ()))
        except ImportError:
            pass
        presets = {name: dict(spec) for name, spec in tfls.attacks.PRESETS.items()}
        params = {name: _editable(spec, tfls.attacks.ATTACKS) for name, spec in presets.items()}
        defaults = {name: _shown_defaults(spec) for name, spec in presets.items()}
        return Library(presets, params, tuple(LOSSES), datasets, models, defaults=defaults)

    def load_run(self, path: Path):
        """`(model, run_dict)` of a run folder, or of an outside model's entry, wrapped and checked
        against its dataset (`tfls.external.load_run`)."""
        from tfls.external import load_run

        return load_run(path, data_dir=self.data_dir)

    def load_data(self, run: dict, n: int, batch_size: int):
        """The run's dataset spec, split (default `test`) and image size (`tfls.external`)."""
        from tfls.external import load_data

        return load_data(run, n=n, batch_size=batch_size, data_dir=self.data_dir)

    def plan_attacks(self, attacks, *, eps: float, norm: str):
        """`AttackChoice`s resolved by `tfls.attacks.plan_suite`; `ValueError` names a bad one."""
        import tfls.attacks

        return tfls.attacks.plan_suite(
            [a.name for a in attacks],
            eps=eps,
            norm=norm,
            overrides={a.name: a.overrides for a in attacks if a.overrides},
        )

    def build_attacks(self, model, attacks, *, eps: float, norm: str) -> dict:
        """The plan's attacks against `model`; a transfer `source` override is a loaded model."""
        return self.plan_attacks(attacks, eps=eps, norm=norm).build(model)

    def evaluate(
        self, model, dataset, attacks: dict, *, out: Path, on_batch: Callable, n: int, meta: dict
    ):
        from tfls.eval import evaluate

        return evaluate(
            model, dataset, attacks, out=out, resume=True, on_batch=on_batch, n=n, meta=meta
        )

    def audit(
        self,
        model,
        data,
        *,
        eps: float,
        norm: str,
        n: int,
        budget,
        out: Path,
        on_check: Callable,
        evaluations=(),
    ):
        """`tfls.audit.audit`: the gradient-masking checks, each passed to `on_check` as it ends;
        a saved evaluation of the same weights, ε and points in `evaluations` is shown beside."""
        from tfls.audit import audit

        return audit(
            model,
            data,
            eps=eps,
            norm=norm,
            n=n,
            budget=budget,
            out=out,
            on_check=on_check,
            evaluations=evaluations,
        )

    def train(self, request: TrainRequest, out: Path, *, on_epoch: Callable[[int, dict], None]):
        from tfls.training import TrainConfig, train

        config = TrainConfig(
            request.dataset,
            request.model,
            method=request.method,
            label_smoothing=request.label_smoothing,
            epochs=request.epochs,
            limit=request.limit,
            seed=request.seed,
            data_dir=None if self.data_dir is None else str(self.data_dir),
        )
        return train(config, out, on_epoch=on_epoch)

    # --- the demo pair (tfls.recipes.demo) --------------------------------------------------

    def demo_pair(self):
        """The natural and α = 0.9 models (`tfls.recipes.demo.DemoModel`s), recipes' config."""
        from tfls.recipes.demo import demo_pair

        data_dir = None if self.data_dir is None else str(self.data_dir)
        return demo_pair(scale=self.demo_scale, overrides=self.demo_overrides, data_dir=data_dir)

    def demo_threat(self):
        """table4's threat model at the demo's scale (`tfls.recipes.demo.DemoThreat`)."""
        from tfls.recipes.demo import demo_threat

        return demo_threat(scale=self.demo_scale)

    def demo_cached(self, model) -> bool:
        from tfls.recipes.demo import is_cached

        return is_cached(model, cache_dir=self.cache_dir)

    def train_demo(self, model, *, on_epoch: Callable[[int, dict], None]) -> Path:
        """Trains (or loads) one model in the recipes' cache; returns its run folder there."""
        from tfls.recipes.demo import train_demo_model

        return Path(train_demo_model(model, cache_dir=self.cache_dir, on_epoch=on_epoch))


def _editable(spec: dict, classes: dict) -> tuple[str, ...]:
    """The parameters of `PARAMS` the preset's attack class accepts (by its signature)."""
    cls = classes.get(spec.get("attack"))
    accepted = set(spec) | ({"step_size"} if "step_size_eps" in spec else set())
    if spec.get("attack") == "TransferAttack":
        return ("source",)  # the inner preset's parameters are fixed by the preset
    if cls is not None:
        accepted |= set(inspect.signature(cls.__init__).parameters)
    return tuple(p for p in PARAMS if p in accepted)


def _shown_defaults(spec: dict) -> dict[str, Any]:
    shown = {p: spec[p] for p in PARAMS if p in spec}
    if "step_size_eps" in spec:
        shown["step_size"] = f"ε×{spec['step_size_eps']:g}"
    return shown
