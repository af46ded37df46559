"""The recipe spec schema: which keys a `recipes/<name>.toml` may hold, and `validate_spec`.

Checking is hand-written on purpose: every error names the file, the key and the value
("Received: …"), and several checks need the rest of tfls (attack presets, `TrainConfig` fields,
label-smoothing and ε ranges), which a generic schema library would only wrap.
"""

from __future__ import annotations

import copy
import dataclasses

from tfls import _validation as v
from tfls.recipes.claim_entries import check_claim_spec

RECIPES = ("table1", "table2", "table3", "table4", "table5", "table6", "figure2", "figure3")
SCALES = ("smoke", "cpu", "paper")
KINDS = ("robustness", "logits", "presets")
NORMS = ("linf", "l2")
CLAIM_IDS = tuple(f"C{i}" for i in range(1, 9))

TOP_KEYS = {
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
SCALE_KEYS = {
    "audit",
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
MODEL_KEYS = {"id", "label", "method", "label_smoothing", "dataset", "evaluate", "train"}
MODEL_OVERRIDE_KEYS = {"label", "method", "label_smoothing", "dataset", "evaluate"}
ATTACK_KEYS = {"id", "label", "preset", "norm", "params", "models", "source", "reading", "sweep"}
ATTACK_OVERRIDE_KEYS = {"label", "norm", "models", "sweep", "source", "reading"}
PLOT_KEYS = {"file", "title", "x", "models", "measures", "attacks", "xlabel", "ylabel", "xscale"}


def train_fields() -> set[str]:
    """The `TrainConfig` fields a spec may set under `train` (all but `dataset`)."""
    from tfls.training.config import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)} - {"dataset"}


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


def check_alpha_list(value, where: str) -> list[float]:
    """One α or a list of them, each a valid label-smoothing value; returns the list."""
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
    _unknown(spec, TOP_KEYS, source)
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
    fields = train_fields()
    for i, m in enumerate(spec["models"]):
        where = _where(source, f"models[{i}]")
        if not isinstance(m, dict):
            raise ValueError(f"{where} must be a table. Received: {m!r}")
        _unknown(m, MODEL_KEYS, where)
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
        check_alpha_list(m.get("label_smoothing", 0.0), where)
        _unknown(m.get("train", {}), fields, f"{where}.train")
    if kind != "presets" and not model_ids:
        raise ValueError(
            f"{source}: a {kind!r} recipe needs at least one [[models]] entry. Received: models=[]"
        )

    attack_ids: set[str] = set()
    for i, a in enumerate(spec["attacks"]):
        where = _where(source, f"attacks[{i}]")
        if not isinstance(a, dict):
            raise ValueError(f"{where} must be a table. Received: {a!r}")
        _unknown(a, ATTACK_KEYS, where)
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
        check_scale(scales[scale], f"{source} [scales.{scale}]", model_ids, attack_ids, fields)

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
        _unknown(p, PLOT_KEYS, where)
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


def check_scale(scale: dict, where: str, model_ids, attack_ids, fields) -> None:
    """Checks one `[scales.<scale>]` section (also after `--set` overrides are applied)."""
    if not isinstance(scale, dict):
        raise ValueError(f"{where} must be a table. Received: {scale!r}")
    _unknown(scale, SCALE_KEYS, where)
    if "n" in scale:
        v.check_positive_int(scale["n"], name=f"n (in {where})")
    if "audit" in scale:
        from tfls.audit.budgets import BUDGETS

        v.check_choice(scale["audit"], BUDGETS, name=f"audit budget (in {where})")
    if "batch_size" in scale:
        v.check_positive_int(scale["batch_size"], name=f"batch_size (in {where})")
    if "eps" in scale:
        _check_eps_value(scale["eps"], f"{where}.eps", "linf")
    if "eps_l2" in scale:
        _check_eps_value(scale["eps_l2"], f"{where}.eps_l2", "l2")
    for src, dst in scale.get("substitute", {}).items():
        _check_dataset(src, f"{where}.substitute")
        _check_dataset(dst, f"{where}.substitute")
    _unknown(scale.get("train", {}), fields, f"{where}.train")
    for mid, over in scale.get("models", {}).items():
        v.check_choice(mid, sorted(model_ids), name=f"model id (in {where}.models)")
        _unknown(over, MODEL_OVERRIDE_KEYS | fields, f"{where}.models.{mid}")
        if "label_smoothing" in over:
            check_alpha_list(over["label_smoothing"], f"{where}.models.{mid}")
        if "dataset" in over:
            _check_dataset(over["dataset"], f"{where}.models.{mid}")
    for aid, over in scale.get("attacks", {}).items():
        v.check_choice(aid, sorted(attack_ids), name=f"attack id (in {where}.attacks)")
        if not isinstance(over, dict):
            raise ValueError(f"{where}.attacks.{aid} must be a table. Received: {over!r}")
        if "sweep" in over:
            _check_sweep(over["sweep"], f"{where}.attacks.{aid}")
