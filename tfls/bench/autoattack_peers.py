"""The libraries a `tfls bench autoattack` row sits beside: names, install checks, versions, and
how each is run, in words for the table."""

from __future__ import annotations

import importlib.util

# The peers a tfls row can sit beside, by library name, and their column headings.
PEERS = {"art": "ART", "fra31": "fra31 (PyTorch)", "torchattacks": "torchattacks"}
# The PyTorch peers (`--pytorch`) and the module each needs besides torch.
PYTORCH_MODULES = {"fra31": "autoattack", "torchattacks": "torchattacks"}


def art_available() -> bool:
    return importlib.util.find_spec("art") is not None


def pytorch_available(library: str) -> bool:
    """torch and `library` (fra31 or torchattacks) importable, for `--pytorch`."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", PYTORCH_MODULES[library]))


def art_versions() -> dict:
    if not art_available():
        return {}
    import art

    return {"adversarial-robustness-toolbox": art.__version__}


def pytorch_versions(libraries) -> dict:
    if not libraries:
        return {}
    from tfls.bench import pytorch as reference

    return reference.versions(libraries)


ART_SETTINGS = (
    "TensorFlowV2Classifier(clip_values=(0, 1)) on the same Keras model; "
    "AutoProjectedGradientDescent(norm=inf, eps_step=2ε, max_iter=steps, nb_random_init=1, "
    "batch_size=n, loss_type='cross_entropy' or 'difference_logits_ratio'); APGD-T runs "
    "targeted at the 2nd, 3rd, … most likely clean class (n_targets of them), each on the "
    "points still robust; "
    "SquareAttack(norm=inf, max_iter=queries, p_init=0.8, nb_restarts=1, batch_size=n). "
    "ART's 'autoattack' row chains them (APGD-CE → APGD-T → Square) on still-robust points: "
    "ART has no FAB."
)

PYTORCH_SETTINGS = {
    "fra31": "fra31/auto-attack's AutoAttack class with norm='Linf', version='standard', the "
    "seed and device='cpu', attacks_to_run set to the component, the budgets above; "
    "run_standard_evaluation with one batch of n",
    "torchattacks": "torchattacks' APGD (loss='ce'), APGDT and FAB (multi_targeted=True), both "
    "with n_classes = n_targets + 1, and Square (resc_schedule=False), with the budgets above, "
    "chained by MultiAttack for the whole AutoAttack (its own AutoAttack class with "
    "version='standard' would keep 10-step defaults)",
}
PYTORCH_COMMON = (
    "Each on a PyTorch copy of the Keras model (its logits checked equal on the images), "
    "torch on the same cores; passes counted by a wrapper on the copy; no efficiency column "
    "(another framework's passes)."
)
