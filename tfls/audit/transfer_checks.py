"""Checks 8 and 16: PGD-20 crafted on a surrogate and scored on the audited model.

`transfer_checks(ws, main, surrogate)` runs the transfer evaluation once and reads two checks from
it: 8, whether it breaks more points than the white-box attacks (masking evidence, an exact
McNemar test), and 16, how often its successes on the surrogate fail on the model (a diagnostic:
how much a clean check 8 is worth). The standard surrogate is `tfls.audit.surrogate`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfls.checks import thresholds as th
from tfls.checks.comparisons import gradient_worst_case
from tfls.checks.result import CheckResult

TRANSFER_LABEL = "transfer"
TRANSFER_PRESET = "transfer-pgd20"
TRANSFER_TITLE = "Transfer beats white-box"
FAILURE_TITLE = "Transfer failure"
ATHALYE = "Athalye et al. 2018, §3.1 (sign 2: black-box/transfer beats white-box)"
PINTOR = "Pintor et al. 2022, Indicators of Attack Failure (transfer failure)"
MCNEMAR_TEST = (
    "exact McNemar, one-sided: the transfer attack breaks more of the points the two disagree "
    "on than the white-box worst case"
)


def transfer_key(surrogate) -> str:
    """The workspace key of the transfer evaluation crafted on `surrogate`."""
    from tfls.eval.fingerprint import model_fingerprint

    return "transfer-" + model_fingerprint(surrogate)["weights_sha256"][:12]


@dataclass
class Replay:
    """Per audited point, the transfer attack's crafted point as seen by both models.

    Attributes:
        attacked: the model classifies the clean point correctly (so it was attacked).
        target_correct: the model classifies the crafted point correctly.
        surrogate_clean: the surrogate classifies the clean point correctly.
        surrogate_correct: the surrogate classifies the crafted point correctly.
    """

    attacked: np.ndarray
    target_correct: np.ndarray
    surrogate_clean: np.ndarray
    surrogate_correct: np.ndarray

    @property
    def target_robust(self) -> np.ndarray:
        """The transfer evaluation's robust bits, recomputed."""
        return self.attacked & self.target_correct

    @property
    def fooled_surrogate(self) -> np.ndarray:
        """Attacked points, right on the surrogate clean and wrong there once crafted."""
        return self.attacked & self.surrogate_clean & ~self.surrogate_correct


def replay_transfer(ws, surrogate) -> Replay:
    """Crafts the transfer evaluation's points again (`tfls.eval.replay`) and asks the surrogate.

    The attack is built as `ws.evaluation` builds it and attacks the same sub-batches, so on a
    deterministic model the points are the ones the evaluation scored.
    """
    from tfls.eval.replay import adversarial_batches
    from tfls.eval.scoring import predictor

    attack = ws.attacks({TRANSFER_LABEL: TRANSFER_PRESET}, source_model=surrogate)[TRANSFER_LABEL]
    predict = predictor(surrogate)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in Replay.__dataclass_fields__}
    batches = ws.batches()
    crafted = adversarial_batches(ws.model, batches, attack, name=TRANSFER_LABEL)
    for (x, y), (x_adv, logits, attacked) in zip(batches, crafted):
        finite = np.isfinite(logits.reshape(len(y), -1)).all(axis=1)
        parts["attacked"].append(attacked)
        parts["target_correct"].append((np.argmax(logits, -1) == y) & finite)
        parts["surrogate_clean"].append(np.argmax(np.asarray(predict(x)), -1) == y)
        parts["surrogate_correct"].append(np.argmax(np.asarray(predict(x_adv)), -1) == y)
    return Replay(**{k: np.concatenate(v) for k, v in parts.items()})


def transfer_checks(ws, main, surrogate) -> tuple[CheckResult, CheckResult]:
    """Checks 8 and 16 from one transfer evaluation: PGD-20 crafted on `surrogate`.

    Args:
        ws: the audit's `Workspace` (its model is the audited one, logits out).
        main: the main white-box `Evaluation` (`ws.evaluation` of the budget's attacks).
        surrogate: a model of the same task to craft on (`standard_surrogate`, or the user's).

    Returns:
        `(check 8, check 16)` as `CheckResult`s.
    """
    evaluation = ws.evaluation(
        transfer_key(surrogate), {TRANSFER_LABEL: TRANSFER_PRESET}, source_model=surrogate
    )
    replay = replay_transfer(ws, surrogate)
    stored = evaluation.evidence.robust[TRANSFER_LABEL]
    return transfer_beats_whitebox(main.evidence, stored), transfer_failure(replay, stored)


