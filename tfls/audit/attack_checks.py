"""Attack-level checks (6-12, 14): attacks compared on the same points, from per-example evidence.

Each check runs its attacks through `Workspace.evaluation` (that is, `tfls.eval.evaluate`) and
compares the per-example bits with the main white-box evaluation `main`: a point counts against
the white-box attacks when another attack breaks it and they all fail on it.
"""

from __future__ import annotations

import math

import numpy as np

from tfls.audit import thresholds as th
from tfls.audit.result import CheckResult
from tfls.audit.trace import still_moving, trace_pgd

ATHALYE = "Athalye et al. 2018, §3.1"
PINTOR = "Pintor et al. 2022, Indicators of Attack Failure"
MARGIN_PRESETS = ("apgd-dlr", "pgd-cw", "apgd-t")
CE_PRESETS = ("fgsm", "pgd20", "apgd-ce")
EPS_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def _indices(mask) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def _pct(mask) -> float:
    return float(np.mean(mask)) if np.size(mask) else 0.0


def beats_whitebox_result(
    check_id, title, source, label, n, *, other, whitebox, only, evidence=None, advice=""
) -> CheckResult:
    """7, 8, 9 from counts: `only` of `n` points `label` breaks and every white-box attack misses.

    `other` and `whitebox` are the robust accuracies (fractions) of `label` and of the white-box
    worst case. The audit passes the indices as `evidence`; `tfls.eval.evaluate` (which keeps
    counts only) passes none.
    """
    numbers = {
        f"{label}": float(other),
        "whitebox_worst_case": float(whitebox),
        "points_only_it_breaks": int(only),
    }
    allowed = th.allowed(n, th.BLACKBOX_POINTS)
    evidence = {f"broken_only_by_{label}": list(evidence or [])}
    if only <= allowed:
        return CheckResult(
            check_id,
            title,
            "ok",
            f"{label} breaks {int(only)} point(s) the white-box attacks miss",
            numbers,
            evidence,
            source=source,
        )
    return CheckResult(
        check_id,
        title,
        "fail",
        f"{label} breaks {int(only)} points every white-box attack misses "
        f"({100 * other:.1f}% vs {100 * whitebox:.1f}%, at most {allowed} allowed)",
        numbers,
        evidence,
        advice=advice,
        source=source,
    )


# Main attacks whose ensemble holds a black-box part (AutoAttack runs Square): left out of the
# gradient-only worst case that checks 7, 8 and 9 compare with, or Square's wins would count as
# white-box ones and hide the masking those checks exist to show.
HOLDS_BLACKBOX = ("autoattack",)


def gradient_worst_case(evidence):
    """Per example: clean-correct and robust to every gradient-only attack of the evaluation."""
    bits = evidence.clean.copy()
    for label, robust in evidence.robust.items():
        if label not in HOLDS_BLACKBOX:
            bits &= robust
    return bits


def _beats_whitebox(check_id, title, source, main, evaluation, label, *, advice) -> CheckResult:
    """7, 8, 9: points `label` breaks that every gradient attack of `main` fails on."""
    ev = main.evidence
    whitebox = gradient_worst_case(ev)
    other = evaluation.evidence.robust[label]
    only = whitebox & ~other
    return beats_whitebox_result(
        check_id,
        title,
        source,
        label,
        ev.images,
        other=_pct(other),
        whitebox=_pct(whitebox),
        only=int(only.sum()),
        evidence=_indices(only),
        advice=advice,
    )


def single_step_result(n, *, fgsm, pgd, only, evidence=None, pgd_name="pgd20") -> CheckResult:
    """Check 6 from counts: `only` of `n` points FGSM breaks and the PGD attack `pgd_name` misses.

    `fgsm` and `pgd` are robust accuracies (fractions). The audit passes the indices as
    `evidence`; `tfls.eval.evaluate` (which keeps counts only) passes none.
    """
    numbers = {"fgsm": float(fgsm), pgd_name: float(pgd), "points_fgsm_only": int(only)}
    evidence = {f"broken_by_fgsm_not_{pgd_name}": list(evidence or [])}
    title = "Single-step beats iterative"
    allowed = th.allowed(n, th.ITERATIVE_POINTS)
    if only <= allowed:
        return CheckResult(
            6,
            title,
            "ok",
            f"FGSM alone breaks {int(only)} point(s)",
            numbers,
            evidence,
            source=ATHALYE,
        )
    return CheckResult(
        6,
        title,
        "fail",
        f"FGSM breaks {int(only)} points {pgd_name} does not (at most {allowed} allowed)",
        numbers,
        evidence,
        advice="Iterative attacks get stuck (a sign of masked or noisy gradients): use random "
        "restarts, margin losses and APGD; report the worst case.",
        source=ATHALYE,
    )


