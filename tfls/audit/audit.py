"""`audit(model, dataset, eps=...)`: the gradient-masking checks, their tests and the verdict.

The one implementation behind `tfls audit`, the recipes and the terminal app. Diagnostics look at
the model first (`model_checks`, `integrity`); the main evaluation runs the budget's white-box
attacks; the adaptive follow-ups (`followups`: EOT, BPDA, margin losses) attack what the
diagnostics found; the evidence checks compare attacks on the same points (`comparisons`,
`radius`, `convergence`, `transfer_checks`); `verdict` tests the gap between PGD-20 and the worst case
over everything, Holm-corrected with the evidence checks. Every attack runs through
`tfls.eval.evaluate` (per-example evidence, resumable under `<out>/evals/`), every finished check
is saved under `<out>/checks/` and reused when the same audit runs again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfls import _validation as v
from tfls import exits
from tfls.audit import convergence as conv
from tfls.audit import followups, radius
from tfls.audit.alongside import find as find_evaluation
from tfls.audit.audit_report import AuditReport
from tfls.audit.budgets import get_budget
from tfls.audit.conclusion import _report
from tfls.audit.inputs import _check_same_task, _probe_classes, load_points
from tfls.audit.transfer_checks import transfer_checks
from tfls.audit.workspace import Workspace, data_digest
from tfls.checks import comparisons as cmp
from tfls.checks import model_checks as mc
from tfls.checks.integrity import gradient_integrity
from tfls.checks.result import CheckResult

TITLES = {
    1: "Probability outputs",
    2: "Randomness",
    3: "Compiled-loss mismatch",
    4: "Gradient availability",
    5: "Logit scale",
    6: "Single-step beats iterative",
    7: "Black-box beats white-box",
    8: "Transfer beats white-box",
    9: "Random noise beats white-box",
    10: "Unbounded attack",
    11: "Convergence",
    12: "Engine self-test",
    13: "Unstable predictions",
    14: "Loss imbalance",
    15: "Gradient integrity",
    16: "Transfer failure",
    17: "Adaptive follow-up",
    18: "Restart spread",
}
# The order checks run in: cheap diagnostics, the main evaluation's comparisons, the follow-ups
# they call for, then the costly evidence.
ORDER = (1, 2, 5, 4, 15, 3, 13, 6, 17, 7, 10, 14, 9, 8, 16, 11, 18, 12)


def audit(
    model,
    dataset,
    *,
    eps,
    norm: str = "linf",
    surrogate=None,
    n: int | None = None,
    budget: str = "standard",
    out: str | Path | None = None,
    on_check: Callable[[CheckResult], object] | None = None,
    seed: int = 0,
    batch_size: int = 100,
    label: str | None = None,
    data: dict | None = None,
    evaluations=(),
    strategy=None,
) -> AuditReport:
    """Audits whether white-box gradient attacks can be trusted on `model` at radius `eps`.

    Args:
        model: Keras model from [0, 1] inputs to logits. A model that outputs probabilities is
            reported (check 1 fails) and audited through the log of its probabilities.
        dataset: a `tf.data.Dataset` (or any iterable) of `(images, labels)` batches, or a tuple
            of numpy arrays `(x, y)`.
        eps: the threat model's radius (`0.03`, `"8/255"`). norm: `"linf"` or `"l2"`.
        surrogate: a model of the same input shape and classes to transfer attacks from
            (checks 8 and 16): a standard architecture trained on the training split
            (`tfls.audit.surrogate.standard_surrogate`), never the audited points; without one
            they are skipped.
        n: audit only the first `n` points.
        budget: `"quick"`, `"standard"` or `"thorough"` (`tfls.audit.BUDGETS`).
        out: folder for `audit.json`, `audit.md`, the PNGs and the resumable evidence; `None`
            keeps it in a temporary folder and writes nothing.
        on_check: called with each `CheckResult` as it finishes (also for results read back).
        seed: seed of every attack and random draw.
        batch_size: images per evaluated batch.
        label: how the report names the model (its path, for `tfls audit`); default its name.
        data: how the report names the data, `{"dataset": ..., "split": ...}` (for `tfls audit`).
        evaluations: folders holding `tfls eval` outputs (a run folder, the audit's parent):
            a finished evaluation of the same weights, ε, points and data found there is shown
            beside the audit's worst case (`tfls.audit.alongside`).
        strategy: a `tf.distribute.Strategy` every evaluation runs under (build or load the
            model in its scope). On a multi-worker cluster the chief alone writes `out`, which
            must be a folder every worker sees (`tfls.eval.cluster`).

    Returns:
        An `AuditReport` (written to `out` when given).

    Raises:
        ValueError: an unknown budget, `eps < 0`, a surrogate of another input shape or number of
            classes, or bad data, before any attack runs.

    Example:
        >>> report = tfls.audit.audit(model, (x_test, y_test), eps=8 / 255, budget="quick")
        >>> report.verdict, report.worst_case, report.recommended_suite
    """
    plan = get_budget(budget)
    norm = v.check_norm(norm)
    eps = v.check_eps(eps, norm=norm)
    n = None if n is None else v.check_positive_int(n, name="n")
    batch_size = v.check_positive_int(batch_size, name="batch_size")
    if on_check is not None and not callable(on_check):
        raise ValueError(f"`on_check` must be callable or None. Received: on_check={on_check!r}")
    _check_same_task(model, surrogate)
    x, y = load_points(dataset, n)
    num_classes = _probe_classes(model, x)
    v.check_labels(y, num_classes=num_classes, batch_size=len(x))
    if surrogate is not None and _probe_classes(surrogate, x, "surrogate") != num_classes:
        raise ValueError(
            f"The surrogate outputs {_probe_classes(surrogate, x, 'surrogate')} classes but the "
            f"model {num_classes}. Received: surrogate={getattr(surrogate, 'name', surrogate)!r}"
        )
    from tfls.models.wrap import check_wrapped_outputs

    check_wrapped_outputs(model, x)  # --outputs probs on a model that outputs logits

    start = time.perf_counter()
    check1, probabilities = mc.probability_outputs(model, x)
    target = mc.log_probabilities(model) if probabilities else model
    ws = Workspace(
        target,
        x,
        y,
        eps=eps,
        norm=norm,
        seed=seed,
        out=out,
        batch_size=batch_size,
        jit_compile=plan.jit_compile,
        strategy=strategy,
    )
    # A stop (Ctrl-C, SIGTERM) takes effect between checks and between evaluated batches.
    with exits.stop_at_safe_points():
        try:
            from tfls.eval.fingerprint import model_fingerprint

            weights_sha256 = model_fingerprint(model)["weights_sha256"]
            ws.claim(
                {
                    "model": weights_sha256,
                    "eps": eps,
                    "norm": norm,
                    "seed": int(seed),
                    "points": data_digest(x, y),
                    "batch_size": batch_size,
                }
            )
            if surrogate is not None and mc.has_softmax_output(surrogate, surrogate(x[:8])):
                surrogate = mc.log_probabilities(surrogate, "log_probabilities_surrogate")
            key = plan.name + (
                ""
                if surrogate is None
                else "|" + model_fingerprint(surrogate)["weights_sha256"][:12]
            )
            checks = _run_checks(
                ws, plan, key, target, model, check1, probabilities, surrogate, on_check
            )
            data = dict(data or {})
            alongside = find_evaluation(
                evaluations,
                weights_sha256=weights_sha256,
                eps=eps,
                norm=norm,
                images=ws.n,
                dataset=data.get("dataset"),
                split=data.get("split"),
            )
            return _report(
                ws,
                plan,
                checks,
                model=model,
                label=label,
                start=start,
                out=out if ws.writer else None,
                data=data,
                alongside=alongside,
            )
        finally:
            ws.close()


def _run_checks(ws, plan, key, target, model, check1, probabilities, surrogate, on_check):
    """Runs (or reads back) every check of the budget, in `ORDER`; returns them by id order."""
    x, y, eps, norm, seed = ws.x, ws.y, ws.eps, ws.norm, ws.seed
    results: dict[int, CheckResult] = {}
    runs: dict[str, tuple[str, dict]] = {}  # label -> (preset, overrides): what was attacked with

    def run(check_id, fn, *, reason=None):
        if reason is None and check_id not in plan.checks:
            reason = f"not in the {plan.name} budget"
        if reason is not None:
            result = CheckResult(check_id, TITLES[check_id], "skipped", reason)
        else:
            result = ws.load_check(check_id, key)
            if result is None:
                ws.used = []
                result = fn()
                # The evaluations behind a check, so a resumed audit folds in the same ones.
                result.data["evaluations"] = list(dict.fromkeys(ws.used))
                ws.save_check(result, key)
        results[check_id] = result
        if on_check is not None:
            on_check(result)
        exits.check_stop()  # a safe point: this check is saved, the next not yet begun
        return result

    run(1, lambda: check1)
    run(2, lambda: mc.randomness(target, x))
    run(5, lambda: mc.logit_scale(target, x))
    main = ws.evaluation(f"main-{plan.name}", list(plan.whitebox), overrides=plan.overrides)
    for label in plan.whitebox:
        runs[label] = (label, dict(plan.overrides.get(label, {})))
    clean = main.evidence.clean
    run(4, lambda: mc.gradient_availability(target, x, y, clean))
    run(
        15, lambda: gradient_integrity(target, x, y, clean, seed=seed, points=plan.integrity_points)
    )
    run(3, lambda: mc.compiled_loss(ws, model, main, probability_model=probabilities))
    run(
        13,
        lambda: mc.unstable_predictions(
            target, x, y, clean, eps=eps, norm=norm, gamma=plan.gamma, seed=seed
        ),
    )
    run(6, lambda: cmp.single_step(main))

    found = followups.triggers(results, target, x, eot=plan.eot) if 17 in plan.checks else {}
    for check_id, what in (
        (2, {"eot": found.get("eot")}),
        (4, {"bpda": found.get("bpda"), "losses": found.get("losses")}),
        (15, {"bpda": found.get("bpda")}),
        (5, {"losses": found.get("losses")}),
    ):
        if check_id in results and results[check_id].fired:
            results[check_id].follow_up = {k: v for k, v in what.items() if v}
    follow, names = None, {}
    if found:
        names, overrides = followups.attacks(found, main.evidence.robust)
    if names:
        follow = ws.evaluation(followups.key(found), names, overrides=overrides)
        for label, preset in names.items():
            runs[label] = (preset, dict(overrides.get(label, {})))
    why_not_17 = (
        "no diagnostic called for an adaptive attack"
        if not found
        else "the margin/DLR attacks it calls for are in the main evaluation already"
    )
    run(17, lambda: cmp.follow_up(main, follow, found), reason=None if names else why_not_17)
    run(7, lambda: cmp.blackbox(ws, main, plan.square_queries))
    run(10, lambda: radius.eps_behaviour(ws, main, sweep=plan.eps_sweep))
    run(14, lambda: cmp.loss_imbalance(main))
    run(9, lambda: cmp.noise(ws, main, plan.noise_draws))
    no_surrogate = (
        "no surrogate (pass surrogate= / --surrogate, or --train-surrogate)"
        if surrogate is None
        else None
    )
    pair = {}

    def transfer(check_id):
        if not pair:
            pair.update(zip((8, 16), transfer_checks(ws, main, surrogate)))
        return pair[check_id]

    run(8, lambda: transfer(8), reason=no_surrogate if 8 in plan.checks else None)
    run(16, lambda: transfer(16), reason=no_surrogate if 16 in plan.checks else None)

    accuracies = _accuracies(ws, [main] + ([follow] if follow else []))
    best = conv.strongest(runs, accuracies)
    label_bits = _bits(main, follow)
    no_attack = "no gradient attack with steps to double" if best is None else None
    run(
        11,
        lambda: conv.convergence(ws, best, *runs[best], label_bits[best]),
        reason=no_attack if 11 in plan.checks else None,
    )
    random = results[2].fired
    traced = {}

    def trace():
        if not traced:
            traced["t"] = conv.run_trace(ws, plan.trace_steps)
        return traced["t"]

    why_not_18 = no_attack or (
        "the model is random (check 2): a trace cannot replay the engine's run" if random else None
    )
    run(
        18,
        lambda: conv.restart_spread(
            ws, best, *runs[best], label_bits[best], trace()[0], seeds=plan.spread_seeds
        ),
        reason=why_not_18 if 18 in plan.checks else None,
    )
    why_not_12 = None
    if 12 in plan.checks:
        if random:
            why_not_12 = "the model is random (check 2): a trace cannot replay the engine's run"
        elif not conv.reproducible_gradients(target, x, y):
            why_not_12 = "the backward pass is random: a trace cannot replay the engine's run"
    run(12, lambda: conv.silent_success(*trace()), reason=why_not_12)
    return [results[i] for i in sorted(results)]


def _bits(main, follow) -> dict:
    bits = dict(main.evidence.robust)
    if follow is not None:
        bits.update(follow.evidence.robust)
    return bits


def _accuracies(ws, evaluations) -> dict:
    out = {}
    for e in evaluations:
        for label, bits in e.evidence.robust.items():
            out[label] = float(np.mean(bits))
    return out
