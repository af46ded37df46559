"""Has the attack you would report converged? Checks 11 (evidence), 18 and 12 (diagnostics).

* 11, "Convergence": the strongest gradient attack the audit ran (lowest robust accuracy; the
  follow-ups included) is run again with twice its steps and twice its restarts; exact
  one-sided McNemar: the doubled run breaks more points than the original where they disagree
  (Carlini et al. 2019: run attacks to convergence).
* 18, "Restart spread" (diagnostic): the same attack with other seeds; points some runs break
  and others do not, with those the doubled run lost (an attack that finds a point and loses it
  with more budget oscillates), count as not converged; and Pintor et al.'s incomplete
  optimisation on the traced PGD-20 run (the best-so-far loss still rising over its last 10
  steps). Warns when more than `thresholds.SPREAD_POINTS` points of accuracy are unsettled.
* 12, "Engine self-test" (diagnostic): the traced PGD run must return every adversarial iterate
  it visits (Pintor's silent success); it can only fire on a tfls bug, so it never counts as
  evidence about the model.
"""

from __future__ import annotations

import numpy as np

from tfls.audit.trace import still_moving, trace_pgd
from tfls.checks import thresholds as th
from tfls.checks.comparisons import compared, indices
from tfls.checks.result import CheckResult

PINTOR = "Pintor et al. 2022, Indicators of Attack Failure"
CARLINI = "Carlini et al. 2019, On Evaluating Adversarial Robustness (checklist)"
NOT_DOUBLED = ("fgsm", "autoattack", "noise", "square")  # no steps to double, or an ensemble


def strongest(runs: dict, accuracies: dict) -> str | None:
    """The label of the gradient attack with the lowest robust accuracy among `runs`."""
    candidates = [
        label
        for label, (preset, _) in runs.items()
        if preset not in NOT_DOUBLED and label in accuracies
    ]
    return min(candidates, key=lambda label: accuracies[label]) if candidates else None


def doubled(preset: str, overrides: dict) -> dict:
    """`overrides` with twice the steps and twice the restarts of `preset`."""
    from tfls.attacks import ATTACKS, PRESETS

    spec = dict(PRESETS[preset])
    cls = ATTACKS[spec["attack"]]
    defaults = {name: p.default for name, p in getattr(cls, "params", {}).items()}
    out = dict(overrides)
    for name in ("steps", "restarts"):
        if name in defaults:
            out[name] = 2 * int(overrides.get(name, spec.get(name, defaults[name])))
    return out


def convergence(ws, label, preset, overrides, robust) -> CheckResult:
    """Check 11: `label` (its robust bits `robust`) against itself with doubled steps/restarts."""
    twice = doubled(preset, overrides)
    key = f"doubled-{label}"
    evaluation = ws.evaluation(key, {key: preset}, overrides={key: twice})
    again = evaluation.evidence.robust[key]
    clean = evaluation.evidence.clean
    result = compared(
        11,
        "Convergence",
        a=f"{label} with doubled steps and restarts",
        b_label=label,
        b=int((clean & robust & ~again).sum()),
        c=int((clean & again & ~robust).sum()),
        n=int(clean.size),
        source=CARLINI + "; " + PINTOR + " (non-converging attack)",
        advice=f"{label} has not converged: report it with more steps and restarts (and the "
        "worst case over all runs).",
        accuracies={label: float(robust.mean()), key: float(again.mean())},
        evidence={"broken_only_when_doubled": indices(clean & robust & ~again)},
    )
    result.data["doubled"] = {"label": label, "preset": preset, "overrides": twice}
    return result