def single_step(main) -> CheckResult:
    """Check 6 (Athalye #1): points FGSM breaks and PGD-20 does not."""
    ev = main.evidence
    only = ev.broken("fgsm") & ev.robust["pgd20"]
    return single_step_result(
        ev.images,
        fgsm=_pct(ev.robust["fgsm"]),
        pgd=_pct(ev.robust["pgd20"]),
        only=int(only.sum()),
        evidence=_indices(only),
    )


BLACKBOX_TITLE = "Black-box beats white-box"
BLACKBOX_SOURCE = "AutoAttack check_square_sr; " + ATHALYE
BLACKBOX_ADVICE = (
    "Gradients mislead the white-box attacks: report Square (more queries and "
    "restarts) and AutoAttack, and find the layer that masks gradients (check 4)."
)


def blackbox(ws, main, queries) -> CheckResult:
    """Check 7 (AutoAttack, Athalye #2): Square breaks points the gradient attacks miss."""
    evaluation = ws.evaluation(
        f"square-q{queries}", {"square": "square"}, overrides={"square": {"n_queries": queries}}
    )
    return _beats_whitebox(
        7, BLACKBOX_TITLE, BLACKBOX_SOURCE, main, evaluation, "square", advice=BLACKBOX_ADVICE
    )


def transfer(ws, main, surrogate) -> CheckResult:
    """Check 8 (Pintor's transfer failure): PGD-20 crafted on a surrogate beats white-box."""
    from tfls.eval.evaluate import model_fingerprint

    key = "transfer-" + model_fingerprint(surrogate)["weights_sha256"][:12]
    evaluation = ws.evaluation(key, {"transfer": "transfer-pgd20"}, source_model=surrogate)
    return _beats_whitebox(
        8,
        "Transfer beats white-box",
        PINTOR + " (transfer failure); " + ATHALYE,
        main,
        evaluation,
        "transfer",
        advice="Points crafted on another model fool this one where its own gradients do not: "
        "its gradients are masked. Report the transfer number and AutoAttack.",
    )


def noise(ws, main, draws) -> CheckResult:
    """Check 9 (Athalye #4): uniform noise in the ε-ball beats the white-box attacks."""
    evaluation = ws.evaluation(
        f"noise-d{draws}", {"noise": "noise"}, overrides={"noise": {"draws": draws}}
    )
    return _beats_whitebox(
        9,
        "Random noise beats white-box",
        ATHALYE + " (sign 4)",
        main,
        evaluation,
        "noise",
        advice="Random sampling finds adversarial points the gradient attacks miss: the "
        "gradients are shattered or zero. Report the noise and Square numbers.",
    )


def unbounded_eps(ws) -> float:
    """The radius that covers the whole input box: 1 in L∞, √d in L2."""
    if ws.norm == "linf":
        return 1.0
    return float(math.sqrt(int(np.prod(ws.x.shape[1:]))))


