"""`audit(model, dataset, eps=...)`: runs the gradient-masking checks and gives a verdict, resumably.

The one implementation behind `tfls audit`, the recipes and the terminal app. Every attack runs
through `tfls.eval.evaluate` (per-example evidence, resumable under `<out>/evals/`), every
finished check is saved under `<out>/checks/` and reused when the same audit runs again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfls import _validation as v
from tfls import exits
from tfls.audit import attack_checks as ac
from tfls.audit import model_checks as mc
from tfls.audit.budgets import get_budget
from tfls.audit.report import AuditReport
from tfls.audit.result import CheckResult
from tfls.audit.verdict import decide
from tfls.audit.workspace import Workspace, data_digest
from tfls.data.reading import elements

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
    10: "ε behaviour",
    11: "Convergence",
    12: "Silent success",
    13: "Unstable predictions",
    14: "Loss imbalance",
}


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
    train_surrogate: bool = False,
    batch_size: int = 100,
) -> AuditReport:
    """Audits whether white-box gradient attacks can be trusted on `model` at radius `eps`.

    Args:
        model: Keras model from [0, 1] inputs to logits. A model that outputs probabilities is
            reported (check 1 fails) and audited through the log of its probabilities.
        dataset: a `tf.data.Dataset` (or any iterable) of `(images, labels)` batches, or a tuple
            of numpy arrays `(x, y)`.
        eps: the threat model's radius (`0.03`, `"8/255"`). norm: `"linf"` or `"l2"`.
        surrogate: a model of the same input shape and classes to transfer attacks from
            (check 8); without one check 8 is skipped.
        n: audit only the first `n` points.
        budget: `"quick"`, `"standard"` or `"thorough"` (`tfls.audit.BUDGETS`).
        out: folder for `audit.json`, `audit.md`, the PNGs and the resumable evidence; `None`
            keeps it in a temporary folder and writes nothing.
        on_check: called with each `CheckResult` as it finishes (also for results read back).
        seed: seed of every attack and random draw.
        train_surrogate: without a `surrogate`, train a natural copy of the architecture on the
            audited points (a few seconds on small models; cached in `out`) for check 8.
        batch_size: images per evaluated batch.

    Returns:
        An `AuditReport` (written to `out` when given).

    Raises:
        ValueError: an unknown budget, `eps < 0`, a surrogate of another input shape or number of
            classes, or bad data, before any attack runs.

    Example:
        >>> report = tfls.audit.audit(model, (x_test, y_test), eps=8 / 255, budget="quick")
        >>> report.verdict, report.recommended_suite
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
    )
    # A stop (Ctrl-C, SIGTERM) takes effect between checks and between evaluated batches.
    with exits.stop_at_safe_points():
        try:
            from tfls.eval.evaluate import model_fingerprint

            ws.claim(
                {
                    "model": model_fingerprint(model)["weights_sha256"],
                    "eps": eps,
                    "norm": norm,
                    "seed": int(seed),
                    "points": data_digest(x, y),
                    "batch_size": batch_size,
                }
            )
            if surrogate is None and train_surrogate:
                surrogate = _train_surrogate(
                    model, x, y, ws.root, seed=seed, probabilities=probabilities
                )
            if surrogate is not None and mc.has_softmax_output(surrogate, surrogate(x[:8])):
                surrogate = mc.log_probabilities(surrogate, "log_probabilities_surrogate")
            key = plan.name + (
                ""
                if surrogate is None
                else "|" + model_fingerprint(surrogate)["weights_sha256"][:12]
            )
            results: dict[int, CheckResult] = {}

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
            main_key = f"main-{plan.name}"
            main = ws.evaluation(main_key, list(plan.whitebox), overrides=plan.overrides)
            clean = main.evidence.clean
            run(2, lambda: mc.randomness(target, x))
            run(3, lambda: mc.compiled_loss(ws, model, main, probability_model=probabilities))
            run(4, lambda: mc.gradient_availability(target, x, y, clean))
            run(5, lambda: mc.logit_scale(target, x))
            run(6, lambda: ac.single_step(main))
            traced = {}

            def trace():
                if not traced:
                    traced["t"] = ac.run_trace(ws, plan.trace_steps)
                return traced["t"]

            run(
                12,
                lambda: ac.silent_success(*trace()),
                reason=(
                    "the model is random (check 2): a trace cannot replay the engine's run"
                    if results[2].status == "fail" and 12 in plan.checks
                    else None
                ),
            )
            run(
                13,
                lambda: mc.unstable_predictions(
                    target, x, y, clean, eps=eps, norm=norm, gamma=plan.gamma, seed=seed
                ),
            )
            run(7, lambda: ac.blackbox(ws, main, plan.square_queries))
            run(
                8,
                lambda: ac.transfer(ws, main, surrogate),
                reason=(
                    "no surrogate (pass surrogate= / --surrogate, or train_surrogate=True)"
                    if surrogate is None and 8 in plan.checks
                    else None
                ),
            )
            run(9, lambda: ac.noise(ws, main, plan.noise_draws))
            run(10, lambda: ac.eps_behaviour(ws, main))
            run(11, lambda: ac.convergence(ws, main, trace()[0], plan.restarts))
            run(14, lambda: ac.loss_imbalance(main))

            checks = [results[i] for i in sorted(results)]
            return _report(ws, plan, main_key, checks, model=model, start=start, out=out)
        finally:
            ws.close()


