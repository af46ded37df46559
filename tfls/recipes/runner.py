"""Runs a resolved recipe `Plan`: train what is missing (cached by config hash), evaluate, judge.

Training goes through `tfls.training.train`, evaluation through `tfls.eval.evaluate` (the one
evaluator the CLI and the app use), logit statistics through `tfls.analysis`. The runner adds only
bookkeeping: which run folder holds which configuration, which attacks share a threat model, and
the results dictionary that `tfls.recipes.report` writes out.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from tfls import io
from tfls.recipes import claims as claims_mod
from tfls.recipes.spec import AttackPlan, ModelPlan, Plan, load_spec, resolve

CACHE_ENV = "TFLS_RECIPES_DIR"
DEFAULT_CACHE = Path("runs") / "recipes"
ACCURACY_UNIT = "%"


def cache_root(cache_dir=None) -> Path:
    """The trained-model cache: `cache_dir`, else `$TFLS_RECIPES_DIR`, else `./runs/recipes`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else DEFAULT_CACHE


# --------------------------------------------------------------------------------------------
# Training with a cache


def train_config(model: ModelPlan, *, data_dir=None):
    """The `TrainConfig` (resolved: every paper default filled in) for one model of a plan."""
    from tfls.training import TrainConfig

    train = dict(model.train)
    if "model" not in train:
        raise ValueError(
            f"Model {model.id!r} has no architecture: set `model` in [scales.<scale>.train] or "
            f"[scales.<scale>.models.{model.group}]. Received: train={train}"
        )
    arch = train.pop("model")
    if "lr_milestones" in train and train["lr_milestones"] is not None:
        train["lr_milestones"] = tuple(train["lr_milestones"])
    config = TrainConfig(
        dataset=model.dataset,
        model=arch,
        method=model.method,
        label_smoothing=model.label_smoothing,
        data_dir=data_dir,
        **train,
    )
    return config.resolved()