def eps_behaviour(ws, main) -> CheckResult:
    """Check 10 (Athalye #3, #5; Pintor's unconstrained failure): accuracy vs ε and unbounded."""
    title, source = "ε behaviour", ATHALYE + " (signs 3, 5); " + PINTOR + " (unconstrained)"
    top = unbounded_eps(ws)
    series, bits = [], []
    for f in EPS_FACTORS:
        eps = min(ws.eps * f, top)
        if f == 1.0:
            robust = main.evidence.robust["pgd20"]
        else:
            robust = ws.evaluation(f"eps-x{f:g}", {"pgd20": "pgd20"}, eps=eps).evidence.robust[
                "pgd20"
            ]
        series.append((f"{f:g}x", eps))
        bits.append(robust)
    unbounded = ws.evaluation("eps-unbounded", {"pgd20": "pgd20"}, eps=top).evidence.robust["pgd20"]
    series.append(("unbounded", top))
    bits.append(unbounded)
    n = ws.n
    accs = [_pct(b) for b in bits]
    allowed = th.allowed(n, th.ITERATIVE_POINTS)
    rises = [
        f"{series[k][0]}->{series[k + 1][0]}"
        for k in range(len(bits) - 1)
        if int(bits[k + 1].sum()) - int(bits[k].sum()) > allowed
    ]
    robust_later = np.zeros(n, bool)
    for k in range(len(bits) - 1):
        robust_later |= bits[k + 1] & ~bits[k]
    numbers = {f"acc@{label}": acc for (label, _), acc in zip(series, accs)}
    numbers["robust_unbounded"] = int(unbounded.sum())
    evidence = {
        "robust_when_unbounded": _indices(unbounded),
        "robust_at_larger_eps_only": _indices(robust_later),
    }
    data = {"eps": [e for _, e in series], "labels": [lab for lab, _ in series], "accuracy": accs}
    problems = []
    if rises:
        problems.append(f"accuracy rises with ε ({', '.join(rises)})")
    if unbounded.sum() > allowed:
        problems.append(f"{int(unbounded.sum())} points survive the unbounded attack")
    if not problems:
        return CheckResult(
            10,
            title,
            "ok",
            "accuracy falls with ε and reaches 0 unbounded",
            numbers,
            evidence,
            source=source,
            data=data,
        )
    return CheckResult(
        10,
        title,
        "fail",
        "; ".join(problems),
        numbers,
        evidence,
        advice="An attack that fails with an unbounded budget, or does better with a smaller "
        "one, is not optimising: gradients are masked. Fix the attack (BPDA, EOT, margin loss) "
        "before quoting any number.",
        source=source,
        data=data,
    )


def convergence(ws, main, trace, restarts) -> CheckResult:
    """Check 11 (Carlini et al.; Pintor's incomplete optimisation): more steps and restarts."""
    title = "Convergence"
    source = "Carlini et al. 2019 checklist; " + PINTOR + " (incomplete optimisation)"
    steps_label, restarts_label = "pgd20-2x-steps", f"pgd20-{restarts}-restarts"
    evaluation = ws.evaluation(
        f"convergence-r{restarts}",
        {steps_label: "pgd20", restarts_label: "pgd20"},
        overrides={steps_label: {"steps": 40}, restarts_label: {"restarts": restarts}},
    )
    n = ws.n
    # Convergence of the number the audit reports, the white-box worst case: more effort must not
    # break points every white-box attack of the budget left standing. PGD-20 alone falling by a
    # point or two under restarts is normal on any model and is what APGD/AutoAttack are for.
    base = main.evidence.worst_case
    allowed = th.allowed(n, th.ITERATIVE_POINTS)
    drops = {}
    evidence = {}
    for label in (steps_label, restarts_label):
        bits = evaluation.evidence.robust[label]
        drops[label] = int((base & ~bits).sum())
        evidence[f"broken_only_by_{label}"] = _indices(base & ~bits)
    failed = ~trace.adversarial.any(axis=1)
    moving = np.zeros(len(trace.index), bool)
    if failed.any():
        moving[failed] = still_moving(
            trace.loss[failed], window=th.INCOMPLETE_WINDOW, move=th.INCOMPLETE_MOVE
        )
    evidence["loss_still_moving"] = [int(i) for i in trace.index[moving]]
    numbers = {
        "pgd20": _pct(main.evidence.robust["pgd20"]),
        "whitebox_worst_case": _pct(base),
        steps_label: _pct(evaluation.evidence.robust[steps_label]),
        restarts_label: _pct(evaluation.evidence.robust[restarts_label]),
        "loss_still_moving": int(moving.sum()),
    }
    shown = trace.loss[: min(20, len(trace.loss))]
    data = {"loss_traces": shown.tolist(), "trace_index": trace.index[: len(shown)].tolist()}
    dropped = [label for label, d in drops.items() if d > allowed]
    if dropped:
        return CheckResult(
            11,
            title,
            "fail",
            "; ".join(
                f"{lab} breaks {drops[lab]} point(s) every white-box attack missed"
                for lab in dropped
            ),
            numbers,
            evidence,
            advice="The white-box attacks have not converged: report attacks run to convergence "
            "(APGD, more restarts), and the worst case over all of them.",
            source=source,
            data=data,
        )
    if moving.sum() > allowed:
        return CheckResult(
            11,
            title,
            "warn",
            f"loss still rising at the last step on {int(moving.sum())} unbroken points",
            numbers,
            evidence,
            advice="The attack stopped while the loss was still rising: run more steps (APGD "
            "adapts its step size) before trusting the number.",
            source=source,
            data=data,
        )
    return CheckResult(
        11,
        title,
        "ok",
        "more steps and restarts change nothing",
        numbers,
        evidence,
        source=source,
        data=data,
    )