def _report(ws, plan, main_key, checks, *, model, start, out) -> AuditReport:
    """Folds the evaluations at ε into accuracies, the worst case and the verdict.

    The evaluations are the main one and those each check records it used, in check order, so
    a resumed audit (whose cached checks ran nothing) folds in exactly the same ones.
    """
    keys = [main_key]
    for c in checks:
        keys += c.data.get("evaluations", [])
    main = ws.stored(main_key)
    at_eps = {}
    for key in dict.fromkeys(keys):
        e = ws.stored(key)
        if e.report.eps is not None and abs(e.report.eps - ws.eps) <= 1e-12 * max(1.0, ws.eps):
            at_eps[key] = e
    accuracies: dict[str, float] = {}
    worst = main.evidence.clean.copy()
    for key, e in at_eps.items():
        for label, bits in e.evidence.robust.items():
            name = label if label not in accuracies else f"{label}@{key}"
            accuracies[name] = float(bits.mean())
            worst &= bits
    clean_acc = float(main.evidence.clean.mean())
    pgd20 = accuracies["pgd20"]
    lowest = min(accuracies.items(), key=lambda kv: kv[1])
    whitebox = {k: a for k, a in accuracies.items() if k in main.evidence.robust}
    for label in accuracies:
        if label.startswith("pgd20-"):
            whitebox[label] = accuracies[label]
    # The white-box number to set against PGD-20 is the per-example worst case over the budget's
    # white-box attacks, as AutoAttack reports its own ensemble (a point counts once, broken by
    # any of them), not the best single attack.
    whitebox_worst = main.evidence.worst_case
    names = ", ".join(main.evidence.robust)
    strongest = (f"the white-box worst case ({names})", float(whitebox_worst.mean()))
    worst_acc = float(worst.mean())
    verdict = decide(checks, pgd20=pgd20, strongest=strongest, lowest=lowest, worst_case=worst_acc)
    report = AuditReport(
        checks=checks,
        verdict=verdict.verdict,
        reason=verdict.reason,
        recommended_suite=verdict.recommended_suite,
        clean_accuracy=clean_acc,
        pgd20=pgd20,
        lowest={"attack": lowest[0], "accuracy": lowest[1]},
        worst_case=worst_acc,
        points_of_difference=100 * (pgd20 - worst_acc),
        accuracies=accuracies,
        meta={
            "model": getattr(model, "name", "?"),
            "eps": ws.eps,
            "norm": ws.norm,
            "budget": plan.name,
            "images": ws.n,
            "seed": ws.seed,
            "seconds": time.perf_counter() - start,
        },
    )
    if out is not None:
        report.write(out)
    return report


