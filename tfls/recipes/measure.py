"""Measuring a recipe's models: their attacks grouped by threat model, and one evaluation each.

`build_attacks` is where the recipes hand a threat group's columns to `tfls.attacks.plan_suite`.
Evaluation goes through `tfls.eval.evaluate` (the evaluator the CLI and the app use) and logit
statistics through `tfls.analysis`; what is added here is bookkeeping: which attacks share a
threat model, and which evaluation folder holds which (model, attacks) pair.
"""

from __future__ import annotations

import time
from pathlib import Path

from tfls import hashing
from tfls.recipes.plan import AttackPlan, ModelPlan, Plan


def own_loss(model: ModelPlan) -> dict:
    """The attack-loss parameters of `model`'s own training loss (the `own-loss` reading).

    Natural and Madry training minimise `CE(label_smoothing=α)` (α = 0: hard CE); TRADES minimises
    `CE_α(f(x), y) + β·KL(f(x) ‖ f(x'))`, whose only term that depends on x' is the KL.
    """
    if model.method == "trades":
        return {"loss": "trades-kl"}
    if model.label_smoothing == 0:
        return {"loss": "ce"}
    return {"loss": "ce-smoothed", "label_smoothing": model.label_smoothing}


def attack_params(atk: AttackPlan, model: ModelPlan) -> dict:
    """The attack's preset overrides, resolved against the target `model`.

    `label_smoothing = "model"` means the model's own α; `loss = "model"` means the model's own
    training loss (`own_loss`), as an attack that reuses `model.loss` would maximise.
    """
    params = dict(atk.params)
    if params.get("loss") == "model":
        params.pop("loss")
        params.update(own_loss(model))
    if params.get("label_smoothing") == "model":
        params["label_smoothing"] = model.label_smoothing
    return params


def build_attacks(
    atks: list[AttackPlan], target: ModelPlan, model, *, norm: str, eps: float, sources: dict
) -> dict:
    """One threat group's attack columns against `model`, keyed by attack id.

    Built by `tfls.attacks.plan_suite` (the one builder every client uses): the group's norm and ε
    reach every column, and a column with a `source` is that preset transferred from
    `sources[id]`, the source model.
    """
    from tfls.attacks import TRANSFER_PREFIX, plan_suite

    names = {a.id: f"{TRANSFER_PREFIX}{a.preset}" if a.source else a.preset for a in atks}
    overrides = {a.id: attack_params(a, target) for a in atks}
    suite = plan_suite(names, eps=eps, norm=norm, overrides=overrides)
    return suite.build(model, source_model=sources)


def attacks_for(plan: Plan, model: ModelPlan) -> list[AttackPlan]:
    return [
        a
        for a in plan.attacks
        if a.models is None or model.group in a.models or model.id in a.models
    ]


def threat_groups(plan: Plan, model: ModelPlan) -> dict[tuple[str, float], list[AttackPlan]]:
    """The model's attacks grouped by (norm, ε): one `evaluate` call per threat model."""
    groups: dict[tuple[str, float], list[AttackPlan]] = {}
    for atk in attacks_for(plan, model):
        groups.setdefault((atk.norm, plan.eps_for(atk.norm, model.dataset)), []).append(atk)
    return groups


def eval_key_digest(key) -> str:
    """8 hex digits naming an evaluation folder by its content (model hash, attacks, ε, n...)."""
    return hashing.digest(key, length=8, default=str)


def load_test_data(plan: Plan, model: ModelPlan, data_dir):
    """The plan's `n` test images of the dataset `model` is trained on."""
    from tfls import data as tfls_data

    return tfls_data.load(
        model.dataset, "test", batch_size=plan.batch_size, limit=plan.n, data_dir=data_dir
    )