def run_trace(ws, steps):
    """The traced PGD run (checks 11, 12) and the engine's own evaluation of the same run."""
    label = "pgd-trace"
    evaluation = ws.evaluation(
        f"trace-s{steps}",
        {label: "pgd20"},
        overrides={label: {"steps": steps, "jit_compile": False}},
    )
    # The pgd20 preset's step, computed as `tfls.attacks.get` computes it (same float).
    step_size = (1 / 10) * ws.eps
    trace = trace_pgd(
        ws.model,
        ws.batches(),
        eps=ws.eps,
        norm=ws.norm,
        steps=steps,
        step_size=step_size,
        seed=ws.seed,
        margin=th.SILENT_MARGIN,
    )
    return trace, evaluation.evidence.robust[label]


def silent_success(trace, engine_robust) -> CheckResult:
    """Check 12 (Pintor): an adversarial iterate was visited but a robust point returned."""
    visited = trace.adversarial.any(axis=1)
    silent = visited & engine_robust[trace.index]
    numbers = {
        "traced_points": int(len(trace.index)),
        "visited_adversarial": int(visited.sum()),
        "silent_successes": int(silent.sum()),
    }
    evidence = {"silent_success": [int(i) for i in trace.index[silent]]}
    data = {"loss_traces": trace.loss[:20].tolist()}
    if not silent.any():
        return CheckResult(
            12,
            "Silent success",
            "ok",
            "the engine returns every adversarial point it visits",
            numbers,
            evidence,
            source=PINTOR,
            data=data,
        )
    return CheckResult(
        12,
        "Silent success",
        "fail",
        f"{int(silent.sum())} points: an adversarial iterate was visited, a robust one returned",
        numbers,
        evidence,
        advice="The attack engine lost adversarial points it found: this is a tfls bug; "
        "please report it with audit.json.",
        source=PINTOR,
        data=data,
    )


def loss_imbalance(main) -> CheckResult:
    """Check 14 (Jiang et al. 2020): points margin/DLR attacks break and CE attacks do not."""
    ev = main.evidence
    margin = [k for k in MARGIN_PRESETS if k in ev.robust]
    ce = [k for k in CE_PRESETS if k in ev.robust]
    title = "Loss imbalance"
    source = "Jiang et al. 2020, imbalanced gradients"
    if not margin:
        return CheckResult(
            14, title, "skipped", "no margin/DLR attack in this budget", {}, source=source
        )
    ce_robust = ev.clean.copy()
    for k in ce:
        ce_robust &= ev.robust[k]
    margin_broken = np.zeros_like(ev.clean)
    for k in margin:
        margin_broken |= ev.broken(k)
    only = ce_robust & margin_broken
    numbers = {"ce_attacks": _pct(ce_robust), "points_only_margin_breaks": int(only.sum())}
    for k in margin:
        numbers[k] = _pct(ev.robust[k])
    evidence = {"broken_by_margin_not_ce": _indices(only)}
    if only.sum() <= th.allowed(ev.images, th.ITERATIVE_POINTS):
        return CheckResult(
            14,
            title,
            "ok",
            f"margin losses add {int(only.sum())} point(s)",
            numbers,
            evidence,
            source=source,
        )
    return CheckResult(
        14,
        title,
        "fail",
        f"margin/DLR attacks break {int(only.sum())} points every CE attack misses",
        numbers,
        evidence,
        advice="CE gradients are imbalanced or saturated: report margin/DLR attacks "
        "(apgd-dlr, apgd-t, AutoAttack), not CE-only PGD.",
        source=source,
    )
