"""The recipes' trained-model cache: one run folder per configuration hash, trained at most once.

`train_or_load` trains through `tfls.training.train` under an exclusive file lock, so two recipes
(or sweep workers) asking for the same configuration share one run; an interrupted run resumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from tfls import hashing
from tfls.recipes.plan import ModelPlan

CACHE_ENV = "TFLS_RECIPES_DIR"
DEFAULT_CACHE = Path("runs") / "recipes"


def cache_root(cache_dir=None) -> Path:
    """The trained-model cache: `cache_dir`, else `$TFLS_RECIPES_DIR`, else `./runs/recipes`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else DEFAULT_CACHE


def train_config(model: ModelPlan, *, data_dir=None):
    """The `TrainConfig` (resolved: every paper default filled in) for one model of a plan."""
    from tfls.training import TrainConfig

    train = dict(model.train)
    if "model" not in train:
        raise ValueError(
            f"Model {model.id!r} has no architecture: set `model` in [scales.<scale>.train] or "
            f"[scales.<scale>.models.{model.group}]. Received: train={train}"
        )
    arch = train.pop("model")
    if "lr_milestones" in train and train["lr_milestones"] is not None:
        train["lr_milestones"] = tuple(train["lr_milestones"])
    config = TrainConfig(
        dataset=model.dataset,
        model=arch,
        method=model.method,
        label_smoothing=model.label_smoothing,
        data_dir=data_dir,
        **train,
    )
    return config.resolved()


def config_hash(config) -> str:
    """16 hex digits of SHA-256 of the resolved config (without `data_dir`: where, not what)."""
    d = config.resolved().to_dict()
    d.pop("data_dir", None)
    return hashing.digest(d, length=16)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock, so two recipes (or sweep workers) never train the same run at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def train_or_load(
    config,
    *,
    cache_dir=None,
    log: Callable[[str], None] = print,
    retrain: bool = False,
    strategy="auto",
    on_epoch: Callable[[int, dict], None] | None = None,
    deterministic: bool = True,
):
    """Returns `(model, run_dict, run_dir, trained_now)`, training only if no finished run exists.

    The run folder is `<cache>/<config hash>`; a run interrupted after a checkpoint resumes.
    `on_epoch` is passed to `tfls.training.train` (progress; raising from it stops the training
    after that epoch's checkpoint, and the next call resumes from it). `deterministic` is
    `tfls.training.train`'s: how a run is made, not what it is, so it is not in the hash.
    """
    from tfls import training
    from tfls.training import run_folder

    root = cache_root(cache_dir)
    digest = config_hash(config)
    run_dir = root / digest
    with _locked(root / f".{digest}.lock"):
        finished = (run_dir / "run.json").is_file() and (run_dir / "model.keras").is_file()
        if finished and not retrain:
            model, run = training.load_run(run_dir)
            if deterministic and not run.get("deterministic"):
                log(
                    f"  note: cached run {run_dir} was trained without op determinism; "
                    "it is used as it is (--retrain trains it again deterministically)"
                )
            return model, run, run_dir, False
        resume = not retrain and run_folder.latest_checkpoint(run_dir) is not None
        overwrite = not resume and run_dir.exists() and any(run_dir.iterdir())
        what = "resuming" if resume else "training"
        log(
            f"  {what} {config.model} on {config.dataset}: {config.method}, "
            f"α={config.label_smoothing:g}, {config.epochs} epochs"
            f"{'' if config.limit is None else f', {config.limit} images'} → {run_dir}"
        )
        start = time.perf_counter()
        result = training.train(
            config,
            run_dir,
            resume=resume,
            overwrite=overwrite,
            strategy=strategy,
            on_epoch=on_epoch,
            deterministic=deterministic,
        )
        log(
            f"    done in {time.perf_counter() - start:.1f}s, "
            f"clean accuracy {result.run.get('clean_accuracy', float('nan')):.4f}"
        )
        return result.model, result.run, run_dir, True