def load_points(dataset, n=None) -> tuple[np.ndarray, np.ndarray]:
    """The audited points as numpy `(x float32, y int32)`: the first `n` of `dataset`."""
    if isinstance(dataset, tuple) and len(dataset) == 2 and not _is_batch_pair_list(dataset):
        xs, ys = [np.asarray(dataset[0])], [np.asarray(dataset[1])]
    else:
        xs, ys, seen = [], [], 0
        for element in elements(dataset):
            if not isinstance(element, (tuple, list)) or len(element) != 2:
                raise ValueError(
                    "`dataset` must be (x, y) arrays or yield (images, labels) batches. "
                    f"Received an element of type {type(element).__name__}"
                )
            xb, yb = np.asarray(element[0]), np.asarray(element[1])
            xs.append(xb)
            ys.append(yb)
            seen += len(yb)
            if n is not None and seen >= n:
                break
    if not xs:
        raise ValueError("`dataset` is empty: nothing to audit. Received: dataset=<empty>")
    x, y = np.concatenate(xs), np.concatenate(ys)
    if n is not None:
        if len(y) < n:
            raise ValueError(
                f"`dataset` has only {len(y)} images, fewer than requested. Received: n={n}"
            )
        x, y = x[:n], y[:n]
    v.check_images(x)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"Labels must be integers. Received: y.dtype={y.dtype}")
    if len(y) == 0:
        raise ValueError("`dataset` is empty: nothing to audit. Received: dataset=<empty>")
    return x.astype(np.float32), y.astype(np.int32)


def _is_batch_pair_list(dataset) -> bool:
    """`((x0, y0), (x1, y1))`: two batches, not one `(x, y)` pair."""
    return all(isinstance(e, (tuple, list)) and len(e) == 2 for e in dataset)


def _static_task(model, name: str):
    """`(input shape without the batch, classes)` the model declares; None for each unknown."""
    classes = v.model_classes(model, name=name)
    shape = v.static_input_shape(model)
    return (None if shape is None else tuple(shape[1:])), classes


def _check_same_task(model, surrogate) -> None:
    (m_in, m_out) = _static_task(model, "model")
    if surrogate is None:
        return
    (s_in, s_out) = _static_task(surrogate, "surrogate")
    if m_in is not None and s_in is not None and None not in m_in + s_in and m_in != s_in:
        raise ValueError(
            f"The surrogate takes inputs of shape {s_in} but the model {m_in}. "
            f"Received: surrogate input shape {s_in}"
        )
    if m_out is not None and s_out is not None and m_out != s_out:
        raise ValueError(
            f"The surrogate outputs {s_out} classes but the model {m_out}. "
            f"Received: surrogate classes={s_out}"
        )


def _probe_classes(model, x, name: str = "model") -> int:
    """The model's class count from one call on two points, after checking they fit its input."""
    expected = v.static_input_shape(model)
    if expected is not None:
        v.check_input_shape(x, expected, model=getattr(model, "name", name))
    out = model(x[:2], training=False)
    classes = v.check_output_structure(out, name=getattr(model, "name", name))
    return int(np.shape(out)[1]) if classes is None else int(classes)


def _train_surrogate(model, x, y, root: Path, *, seed, probabilities):
    """A natural model of `model`'s architecture trained on the audited points, cached in `root`."""
    import keras

    path = root / "surrogate.keras"
    if path.is_file():
        return keras.models.load_model(path, compile=False)
    try:
        clone = keras.models.clone_model(model)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"Cannot copy the model's architecture to train a surrogate ({e}); pass one with "
            "surrogate=. Received: train_surrogate=True"
        ) from None
    keras.utils.set_random_seed(int(seed))
    clone.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities),
    )
    clone.fit(x, y, epochs=10, batch_size=64, verbose=0)
    from tfls import io

    with io.atomic_path(path, suffix=".keras") as tmp:
        clone.save(tmp)
    return clone