def config_hash(config) -> str:
    """16 hex digits of SHA-256 of the resolved config (without `data_dir`: where, not what)."""
    d = config.resolved().to_dict()
    d.pop("data_dir", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock, so two recipes (or sweep workers) never train the same run at once."""
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
):
    """Returns `(model, run_dict, run_dir, trained_now)`, training only if no finished run exists.

    The run folder is `<cache>/<config hash>`; a run interrupted after a checkpoint resumes.
    """
    from tfls import training
    from tfls.training import run_folder

    root = cache_root(cache_dir)
    digest = config_hash(config)
    run_dir = root / digest
    with _locked(root / f".{digest}.lock"):
        finished = (run_dir / "run.json").is_file() and (run_dir / "model.keras").is_file()
        if finished and not retrain:
            model, run = training.load_run(run_dir)
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
            config, run_dir, resume=resume, overwrite=overwrite, strategy=strategy
        )
        log(
            f"    done in {time.perf_counter() - start:.1f}s, "
            f"clean accuracy {result.run.get('clean_accuracy', float('nan')):.4f}"
        )
        return result.model, result.run, run_dir, True


# --------------------------------------------------------------------------------------------
# Attacks


def attack_params(atk: AttackPlan, model: ModelPlan) -> dict:
    """The attack's preset overrides; `label_smoothing = "model"` means the target model's own α."""
    params = dict(atk.params)
    if params.get("label_smoothing") == "model":
        params["label_smoothing"] = model.label_smoothing
    return params


def build_attack(atk: AttackPlan, target: ModelPlan, model, *, eps: float, source_model=None):
    """The attack of one column: the preset on `model`, or crafted on `source_model`."""
    from tfls import attacks as tfls_attacks

    params = attack_params(atk, target)
    if atk.source is None:
        return tfls_attacks.get(atk.preset, model, eps=eps, **params)
    inner = tfls_attacks.get(atk.preset, source_model, eps=eps, **params)
    return tfls_attacks.TransferAttack(source_model, inner)


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


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


# --------------------------------------------------------------------------------------------
# The recipe


def run_recipe(
    recipe: str,
    *,
    scale: str = "smoke",
    out=None,
    overrides=(),
    cache_dir=None,
    data_dir=None,
    log: Callable[[str], None] = print,
    available=None,
    retrain: bool = False,
    strategy="auto",
) -> dict:
    """Trains, evaluates and judges recipe `recipe` at `scale`; writes results into `out`.

    Args:
        recipe: a name in `tfls.recipes.RECIPES` or a path to a spec `.toml`.
        scale: `"smoke"`, `"cpu"` or `"paper"`.
        out: output folder (`results.json`, `results.md`, plots, `evals/`); default
            `runs/recipes-out/<recipe>-<scale>`.
        overrides: `key=value` strings applied to the scale section (`train.epochs=10`, `n=300`,
            `eps=0.03`, `models.ls.label_smoothing=[0.8, 0.9]`, `attacks.pgd20.steps=100`).
        cache_dir: trained-model cache (default `$TFLS_RECIPES_DIR` or `./runs/recipes`).
        data_dir: offline data folder (default `$TFLS_DATA_DIR`).
        log: receives one line of progress at a time.
        available: `dataset name -> bool` deciding stand-ins (default: look offline).
        retrain: train again even where a cached run exists.
        strategy: a `tfls.distribute.strategy` name or object for training and evaluation
            (`"auto"`: Mirrored on several GPUs, the default device otherwise).

    Returns:
        The results dictionary (also written to `out/results.json`).
    """
    from tfls.recipes import report

    spec = load_spec(recipe)
    plan = resolve(spec, scale, overrides=overrides, data_dir=data_dir, available=available)
    if isinstance(strategy, str):
        from tfls import distribute

        distribute.check_name(strategy)
    out = Path(out) if out is not None else Path("runs") / "recipes-out" / f"{plan.recipe}-{scale}"
    out.mkdir(parents=True, exist_ok=True)
    log(f"{plan.recipe} ({plan.paper_ref}) at scale {scale}: {plan.title}")
    for sub in plan.substitutions:
        log(
            f"  STAND-IN: {sub.paper_dataset} → {sub.dataset} ({sub.reason}); "
            "numbers are not the paper's setting"
        )
    started = time.perf_counter()
    results = _empty_results(plan)
    if plan.kind == "presets":
        results["presets"] = presets_table(plan)
    else:
        _train_all(
            plan,
            results,
            cache_dir=cache_dir,
            data_dir=data_dir,
            log=log,
            retrain=retrain,
            strategy=strategy,
        )
        if plan.kind == "logits":
            _measure_logits(plan, results, data_dir=data_dir, log=log)
        else:
            _measure_robustness(
                plan, results, out=out, data_dir=data_dir, log=log, strategy=strategy
            )
    results["claims"] = judge(plan, results["measures"])
    results["paper_claims"] = judge(plan, paper_measures(plan), paper=True)
    results["wall_time_s"] = round(time.perf_counter() - started, 2)
    report.write_all(plan, results, out)
    for c in results["claims"]:
        log(f"  {report.claim_name(c)} {c['verdict'].upper()}: {c['statement']} — {c['detail']}")
    log(f"  wrote {out / 'results.md'} ({results['wall_time_s']:.1f}s)")
    return results


def _empty_results(plan: Plan) -> dict:
    import tfls

    return {
        "recipe": plan.recipe,
        "title": plan.title,
        "paper_ref": plan.paper_ref,
        "kind": plan.kind,
        "scale": plan.scale,
        "description": plan.description,
        "spec": plan.source,
        "overrides": list(plan.overrides),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tfls_version": tfls.__version__,
        "n": plan.n,
        "substitutions": [
            {"paper_dataset": s.paper_dataset, "dataset": s.dataset, "reason": s.reason}
            for s in plan.substitutions
        ],
        "notes": list(plan.notes),
        "models": {},
        "attacks": {
            a.id: {
                "label": a.label,
                "group": a.group,
                "preset": a.preset,
                "norm": a.norm,
                "params": a.params,
                "source": a.source,
                "reading": a.reading,
                "sweep_param": a.sweep_param,
                "sweep_value": a.sweep_value,
            }
            for a in plan.attacks
        },
        "measures": {},
        "intervals": {},
        "evaluations": {},
        "groups": groups_of(plan),
    }


def groups_of(plan: Plan) -> dict:
    """What each spec entry expanded into: α → model id, swept value → attack id."""
    models: dict[str, dict] = {}
    for m in plan.models:
        models.setdefault(m.group, {})[m.label_smoothing] = m.id
    attacks: dict[str, dict] = {}
    for a in plan.attacks:
        if a.sweep_value is not None:
            attacks.setdefault(a.group, {})[a.sweep_value] = a.id
    return {"models": models, "attacks": attacks}


def _train_all(plan: Plan, results: dict, *, cache_dir, data_dir, log, retrain, strategy) -> None:
    configs = {m.id: train_config(m, data_dir=data_dir) for m in plan.models}  # all checked first
    loaded, by_hash = {}, {}
    for m in plan.models:
        config = configs[m.id]
        digest = config_hash(config)
        if (
            digest not in by_hash
        ):  # rows with the same config (e.g. stand-ins) share one model object
            by_hash[digest] = train_or_load(
                config, cache_dir=cache_dir, log=log, retrain=retrain, strategy=strategy
            )
        model, run, run_dir, trained = by_hash[digest]
        loaded[m.id] = model
        d = config.to_dict()
        d.pop("data_dir", None)
        results["models"][m.id] = {
            "label": m.label,
            "group": m.group,
            "paper_dataset": m.paper_dataset,
            "dataset": m.dataset,
            "architecture": config.model,
            "method": m.method,
            "label_smoothing": m.label_smoothing,
            "epochs": config.epochs,
            "config": d,
            "hash": config_hash(config),
            "run_dir": str(run_dir),
            "trained_now": trained,
            "train_clean_accuracy": run.get("clean_accuracy"),
            "train_logit_stats": run.get("logit_stats"),
            "evaluate": m.evaluate,
        }
    results["_loaded"] = loaded


def _test_data(plan: Plan, model: ModelPlan, data_dir):
    from tfls import data as tfls_data

    return tfls_data.load(
        model.dataset, "test", batch_size=plan.batch_size, limit=plan.n, data_dir=data_dir
    )


def _measure_logits(plan: Plan, results: dict, *, data_dir, log) -> None:
    from tfls.analysis import accuracy_and_logit_stats

    loaded = results.pop("_loaded")
    for m in plan.models:
        if not m.evaluate:
            continue
        acc, stats = accuracy_and_logit_stats(loaded[m.id], _test_data(plan, m, data_dir))
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


def _measure_robustness(plan: Plan, results: dict, *, out: Path, data_dir, log, strategy) -> None:
    from tfls import distribute
    from tfls.eval import evaluate
    from tfls.training import load_run

    loaded = results.pop("_loaded")
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
            attacks = {}
            for atk in atks:
                source = loaded[by_group[atk.source]] if atk.source else None
                attacks[atk.id] = build_attack(atk, m, loaded[m.id], eps=eps, source_model=source)
            key = {
                "model": results["models"][m.id]["hash"],
                "norm": norm,
                "eps": eps,
                "n": plan.n,
                "batch_size": plan.batch_size,
                "attacks": [(a.id, a.preset, a.params, a.source) for a in atks],
                "sources": [
                    results["models"][by_group[a.source]]["hash"] for a in atks if a.source
                ],
            }
            # Named by content, so rows that are the same model under the same attacks (stand-ins)
            # share one evaluation folder: the second one resumes a finished evaluation.
            folder = out / "evals" / f"{results['models'][m.id]['hash']}-{norm}-{_digest(key)}"
            start = time.perf_counter()
            report = evaluate(
                loaded[m.id],
                _test_data(plan, m, data_dir),
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


# --------------------------------------------------------------------------------------------
# Table 3: the presets themselves


def presets_table(plan: Plan) -> list[dict]:
    """Each attack as tfls configures it (read back from the built layer), beside Table 3."""
    import keras

    from tfls import attacks as tfls_attacks

    probe = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    paper_rows = plan.paper.get("rows", {})
    eps = plan.eps_for("linf", "cifar10") if plan.eps.get("linf") is not None else 8 / 255
    rows = []
    for atk in plan.attacks:
        attack = tfls_attacks.get(atk.preset, probe, eps=eps, **atk.params)
        config = {
            k: v
            for k, v in attack.get_config().items()
            if k not in ("model", "trainable", "dtype", "name")
        }
        paper = paper_rows.get(atk.id, {})
        ours = _preset_summary(atk.preset, config, eps)
        rows.append(
            {
                "id": atk.id,
                "label": atk.label,
                "preset": atk.preset,
                "config": config,
                "ours": ours,
                "paper": paper,
                "match": _preset_match(paper, ours),
            }
        )
    return rows


def _preset_summary(preset: str, config: dict, eps: float) -> dict:
    steps = config.get("steps", config.get("max_iterations", 1))
    step = config.get("step_size")
    if preset == "fgsm":
        step = 2 * eps if step is None else step
    return {
        "restarts": config.get("restarts", 1),
        "init": config.get(
            "init",
            "odi" if preset == "odi" else ("original" if preset == "fgsm" else "fixed in code"),
        ),
        "steps": steps,
        "step_size_eps": None if step is None else round(float(step) / eps, 6),
        "loss": config.get(
            "loss", {"mt": "targeted margin", "autoattack": "ensemble"}.get(preset, "-")
        ),
    }


def _preset_match(paper: dict, ours: dict) -> bool | None:
    """True if every number the paper's row gives (steps, step size as a multiple of ε) agrees."""
    checks = [k for k in ("steps", "step_size_eps") if k in paper]
    if not checks:
        return None
    return all(
        ours.get(k) is not None and abs(float(ours[k]) - float(paper[k])) < 1e-6 for k in checks
    )


# --------------------------------------------------------------------------------------------
# Paper numbers and claims


def paper_measures(plan: Plan) -> dict:
    """The paper's numbers as measures keyed like ours (accuracies as fractions)."""
    unit = plan.paper.get("unit", ACCURACY_UNIT)
    out: dict[str, dict] = {}
    for key, row in plan.paper.get("values", {}).items():
        out[key] = {
            k: (
                float(x) / 100
                if unit == ACCURACY_UNIT and not k.startswith(("logit", "mean_margin"))
                else float(x)
            )
            for k, x in row.items()
        }
    return out


def judge(plan: Plan, measures: dict, *, paper: bool = False) -> list[dict]:
    """Every claim of the plan on `measures`; `paper=True` reads α sweeps from the paper's keys."""
    groups = groups_of(plan)
    if paper:
        # `ls@0.3` in [paper.values] is the α=0.3 model of group `ls`, whatever this scale sweeps.
        models: dict[str, dict] = {}
        for key in measures:
            if "@" in key:
                group, _, alpha = key.partition("@")
                models.setdefault(group, {})[float(alpha)] = key
        groups = {"models": {**groups["models"], **models}, "attacks": groups["attacks"]}
    return [claims_mod.evaluate_claim(entry, measures, groups).to_dict() for entry in plan.claims]


def write_json(path: Path, results: dict) -> None:
    io.atomic_write_json(path, {k: v for k, v in results.items() if not k.startswith("_")})