def restart_spread(ws, label, preset, overrides, robust, trace, *, seeds: int) -> CheckResult:
    """Check 18: `label` with `seeds` other seeds, the doubled run's losses, and the PGD trace."""
    title, source = "Restart spread", CARLINI + "; " + PINTOR + " (incomplete optimisation)"
    clean = ws.stored(f"doubled-{label}").evidence.clean
    runs = [robust, ws.stored(f"doubled-{label}").evidence.robust[f"doubled-{label}"]]
    for s in range(1, seeds + 1):
        key = f"seed{s}-{label}"
        over = {**overrides, "seed": ws.seed + 1000 * s}
        runs.append(ws.evaluation(key, {key: preset}, overrides={key: over}).evidence.robust[key])
    stack = np.stack(runs)
    unsettled = clean & stack.any(axis=0) & ~stack.all(axis=0)
    lost = clean & ~runs[0] & runs[1]  # broken with the budget, robust with twice that
    failed = ~trace.adversarial.any(axis=1)
    moving = np.zeros(len(trace.index), bool)
    if failed.any():
        moving[failed] = still_moving(
            trace.loss[failed], window=th.INCOMPLETE_WINDOW, move=th.INCOMPLETE_MOVE
        )
    numbers = {
        "runs": int(len(runs)),
        "unsettled_points": int(unsettled.sum()),
        "lost_with_doubled_budget": int(lost.sum()),
        "pgd20_loss_still_moving": int(moving.sum()),
        "clean_correct": int(clean.sum()),
    }
    allowed = th.allowed(int(clean.size), th.SPREAD_POINTS)
    shown = trace.loss[: min(20, len(trace.loss))]
    data = {"loss_traces": shown.tolist(), "trace_index": trace.index[: len(shown)].tolist()}
    evidence = {
        "unsettled": indices(unsettled),
        "pgd20_loss_still_moving": [int(i) for i in trace.index[moving]],
    }
    unsettled_total = int(unsettled.sum())
    if unsettled_total > allowed or moving.sum() > allowed:
        return CheckResult(
            18,
            title,
            "warn",
            f"{unsettled_total} points change with the seed or the budget of {label}; "
            f"PGD-20's loss still rises on {int(moving.sum())}",
            numbers,
            evidence,
            advice="The answer depends on luck or budget: report the worst case over every run "
            "(the audit's does) and give attacks more restarts.",
            source=source,
            data=data,
            kind="diagnostic",
        )
    return CheckResult(
        18,
        title,
        "ok",
        f"{label} gives the same answer over {len(runs)} runs",
        numbers,
        evidence,
        source=source,
        data=data,
        kind="diagnostic",
    )


def run_trace(ws, steps):
    """The traced PGD run (checks 12, 18) and the engine's own evaluation of the same run."""
    label = "pgd-trace"
    evaluation = ws.evaluation(
        f"trace-s{steps}",
        {label: "pgd20"},
        overrides={label: {"steps": steps, "jit_compile": False}},
    )
    step_size = (1 / 10) * ws.eps  # the pgd20 preset's step, computed as `get` computes it
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


def reproducible_gradients(model, x, y, points: int = 64) -> bool:
    """Two input gradients of the CE loss on the first `points` points agree exactly.

    The trace replays the engine's PGD run step by step, which a backward pass that draws
    random numbers (a deterministic forward with a noisy gradient) cannot reproduce: its
    iterates are another run's, and a "silent success" there says nothing about the engine.
    """
    import tensorflow as tf

    from tfls.attacks import losses

    xs = tf.convert_to_tensor(np.asarray(x[:points], np.float32))
    ys = tf.convert_to_tensor(np.asarray(y[:points]).astype(np.int32))
    grads = []
    for _ in range(2):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            loss = losses.cross_entropy(model(xs, training=False), ys)
        grads.append(np.asarray(tape.gradient(loss, xs, unconnected_gradients="zero")))
    return bool(np.array_equal(grads[0], grads[1]))


def silent_success(trace, engine_robust) -> CheckResult:
    """Check 12 (Pintor's silent success) as the engine's self-test."""
    visited = trace.adversarial.any(axis=1)
    silent = visited & engine_robust[trace.index]
    numbers = {
        "traced_points": int(len(trace.index)),
        "visited_adversarial": int(visited.sum()),
        "silent_successes": int(silent.sum()),
    }
    evidence = {"silent_success": [int(i) for i in trace.index[silent]]}
    data = {"loss_traces": trace.loss[:20].tolist()}
    title = "Engine self-test"
    if not silent.any():
        return CheckResult(
            12,
            title,
            "ok",
            "the engine returns every adversarial point it visits",
            numbers,
            evidence,
            source=PINTOR + " (silent success)",
            data=data,
            kind="diagnostic",
        )
    return CheckResult(
        12,
        title,
        "fail",
        f"{int(silent.sum())} points: an adversarial iterate was visited, a robust one returned",
        numbers,
        evidence,
        advice="The attack engine lost adversarial points it found: this is a tfls bug; "
        "please report it with audit.json.",
        source=PINTOR + " (silent success)",
        data=data,
        kind="diagnostic",
    )
