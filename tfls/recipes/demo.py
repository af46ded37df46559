"""The demo pair: a natural and an α = 0.9 model trained exactly as the recipes train them.

The models are table1's natural and label-smoothed CIFAR-10 rows (at `cpu` scale: cnn4 on the
Fashion-MNIST stand-in, 6 epochs), so they live in the recipes' model cache under the recipes'
own configuration hash: a user who ran a recipe gets them instantly, and the demo trains each at
most once. The threat model is table4's at the same scale (ε, images, batch size), with the
attacks that show label smoothing's robustness to be gradient masking: FGSM, PGD-20, APGD-CE, ODI
and AutoAttack (with table4's per-scale overrides, e.g. Square's 1,000 queries at `cpu` scale).
Nothing here copies a recipe's settings: everything is read from the recipe specs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MODELS_RECIPE = "table1"
MODEL_IDS = ("cifar10-natural", "cifar10-ls")
THREAT_RECIPE = "table4"
ATTACK_IDS = ("fgsm", "pgd20", "apgd-ce", "odi", "autoattack")
DEFAULT_SCALE = "cpu"
LOOK_FOR = "PGD-20 vs AutoAttack on the α = 0.9 model"
# How long the demo takes on 2 quiet CPU cores, from results/tui/README.md's timings: the two
# 6-epoch trainings (232 s + 466 s in the recipes' cached runs) come first with an empty model
# cache, then the evaluation (first numbers at 98 s, all of them at 816 s).
DURATION = "≈26 min on 2 CPU cores, first numbers at ≈14; ≈14 and 2 once its models are cached"


@dataclass(frozen=True)
class DemoModel:
    """One model of the pair: its `TrainConfig` (resolved) and the cache key `config_hash`."""

    name: str  # a run-folder name for the app: `demo-natural`, `demo-ls0.9`
    label: str
    config: object  # tfls.training.TrainConfig
    hash: str


@dataclass(frozen=True)
class DemoAttack:
    """One attack column: the preset and the recipe's parameters for it at this scale."""

    preset: str
    label: str
    params: dict


@dataclass(frozen=True)
class DemoThreat:
    """table4's threat model at one scale: ε (L∞), test images, batch size and the attacks."""

    dataset: str
    eps: float
    norm: str
    n: int
    batch_size: int
    attacks: tuple[DemoAttack, ...]


def _assume_available(name: str) -> bool:
    """Offline-availability answer for the specs' *other* rows (table1's MNIST and CIFAR-100).

    The pair and the threat model are CIFAR-10 rows, replaced by the scale's `substitute` table
    before availability is asked. Asking would import TensorFlow Datasets, whose lazy imports
    (etils) patch `builtins.__import__` for the whole process: in the app, which resolves in a
    worker thread, an import in the UI thread meanwhile returns a placeholder and the app dies.
    """
    return True


def _plan(recipe: str, scale: str, overrides=()):
    from tfls.recipes.plan import resolve
    from tfls.recipes.spec_files import load_spec

    return resolve(load_spec(recipe), scale, overrides=overrides, available=_assume_available)


def demo_pair(
    *, scale: str = DEFAULT_SCALE, overrides=(), data_dir=None
) -> tuple[DemoModel, DemoModel]:
    """The natural and α = 0.9 models of table1 at `scale` (`overrides`: `--set` strings).

    Example: `demo_pair()[1].hash` is the cache folder name `tfls recipe table1 --scale cpu`
    trains its label-smoothed model in.
    """
    from tfls.recipes.configs import train_config
    from tfls.training.model_cache import config_hash

    plan = _plan(MODELS_RECIPE, scale, overrides)
    pair = []
    for model_id in MODEL_IDS:
        model = plan.model(model_id)
        config = train_config(model, data_dir=data_dir)
        alpha = model.label_smoothing
        name = "demo-natural" if alpha == 0 else f"demo-ls{alpha:g}"
        label = "natural" if alpha == 0 else f"LS α={alpha:g}"
        pair.append(DemoModel(name, label, config, config_hash(config)))
    return pair[0], pair[1]


def demo_threat(*, scale: str = DEFAULT_SCALE, overrides=()) -> DemoThreat:
    """table4's ε, image count, batch size and the demo's attacks (with their parameters) at `scale`."""
    plan = _plan(THREAT_RECIPE, scale, overrides)
    ls = plan.model("ls")
    attacks = tuple(
        DemoAttack(a.preset, a.label, dict(a.params))
        for attack_id in ATTACK_IDS
        for a in plan.attacks_in(attack_id)
    )
    return DemoThreat(
        dataset=ls.dataset,
        eps=plan.eps_for("linf", ls.dataset),
        norm="linf",
        n=plan.n,
        batch_size=plan.batch_size,
        attacks=attacks,
    )


def train_demo_model(
    model: DemoModel,
    *,
    cache_dir=None,
    on_epoch: Callable[[int, dict], None] | None = None,
    log: Callable[[str], None] = lambda _: None,
):
    """Trains (or loads from the recipes' cache) one model of the pair; returns its run folder."""
    from tfls.training.model_cache import train_or_load

    _, _, run_dir, _ = train_or_load(model.config, cache_dir=cache_dir, log=log, on_epoch=on_epoch)
    return run_dir


def is_cached(model: DemoModel, *, cache_dir=None) -> bool:
    """True when the recipes' cache holds this model finished (it then loads in seconds)."""
    from tfls.training.model_cache import cache_root, is_finished

    return is_finished(cache_root(cache_dir) / model.hash)
