"""The paper's tables and figures as runnable recipes: `python -m tfls.recipes.table4`.

A recipe is a declarative spec (`recipes/<name>.toml`: models, attacks, ε, scales, the paper's
numbers, claims) plus a tiny runner module. `run_recipe` trains what is missing (cached by
configuration hash), evaluates with `tfls.eval.evaluate`, writes JSON, Markdown and plots, and
checks the paper's claims C1–C8.
"""

from tfls.recipes.claim_entries import evaluate_claim
from tfls.recipes.claims import STATEMENTS as CLAIMS
from tfls.recipes.claims import ClaimResult
from tfls.recipes.pipeline import run_recipe
from tfls.recipes.plan import STAND_INS, Plan, resolve
from tfls.recipes.schema import RECIPES, SCALES
from tfls.recipes.spec_files import load_spec, spec_dir

__all__ = [
    "CLAIMS",
    "ClaimResult",
    "Plan",
    "RECIPES",
    "SCALES",
    "STAND_INS",
    "cache_root",
    "config_hash",
    "evaluate_claim",
    "load_spec",
    "resolve",
    "run_recipe",
    "spec_dir",
    "train_or_load",
]

# The model cache is `tfls.training.model_cache`'s, kept reachable here. Resolved on first access:
# `tfls.training` imports TensorFlow, and `import tfls.recipes` (recipe `--help`) must not.
_CACHE_NAMES = ("cache_root", "config_hash", "train_or_load")


def __getattr__(name: str):
    if name in _CACHE_NAMES:
        from tfls.training import model_cache as cache

        return getattr(cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
