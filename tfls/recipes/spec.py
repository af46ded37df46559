"""Recipe specs: read a `recipes/<name>.toml`, check it, and resolve one scale into a `Plan`.

A spec is data (KerasHub-style presets): which models to train, which attacks to run at which ε,
how many test images, per scale (`smoke`, `cpu`, `paper`), and the paper's own numbers. The
runner (`tfls.recipes.runner`) only executes a `Plan`. The spec format is documented in
`recipes/README.md`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomllib

from tfls import _validation as v
from tfls.recipes.claims import check_claim_spec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as the `tomli` package
    import tomli as tomllib

SPECS_ENV = "TFLS_RECIPE_SPECS"
RECIPES = ("table1", "table2", "table3", "table4", "table5", "table6", "figure2", "figure3")
SCALES = ("smoke", "cpu", "paper")
KINDS = ("robustness", "logits", "presets")
NORMS = ("linf", "l2")
CLAIM_IDS = tuple(f"C{i}" for i in range(1, 9))

# Where a dataset is missing offline at `smoke`/`cpu` scale this stands in (and the output says so).
STAND_INS = {"mnist": "fashion_mnist", "cifar100": "fashion_mnist", "cifar10": "fashion_mnist"}

_TOP_KEYS = {
    "recipe",
    "title",
    "paper_ref",
    "kind",
    "description",
    "dataset",
    "claims",
    "models",
    "attacks",
    "scales",
    "paper",
    "plots",
    "notes",
}
_SCALE_KEYS = {
    "n",
    "batch_size",
    "seed",
    "eps",
    "eps_l2",
    "substitute",
    "train",
    "models",
    "attacks",
    "notes",
    "description",
}
_MODEL_KEYS = {"id", "label", "method", "label_smoothing", "dataset", "evaluate", "train"}
_MODEL_OVERRIDE_KEYS = {"label", "method", "label_smoothing", "dataset", "evaluate"}
_ATTACK_KEYS = {"id", "label", "preset", "norm", "params", "models", "source", "reading", "sweep"}
_ATTACK_OVERRIDE_KEYS = {"label", "norm", "models", "sweep", "source", "reading"}
_PLOT_KEYS = {"file", "title", "x", "models", "measures", "attacks", "xlabel", "ylabel", "xscale"}


def _train_fields() -> set[str]:
    from tfls.training.config import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)} - {"dataset"}


# --------------------------------------------------------------------------------------------
# Loading


def spec_dir() -> Path:
    """The folder of spec files: `$TFLS_RECIPE_SPECS`, else `<repo>/recipes`."""
    env = os.environ.get(SPECS_ENV)
    if env:
        return Path(env).expanduser()
    import tfls

    return Path(tfls.__file__).resolve().parents[1] / "recipes"


def spec_path(name: str | os.PathLike) -> Path:
    """`table4` → `<spec_dir>/table4.toml`; a path to a `.toml` file is taken as it is."""
    text = str(name)
    if text.endswith(".toml"):
        path = Path(text)
    else:
        v.check_choice(text, RECIPES, name="recipe")
        path = spec_dir() / f"{text}.toml"
    if not path.is_file():
        raise FileNotFoundError(
            f"Recipe spec {path} does not exist (spec folder: ${SPECS_ENV} or <repo>/recipes). "
            f"Received: recipe={text!r}"
        )
    return path


def load_spec(name: str | os.PathLike) -> dict:
    """Reads and validates the spec `name` (a recipe name or a `.toml` path)."""
    path = spec_path(name)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(
            f"Recipe spec {path} is not valid TOML: {e}. Received: path={str(path)!r}"
        ) from None
    return validate_spec(raw, source=str(path))


# --------------------------------------------------------------------------------------------
# Validation


def _where(source: str, key: str) -> str:
    return f"{source}: {key}"


def _unknown(keys, allowed, where: str) -> None:
    extra = sorted(set(keys) - set(allowed))
    if extra:
        raise ValueError(
            f"{where} has unknown keys {extra}. Expected a subset of {sorted(allowed)}. "
            f"Received: {extra[0]}"
        )


def _need(d: dict, key: str, kind, where: str):
    if key not in d:
        raise ValueError(f"{where} lacks the required key {key!r}. Received keys: {sorted(d)}")
    if not isinstance(d[key], kind):
        raise ValueError(
            f"{where}.{key} must be a {getattr(kind, '__name__', kind)}. Received: {key}={d[key]!r}"
        )
    return d[key]


def _check_alpha_list(value, where: str) -> list[float]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"{where}.label_smoothing is an empty list. Received: label_smoothing=[]")
    try:
        return [v.check_label_smoothing(a) for a in values]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None


def _check_eps_value(value, where: str, norm: str) -> None:
    if isinstance(value, dict):
        for ds, eps in value.items():
            _check_eps_value(eps, f"{where}.{ds}", norm)
        return
    try:
        v.check_eps(value, norm=norm)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def validate_spec(raw: dict, *, source: str = "<spec>") -> dict:
    """Checks a parsed spec; raises `ValueError` naming the file, the key and the value."""
    from tfls.attacks import PRESETS

    spec = copy.deepcopy(raw)
    _unknown(spec, _TOP_KEYS, source)
    _need(spec, "recipe", str, source)
    _need(spec, "title", str, source)
    kind = _need(spec, "kind", str, source)
    v.check_choice(kind, KINDS, name=f"kind (in {source})")
    scales = _need(spec, "scales", dict, source)
    for scale in SCALES:
        if scale not in scales:
            raise ValueError(
                f"{source} lacks a [scales.{scale}] section. Received scales: {sorted(scales)}"
            )
    _unknown(scales, SCALES, f"{source} [scales]")
    spec.setdefault("models", [])
    spec.setdefault("attacks", [])
    spec.setdefault("claims", [])
    spec.setdefault("paper", {})
    spec.setdefault("plots", [])
    spec.setdefault("notes", [])

    default_dataset = spec.get("dataset")
    model_ids: set[str] = set()
    train_fields = _train_fields()
    for i, m in enumerate(spec["models"]):
        where = _where(source, f"models[{i}]")
        if not isinstance(m, dict):
            raise ValueError(f"{where} must be a table. Received: {m!r}")
        _unknown(m, _MODEL_KEYS, where)
        mid = _need(m, "id", str, where)
        if mid in model_ids:
            raise ValueError(f"{where}: duplicate model id. Received: id={mid!r}")
        model_ids.add(mid)
        dataset = m.get("dataset", default_dataset)
        if dataset is None:
            raise ValueError(
                f"{where} names no dataset (and the spec has no top-level `dataset`). "
                f"Received: id={mid!r}"
            )
        _check_dataset(dataset, where)
        v.check_choice(
            m.get("method", "natural"), ("natural", "madry", "trades"), name=f"method (in {where})"
        )
        _check_alpha_list(m.get("label_smoothing", 0.0), where)
        _unknown(m.get("train", {}), train_fields, f"{where}.train")
    if kind != "presets" and not model_ids:
        raise ValueError(
            f"{source}: a {kind!r} recipe needs at least one [[models]] entry. Received: models=[]"
        )

    attack_ids: set[str] = set()
    for i, a in enumerate(spec["attacks"]):
        where = _where(source, f"attacks[{i}]")
        if not isinstance(a, dict):
            raise ValueError(f"{where} must be a table. Received: {a!r}")
        _unknown(a, _ATTACK_KEYS, where)
        aid = _need(a, "id", str, where)
        if aid in attack_ids or aid in ("clean",):
            raise ValueError(f"{where}: duplicate or reserved attack id. Received: id={aid!r}")
        attack_ids.add(aid)
        preset = _need(a, "preset", str, where)
        v.check_choice(preset, PRESETS, name=f"attack preset (in {where})")
        if "norm" in a:
            v.check_choice(a["norm"], NORMS, name=f"norm (in {where})")
        for mid in a.get("models", []):
            v.check_choice(mid, sorted(model_ids), name=f"model id (in {where}.models)")
        if "source" in a:
            v.check_choice(a["source"], sorted(model_ids), name=f"source model id (in {where})")
        if "sweep" in a:
            _check_sweep(a["sweep"], where)
    if kind == "robustness" and not attack_ids:
        raise ValueError(
            f"{source}: a robustness recipe needs at least one [[attacks]] entry. "
            "Received: attacks=[]"
        )

    for scale in SCALES:
        _check_scale(
            scales[scale], f"{source} [scales.{scale}]", model_ids, attack_ids, train_fields
        )

    for i, c in enumerate(spec["claims"]):
        where = _where(source, f"claims[{i}]")
        if not isinstance(c, dict):
            raise ValueError(f"{where} must be a table. Received: {c!r}")
        v.check_choice(_need(c, "id", str, where), CLAIM_IDS, name=f"claim id (in {where})")
        check_claim_spec(c, model_ids=model_ids, attack_ids=attack_ids, where=where)

    paper = spec["paper"]
    if not isinstance(paper, dict):
        raise ValueError(f"{source} [paper] must be a table. Received: {paper!r}")
    values = paper.get("values", {})
    for key, row in values.items():
        if not isinstance(row, dict):
            raise ValueError(f"{source} [paper.values.{key}] must be a table. Received: {row!r}")
        for measure, number in row.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ValueError(
                    f"{source} [paper.values.{key}].{measure} must be a number. "
                    f"Received: {number!r}"
                )

    for i, p in enumerate(spec["plots"]):
        where = _where(source, f"plots[{i}]")
        _unknown(p, _PLOT_KEYS, where)
        _need(p, "file", str, where)
        v.check_choice(
            _need(p, "x", str, where), ("label_smoothing", "sweep"), name=f"plot x (in {where})"
        )
    spec["_source"] = source
    return spec


def _check_dataset(name, where: str) -> None:
    from tfls.training.config import DATASET_FAMILIES

    v.check_choice(name, DATASET_FAMILIES, name=f"dataset (in {where})")


def _check_sweep(sweep, where: str) -> None:
    if not isinstance(sweep, dict):
        raise ValueError(
            f"{where}.sweep must be a table {{param, values}}. Received: sweep={sweep!r}"
        )
    _unknown(sweep, {"param", "values"}, f"{where}.sweep")
    _need(sweep, "param", str, f"{where}.sweep")
    values = _need(sweep, "values", list, f"{where}.sweep")
    if not values or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in values):
        raise ValueError(
            f"{where}.sweep.values must be a non-empty list of numbers. Received: values={values!r}"
        )


def _check_scale(scale: dict, where: str, model_ids, attack_ids, train_fields) -> None:
    if not isinstance(scale, dict):
        raise ValueError(f"{where} must be a table. Received: {scale!r}")
    _unknown(scale, _SCALE_KEYS, where)
    if "n" in scale:
        v.check_positive_int(scale["n"], name=f"n (in {where})")
    if "batch_size" in scale:
        v.check_positive_int(scale["batch_size"], name=f"batch_size (in {where})")
    if "eps" in scale:
        _check_eps_value(scale["eps"], f"{where}.eps", "linf")
    if "eps_l2" in scale:
        _check_eps_value(scale["eps_l2"], f"{where}.eps_l2", "l2")
    for src, dst in scale.get("substitute", {}).items():
        _check_dataset(src, f"{where}.substitute")
        _check_dataset(dst, f"{where}.substitute")
    _unknown(scale.get("train", {}), train_fields, f"{where}.train")
    for mid, over in scale.get("models", {}).items():
        v.check_choice(mid, sorted(model_ids), name=f"model id (in {where}.models)")
        _unknown(over, _MODEL_OVERRIDE_KEYS | train_fields, f"{where}.models.{mid}")
        if "label_smoothing" in over:
            _check_alpha_list(over["label_smoothing"], f"{where}.models.{mid}")
        if "dataset" in over:
            _check_dataset(over["dataset"], f"{where}.models.{mid}")
    for aid, over in scale.get("attacks", {}).items():
        v.check_choice(aid, sorted(attack_ids), name=f"attack id (in {where}.attacks)")
        if not isinstance(over, dict):
            raise ValueError(f"{where}.attacks.{aid} must be a table. Received: {over!r}")
        if "sweep" in over:
            _check_sweep(over["sweep"], f"{where}.attacks.{aid}")


# --------------------------------------------------------------------------------------------
# Overrides (`--set key=value`)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`"train.epochs=10"` → `(["train", "epochs"], 10)`; the value is TOML, else a string."""
    if "=" not in text:
        raise ValueError(
            f"An override must look like key=value (e.g. train.epochs=10). Received: {text!r}"
        )
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ValueError(f"An override needs a key before '='. Received: {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return path, parsed


def apply_overrides(scale: dict, overrides) -> dict:
    """Returns a copy of a scale section with `--set` overrides (strings or `(path, value)`)."""
    scale = copy.deepcopy(scale)
    for item in overrides or ():
        path, value = parse_override(item) if isinstance(item, str) else item
        node = scale
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(
                    f"Override {'.'.join(path)} goes through {part!r}, which is not a table. "
                    f"Received: {'.'.join(path)}={value!r}"
                )
            node = child
        node[path[-1]] = value
    return scale


# --------------------------------------------------------------------------------------------
# Resolution


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
    _check_scale(section, where, model_ids, attack_ids, _train_fields())
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
        merged = {**m, **{k: over.pop(k) for k in list(over) if k in _MODEL_OVERRIDE_KEYS}}
        train = {**train_defaults, **m.get("train", {}), **over}
        train.setdefault("seed", seed)
        paper_ds = merged.get("dataset", spec.get("dataset"))
        dataset = used_dataset(paper_ds)
        alphas = _check_alpha_list(merged.get("label_smoothing", 0.0), m["id"])
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

    from tfls.attacks import PRESETS

    attacks: list[AttackPlan] = []
    for a in spec["attacks"]:
        over = dict(section.get("attacks", {}).get(a["id"], {}))
        merged = {**a, **{k: over.pop(k) for k in list(over) if k in _ATTACK_OVERRIDE_KEYS}}
        params = {**a.get("params", {}), **over}
        norm = merged.get("norm", PRESETS[a["preset"]].get("norm", "linf"))
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
