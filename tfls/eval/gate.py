"""The gate of a cheap attack: the audit's gradient checks on each batch, and its `fallback` (full
AutoAttack) on the batches where one fires.

A cheaper attack (`autoattack-fast`, `tfls.attacks.autoattack_fast`) leaves out the components
that find points when gradients lie (FAB-T's and Square's), so its number may stand alone only on
a model whose gradients can be trusted. Before it attacks a batch, `tfls.eval.scoring` runs the
audit's cheap checks of that trust on the batch's clean-correct points:

- check 2, randomness (`tfls.checks.model_checks.randomness`): the model is random at inference;
- check 4, gradient availability (`...gradient_availability`): a gradient is zero, NaN or cut off;
- check 15, gradient integrity (`tfls.checks.integrity.gradient_integrity`): the backward pass
  disagrees with finite differences of the forward pass.

Where any fails, the batch is attacked by the attack's `fallback` preset (same ε, norm, seed,
EOT and BPDA) instead, and the batch's record says which checks fired (`record["gates"]`), so
the report can say on how many batches, and why, full AutoAttack ran. The checks are seeded and
see only the batch, so a resumed evaluation decides every batch as the first run did. Their model
passes count in the attack's own (`tfls.attacks.passes`): they are part of its cost. Where no
check fires, the attack may still send points on to full AutoAttack itself (its FAB-T
probe); the record's `escalated` says how many.
"""

from __future__ import annotations

import numpy as np

from tfls.attacks import passes
from tfls.attacks.registry import get
from tfls.checks import model_checks
from tfls.checks.integrity import gradient_integrity

CHECKS = {
    2: "randomness",
    4: "gradient availability",
    15: "gradient integrity",
}


def is_gated(attack) -> bool:
    """Whether `attack` may stand alone only where the gradient checks pass (it names a
    `fallback` preset)."""
    return isinstance(getattr(type(attack), "fallback", None), str)


def gate_checks(model, x, y, *, seed=0) -> list:
    """Checks 2, 4 and 15 (`CheckResult`s) on the points `(x, y)`, all the model classifies
    correctly, with every model pass counted on `model`'s pass counters."""
    view = passes.counted(model, model)
    clean = np.ones(len(y), bool)
    return [
        model_checks.randomness(view, x),
        model_checks.gradient_availability(view, x, y, clean),
        gradient_integrity(view, x, y, clean, seed=seed),
    ]


def fallback(attack):
    """`attack`'s fallback preset at its threat model, seed, EOT and BPDA, built once."""
    held = attack.__dict__.get("_tfls_fallback")
    if held is None:
        held = get(
            type(attack).fallback,
            attack.model,
            eps=attack.eps,
            norm=attack.norm,
            seed=attack.seed,
            jit_compile=attack.jit_compile,
            eot=attack.eot,
            bpda=attack.bpda,
        )
        object.__setattr__(attack, "_tfls_fallback", held)
    return held


def choose(attack, model, x, y) -> tuple[object, dict]:
    """`(attack to run, gate record)` for the clean-correct points `(x, y)` of one batch.

    The record is `{"fired": [check ids that failed], "ran": preset name}`, plus the failing
    checks' one-line summaries under `"why"`.
    """
    results = gate_checks(model, np.asarray(x), np.asarray(y), seed=attack.seed)
    failed = [r for r in results if r.status == "fail"]
    if not failed:
        return attack, {"fired": [], "ran": None}
    return fallback(attack), {
        "fired": [r.id for r in failed],
        "ran": type(attack).fallback,
        "why": {str(r.id): r.summary for r in failed},
    }
