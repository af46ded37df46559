"""The trained-model cache: one run folder per configuration hash, trained at most once.

`train_or_load(config)` trains through `tfls.training.train` under an exclusive file lock, so two
clients asking for the same configuration (two recipes, sweep workers, an audit's standard
surrogate) share one run; an interrupted run resumes. The recipes and the audit both use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from tfls import hashing

CACHE_ENV = "TFLS_RECIPES_DIR"
DEFAULT_CACHE = Path("runs") / "recipes"


def cache_root(cache_dir=None) -> Path:
    """The trained-model cache: `cache_dir`, else `$TFLS_RECIPES_DIR`, else `./runs/recipes`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else DEFAULT_CACHE


def config_hash(config) -> str:
    """16 hex digits of SHA-256 of the resolved config (without `data_dir`: where, not what)."""
    d = config.resolved().to_dict()
    d.pop("data_dir", None)
    return hashing.digest(d, length=16)


def run_dir_of(config, *, cache_dir=None) -> Path:
    """The cache folder `config` is (or would be) trained in: `<cache>/<config hash>`."""
    return cache_root(cache_dir) / config_hash(config)


def is_finished(run_dir: Path) -> bool:
    """True when `run_dir` holds a finished run (`run.json` is written last)."""
    return (Path(run_dir) / "run.json").is_file() and (Path(run_dir) / "model.keras").is_file()


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock, so two clients (or sweep workers) never train the same run at once."""
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
        if is_finished(run_dir) and not retrain:
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