def _indices(mask) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def transfer_beats_whitebox(main_evidence, transfer_robust) -> CheckResult:
    """Check 8: the points transfer breaks and every gradient attack misses, vs the reverse.

    `b` = clean-correct points robust to every gradient-only white-box attack of the main
    evaluation (`gradient_worst_case`) that the transfer attack breaks; `c` = points a
    white-box attack breaks and the transfer attack does not. Exact one-sided McNemar on them.
    """
    from tfls.stats import mcnemar_greater

    clean = main_evidence.clean
    whitebox = gradient_worst_case(main_evidence)
    transfer = np.asarray(transfer_robust, bool)
    only_transfer = whitebox & ~transfer
    only_whitebox = clean & transfer & ~whitebox
    b, c = int(only_transfer.sum()), int(only_whitebox.sum())
    p = mcnemar_greater(b, c)
    n = max(int(clean.size), 1)
    numbers = {
        "b": b,
        "c": c,
        "transfer": float(transfer.sum() / n),
        "whitebox_worst_case": float(whitebox.sum() / n),
    }
    evidence = {"broken_only_by_transfer": _indices(only_transfer)}
    evidence["broken_only_by_whitebox"] = _indices(only_whitebox)
    fired = p < th.LEVEL
    summary = (
        f"transfer breaks {b} point(s) every white-box attack misses, the white-box attacks "
        f"{c} it misses (p = {p:.3g})"
    )
    return CheckResult(
        8,
        TRANSFER_TITLE,
        "fail" if fired else "ok",
        summary,
        numbers,
        evidence,
        advice=(
            "Points crafted on another model fool this one where its own gradients do not: its "
            "gradients are masked. Report the transfer number and AutoAttack."
            if fired
            else ""
        ),
        source=f"{ATHALYE}; {PINTOR}; McNemar 1947 (exact test)",
        kind="evidence",
        p_value=p,
        test=MCNEMAR_TEST,
    )


def transfer_failure(replay: Replay, transfer_robust=None) -> CheckResult:
    """Check 16: of the points the transfer attack fools the surrogate on, the share it fails on.

    Counted over points both models classify correctly clean (an error of the surrogate on the
    clean point is not its attack's success). `transfer_robust`, the stored evaluation's bits,
    is compared with the replay: points where they differ (a model random at inference) are
    counted in `replay_mismatches`.
    """
    fooled = replay.fooled_surrogate
    failed = fooled & replay.target_correct
    s, f = int(fooled.sum()), int(failed.sum())
    rate = f / s if s else None
    mismatches = (
        0
        if transfer_robust is None
        else int((np.asarray(transfer_robust, bool) != replay.target_robust).sum())
    )
    numbers = {
        "transfer_failure": rate,
        "fooled_surrogate": s,
        "failed_on_model": f,
        "surrogate_clean_errors": int((replay.attacked & ~replay.surrogate_clean).sum()),
        "attacked": int(replay.attacked.sum()),
        "replay_mismatches": mismatches,
        "threshold": th.TRANSFER_FAILURE,
    }
    evidence = {"transfer_failed": _indices(failed)}
    note = (
        f"; the replay differs from the stored evaluation on {mismatches} point(s)"
        if mismatches
        else ""
    )
    advice = (
        "The surrogate's adversarial points rarely carry over, so a check 8 that finds nothing is "
        "weak evidence of no masking: use a surrogate closer to the model (its architecture and "
        "training data) and lean on the white-box and black-box checks (7, 9)."
    )
    if rate is None:
        status = "warn"
        summary = (
            "PGD-20 fools the surrogate on none of the points both classify correctly: the "
            f"transfer attack probes nothing{note}"
        )
    else:
        status = "warn" if rate > th.TRANSFER_FAILURE else "ok"
        summary = (
            f"{f} of the {s} points that fool the surrogate do not fool the model "
            f"({100 * rate:.1f}%, warn above {100 * th.TRANSFER_FAILURE:g}%){note}"
        )
    return CheckResult(
        16,
        FAILURE_TITLE,
        status,
        summary,
        numbers,
        evidence,
        advice=advice if status == "warn" else "",
        source=PINTOR,
        kind="diagnostic",
    )
