"""A recipe resolved at one scale: the `Plan` dataclasses and `resolve(spec, scale)`.

Resolution applies `--set` overrides, expands α and attack-parameter sweeps into one entry each,
replaces datasets missing offline by stand-ins (`STAND_INS`, recorded and printed), and checks that
every ε the runner will need exists, so nothing is left to guess after an hour of training.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from tfls import _validation as v
from tfls.recipes.overrides import apply_overrides
from tfls.recipes.schema import (
    ATTACK_OVERRIDE_KEYS,
    MODEL_OVERRIDE_KEYS,
    SCALES,
    check_alpha_list,
    check_scale,
    train_fields,
)

# Where a dataset is missing offline at `smoke`/`cpu` scale this stands in (and the output says so).
STAND_INS = {"mnist": "fashion_mnist", "cifar100": "fashion_mnist", "cifar10": "fashion_mnist"}


@dataclasses.dataclass(frozen=True)
class ModelPlan:
    """One model to train: its id in the spec, label, datasets and `TrainConfig` arguments."""

    id: str
    label: str
    group: str
    paper_dataset: str
    dataset: str
    method: str
    label_smoothing: float
    train: dict
    evaluate: bool


@dataclasses.dataclass(frozen=True)
class AttackPlan:
    """One attack column: a preset with parameters, a norm, and (for transfer) a source model."""

    id: str
    label: str
    group: str
    preset: str
    norm: str
    params: dict
    models: tuple[str, ...] | None
    source: str | None
    reading: str | None
    sweep_param: str | None = None
    sweep_value: float | None = None


@dataclasses.dataclass(frozen=True)
class Substitution:
    paper_dataset: str
    dataset: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Plan:
    """A spec resolved at one scale: everything the runner needs, nothing left to guess."""

    recipe: str
    title: str
    paper_ref: str
    kind: str
    scale: str
    description: str
    n: int
    batch_size: int
    seed: int
    eps: dict
    models: tuple[ModelPlan, ...]
    attacks: tuple[AttackPlan, ...]
    claims: tuple[dict, ...]
    paper: dict
    plots: tuple[dict, ...]
    substitutions: tuple[Substitution, ...]
    notes: tuple[str, ...]
    overrides: tuple[str, ...]
    source: str
    audit: str | None = None  # the `tfls.audit` budget each evaluated model is audited with

    def model(self, model_id: str) -> ModelPlan:
        for m in self.models:
            if m.id == model_id:
                return m
        raise ValueError(
            f"Unknown model id {model_id!r}. Expected one of {[m.id for m in self.models]}"
        )

    def models_in(self, group: str) -> list[ModelPlan]:
        """The models a spec entry expanded into (one per α for a list of α)."""
        return [m for m in self.models if m.group == group]

    def attacks_in(self, group: str) -> list[AttackPlan]:
        return [a for a in self.attacks if a.group == group]

    def eps_for(self, norm: str, dataset: str) -> float:
        """ε of `norm` for a model trained on `dataset` (a per-dataset table or one value)."""
        value = self.eps.get(norm)
        if isinstance(value, dict):
            if dataset not in value:
                raise ValueError(
                    f"Recipe {self.recipe} at scale {self.scale} gives no {norm} ε for dataset "
                    f"{dataset!r} (it has {sorted(value)}). Received: dataset={dataset!r}"
                )
            value = value[dataset]
        if value is None:
            raise ValueError(
                f"Recipe {self.recipe} at scale {self.scale} gives no {norm} ε "
                f"(set `{'eps' if norm == 'linf' else 'eps_l2'}` in [scales.{self.scale}])."
            )
        return v.check_eps(value, norm=norm)


def dataset_available_offline(name: str, data_dir=None) -> bool:
    """True if `tfls.data` finds `name` without downloading (the check behind the stand-ins)."""
    from tfls.data import registry
    from tfls.data.sources import read_arrays
    from tfls.data.tfds_source import DOWNLOAD_ENV

    saved = os.environ.get(DOWNLOAD_ENV)
    os.environ[DOWNLOAD_ENV] = "0"
    try:
        read_arrays(registry.info(name), "test", data_dir)
        return True
    except FileNotFoundError:
        return False
    finally:
        if saved is None:
            os.environ.pop(DOWNLOAD_ENV, None)
        else:
            os.environ[DOWNLOAD_ENV] = saved


def _fmt(x: float) -> str:
    return f"{x:g}"


def resolve(
    spec: dict,
    scale: str,
    *,
    overrides=(),
    data_dir=None,
    available: Callable[[str], bool] | None = None,
) -> Plan:
    """Resolves a validated spec at `scale` (with `--set` overrides) into a `Plan`.

    At `smoke` and `cpu` scale a dataset is replaced by its stand-in (`STAND_INS`) when the
    scale's `substitute` table says so or when it is not available offline; every replacement is
    recorded in `Plan.substitutions` and printed. At `paper` scale nothing is replaced.
    """
    v.check_choice(scale, SCALES, name="scale")
    overrides = tuple(overrides or ())
    section = apply_overrides(spec["scales"][scale], overrides)
    where = (
        f"{spec['_source']} [scales.{scale}] (with overrides {list(overrides)})"
        if overrides
        else (f"{spec['_source']} [scales.{scale}]")
    )
    model_ids = {m["id"] for m in spec["models"]}
    attack_ids = {a["id"] for a in spec["attacks"]}
    check_scale(section, where, model_ids, attack_ids, train_fields())
    if available is None:
        cache: dict[str, bool] = {}

        def available(name):
            if name not in cache:
                cache[name] = dataset_available_offline(name, data_dir)
            return cache[name]

    substitutions: dict[str, Substitution] = {}

    def used_dataset(paper_ds: str) -> str:
        if scale == "paper":
            return paper_ds
        forced = section.get("substitute", {})
        if paper_ds in forced and forced[paper_ds] != paper_ds:
            sub = Substitution(
                paper_ds, forced[paper_ds], f"{scale} scale uses a stand-in for speed"
            )
        elif paper_ds in STAND_INS and not available(paper_ds):
            sub = Substitution(paper_ds, STAND_INS[paper_ds], "not available offline here")
        else:
            return paper_ds
        substitutions[paper_ds] = sub
        return sub.dataset

    train_defaults = dict(section.get("train", {}))
    seed = int(section.get("seed", 0))
    models: list[ModelPlan] = []
    for m in spec["models"]:
        over = dict(section.get("models", {}).get(m["id"], {}))
        merged = {**m, **{k: over.pop(k) for k in list(over) if k in MODEL_OVERRIDE_KEYS}}
        train = {**train_defaults, **m.get("train", {}), **over}
        train.setdefault("seed", seed)
        paper_ds = merged.get("dataset", spec.get("dataset"))
        dataset = used_dataset(paper_ds)
        alphas = check_alpha_list(merged.get("label_smoothing", 0.0), m["id"])
        expand = isinstance(merged.get("label_smoothing"), list)
        for alpha in alphas:
            mid = f"{m['id']}@{_fmt(alpha)}" if expand else m["id"]
            label = merged.get("label", m["id"])
            models.append(
                ModelPlan(
                    id=mid,
                    label=f"{label} α={_fmt(alpha)}" if expand else label,
                    group=m["id"],
                    paper_dataset=paper_ds,
                    dataset=dataset,
                    method=merged.get("method", "natural"),
                    label_smoothing=alpha,
                    train=train,
                    evaluate=bool(merged.get("evaluate", True)),
                )
            )

    from tfls.attacks.presets import resolved

    attacks: list[AttackPlan] = []
    for a in spec["attacks"]:
        over = dict(section.get("attacks", {}).get(a["id"], {}))
        merged = {**a, **{k: over.pop(k) for k in list(over) if k in ATTACK_OVERRIDE_KEYS}}
        params = {**a.get("params", {}), **over}
        norm = merged.get("norm", resolved(a["preset"]).get("norm", "linf"))
        base = dict(
            label=merged.get("label", a["id"]),
            group=a["id"],
            preset=a["preset"],
            norm=norm,
            models=tuple(merged["models"]) if "models" in merged else None,
            source=merged.get("source"),
            reading=merged.get("reading"),
        )
        sweep = merged.get("sweep")
        if sweep:
            for value in sweep["values"]:
                attacks.append(
                    AttackPlan(
                        id=f"{a['id']}@{_fmt(value)}",
                        params={**params, sweep["param"]: value},
                        sweep_param=sweep["param"],
                        sweep_value=float(value),
                        **{**base, "label": f"{base['label']} {sweep['param']}={_fmt(value)}"},
                    )
                )
        else:
            attacks.append(AttackPlan(id=a["id"], params=params, **base))

    plan = Plan(
        recipe=spec["recipe"],
        title=spec["title"],
        paper_ref=spec.get("paper_ref", ""),
        kind=spec["kind"],
        scale=scale,
        description=section.get("description", spec.get("description", "")).strip(),
        n=int(section.get("n", 100)),
        batch_size=int(section.get("batch_size", 100)),
        seed=seed,
        eps={"linf": section.get("eps"), "l2": section.get("eps_l2")},
        models=tuple(models),
        attacks=tuple(attacks),
        claims=tuple(spec["claims"]),
        paper=spec["paper"],
        plots=tuple(spec["plots"]),
        substitutions=tuple(substitutions.values()),
        notes=tuple(spec.get("notes", [])) + tuple(section.get("notes", [])),
        overrides=overrides,
        source=spec["_source"],
        audit=section.get("audit"),
    )
    # Every ε the runner will need must exist now, not after an hour of training.
    for atk in plan.attacks:
        targets = (
            [plan.model(mid) for mid in atk.models]
            if atk.models
            else [m for m in plan.models if m.evaluate]
        )
        for m in targets:
            plan.eps_for(atk.norm, m.dataset)
    return plan


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