def measure_logits(
    plan: Plan, results: dict, loaded: dict, *, data_dir, log, load=load_test_data
) -> None:
    """Clean accuracy and logit statistics of every evaluated model, into `results["measures"]`.

    `load(plan, model, data_dir)` gives the test data (a dry run passes its own batch).
    """
    from tfls.analysis import accuracy_and_logit_stats

    for m in plan.models:
        if not m.evaluate:
            continue
        acc, stats = accuracy_and_logit_stats(loaded[m.id], load(plan, m, data_dir))
        results["measures"][m.id] = {
            "clean": acc,
            "logit_min": stats["min"],
            "logit_max": stats["max"],
            "logit_range": stats["max"] - stats["min"],
            "mean_margin": stats["mean_margin"],
        }
        log(
            f"  {m.id}: clean {acc:.4f}, logits [{stats['min']:.2f}, {stats['max']:.2f}], "
            f"margin {stats['mean_margin']:.2f}"
        )


def measure_robustness(
    plan: Plan,
    results: dict,
    loaded: dict,
    *,
    out: Path,
    data_dir,
    log,
    strategy,
    load=load_test_data,
    folder_name: str = "evals",
    timings: dict | None = None,
) -> None:
    """Robust accuracy of every evaluated model, one `evaluate` call per threat group.

    `load(plan, model, data_dir)` gives the test data; evaluations go into `out/<folder_name>/`;
    `timings`, if given, receives `(model id, attack id) -> (seconds, images attacked)`.
    """
    from tfls import distribute
    from tfls.eval import evaluate
    from tfls.training import load_run

    strat = distribute.strategy(strategy)
    if strat.num_replicas_in_sync > 1:
        # Evaluation under a strategy needs the models created in its scope.
        with strat.scope():
            loaded = {mid: load_run(results["models"][mid]["run_dir"])[0] for mid in loaded}
    else:
        strat = None
    by_group = {m.group: m.id for m in plan.models}
    for m in plan.models:
        if not m.evaluate:
            continue
        measures = results["measures"].setdefault(m.id, {})
        intervals = results["intervals"].setdefault(m.id, {})
        for (norm, eps), atks in threat_groups(plan, m).items():
            sources = {a.id: loaded[by_group[a.source]] for a in atks if a.source}
            attacks = build_attacks(atks, m, loaded[m.id], norm=norm, eps=eps, sources=sources)
            key = {
                "model": results["models"][m.id]["hash"],
                "norm": norm,
                "eps": eps,
                "n": plan.n,
                "batch_size": plan.batch_size,
                "attacks": [(a.id, a.preset, attack_params(a, m), a.source) for a in atks],
                "sources": [
                    results["models"][by_group[a.source]]["hash"] for a in atks if a.source
                ],
            }
            # Named by content, so rows that are the same model under the same attacks (stand-ins)
            # share one evaluation folder: the second one resumes a finished evaluation.
            folder = (
                out
                / folder_name
                / f"{results['models'][m.id]['hash']}-{norm}-{eval_key_digest(key)}"
            )
            start = time.perf_counter()
            report = evaluate(
                loaded[m.id],
                load(plan, m, data_dir),
                attacks,
                out=folder,
                resume=True,
                n=plan.n,
                strategy=strat,
                meta={"recipe": plan.recipe, "scale": plan.scale, "dataset": m.dataset},
            )
            measures["clean"] = report.clean_accuracy
            intervals["clean"] = list(report.clean_interval)
            for name, res in report.attacks.items():
                measures[name] = res.robust_accuracy
                intervals[name] = list(res.interval)
                if timings is not None:
                    timings[(m.id, name)] = (res.seconds, res.attacked)
            wc = f"worst-case {norm} ε={eps:.4g}"
            measures[wc] = report.worst_case_accuracy
            intervals[wc] = list(report.worst_case_interval)
            results["evaluations"][f"{m.id}/{norm}"] = {
                "folder": str(folder),
                "seconds": round(report.seconds, 2),
            }
            log(
                f"  {m.id} [{norm} ε={eps:.4g}] clean {report.clean_accuracy:.3f}; "
                + ", ".join(f"{k} {r.robust_accuracy:.3f}" for k, r in report.attacks.items())
                + f" ({time.perf_counter() - start:.1f}s)"
            )
