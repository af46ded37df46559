"""The one road from a user's attack choices to built attacks: `plan_suite` and `suite`.

The CLI, the recipes, the terminal app and the benchmarks all build their attacks here, so presets,
the threat model (one norm and one ε per evaluation), per-attack overrides and transfer sources are
resolved by one set of rules:

* `norm=None` keeps each preset's own norm (`"linf"` unless the preset fixes one, as `cw-l2` does);
  presets of different norms in one suite are refused.
* An explicit `norm` applies to every preset that does not fix one; a preset fixed to another norm,
  or an attack class that cannot run in that norm, is refused.
* `transfer-P` crafts preset `P` on a source model and scores the points on the evaluated model;
  the source is `source_model`, or a per-attack `source` override.
* `eot` and `bpda` (adaptive attacks, `tfls.attacks.adaptive`) apply to every attack on the
  evaluated model that does not override them; transfer entries craft on their source as it
  is (BPDA's layer names are the evaluated model's), unless their overrides say otherwise.

`plan_suite` checks everything that can be checked without a model (names, norms, ε, override
keys), so a command line can refuse bad input before loading anything.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from tfls import _validation as v
from tfls.attacks import adaptive
from tfls.attacks.base import Attack
from tfls.attacks.presets import PRESETS

TRANSFER_PREFIX = "transfer-"
# Arguments every suite sets itself; overriding them per attack would split the threat model.
_SUITE_ARGS = ("eps", "norm")


@dataclasses.dataclass(frozen=True)
class SuiteEntry:
    """One attack of a suite: the label results are reported under, its preset and overrides.

    `preset` is the preset run on the attacked model, or, when `transfer` is set, on the source.
    """

    label: str
    preset: str
    params: Mapping[str, Any]
    transfer: bool = False


@dataclasses.dataclass(frozen=True)
class SuitePlan:
    """A resolved suite: one threat model (`norm`, `eps`), a seed and its entries, in order."""

    norm: str
    eps: float
    seed: int
    entries: tuple[SuiteEntry, ...]
    eot: int = 1
    bpda: Any = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(e.label for e in self.entries)

    @property
    def transfer_labels(self) -> tuple[str, ...]:
        """The attacks that need a source model (unless they carry a `source` override)."""
        return tuple(e.label for e in self.entries if e.transfer and "source" not in e.params)

    def build(self, model, *, source_model=None) -> dict[str, Attack]:
        """The attacks against `model`, keyed by label, in the plan's order.

        `source_model` is the model transfer entries craft on: one model, or a mapping from label
        to model when the entries transfer from different sources.
        """
        return {e.label: self._build_one(e, model, source_model) for e in self.entries}

    def _build_one(self, entry: SuiteEntry, model, source_model) -> Attack:
        from tfls.attacks.registry import get
        from tfls.attacks.transfer import TransferAttack

        params = dict(entry.params)
        params.setdefault("seed", self.seed)
        if not entry.transfer:
            params.setdefault("eot", self.eot)
            params.setdefault("bpda", self.bpda)
            return get(entry.preset, model, eps=self.eps, norm=self.norm, **params)
        source = params.pop("source", None)
        if source is None and isinstance(source_model, Mapping):
            source = source_model.get(entry.label)
        elif source is None:
            source = source_model
        if source is None:
            raise ValueError(
                f"{entry.label} crafts adversarial examples on another model: pass it as "
                "source_model (CLI: --source, a run folder or a .keras file). Received: source=None"
            )
        inner = get(entry.preset, source, eps=self.eps, norm=self.norm, **params)
        return TransferAttack(source, inner, name=_layer_name(entry.label))


def plan_suite(
    names: str | Sequence[str] | Mapping[str, str],
    *,
    eps,
    norm: str | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    eot: int = 1,
    bpda=None,
) -> SuitePlan:
    """Resolves attack choices into a `SuitePlan` without touching a model.

    Args:
        names: preset names (`"pgd20,odi"`, `["pgd20", "odi"]`), or a mapping from the label each
            result is reported under to its preset (`{"pgd20-smoothed": "pgd20"}`). `transfer-P`
            transfers preset `P` from a source model.
        eps: the threat model's radius (`0.03`, `"8/255"`).
        norm: `"linf"`, `"l2"`, or `None` for the presets' own norm.
        overrides: per-label preset arguments, e.g. `{"pgd20": {"restarts": 5}}`; for a transfer
            entry they go to the attack run on the source, and `source` names its source model.
        seed: the seed of every attack that does not override it.
        eot: forward draws each gradient and score of every attack averages (EOT, for models
            random at inference); 1: none.
        bpda: layers of the evaluated model whose backward pass every attack replaces (BPDA):
            names, `{name: approximation}` or `"auto"` (`tfls.attacks.adaptive`).

    Returns:
        A `SuitePlan`; `plan.build(model, source_model=...)` makes the attacks.

    Raises:
        ValueError: naming the value, for an unknown preset or override, a norm a preset cannot
            run in, presets of different norms, a bad ε, or an override of `eps`/`norm`.
    """
    labelled = _labelled(names)
    overrides = dict(overrides or {})
    unknown = [label for label in overrides if label not in labelled]
    if unknown:
        raise ValueError(
            f"Overrides name attacks that are not in the suite. Received: {', '.join(unknown)}; "
            f"the suite has {', '.join(labelled)}"
        )
    if norm is not None:
        norm = v.check_norm(norm)
    entries, norms = [], {}
    for label, preset in labelled.items():
        params = dict(overrides.get(label) or {})
        entry = _entry(label, preset, params)
        norms[label] = _entry_norm(entry, norm)
        entries.append(entry)
    if len(set(norms.values())) > 1:
        listing = ", ".join(f"{label} ({n})" for label, n in norms.items())
        raise ValueError(
            "One evaluation needs one threat model; these attacks use different norms, so "
            f"evaluate them separately or pass a norm. Received: attacks={listing}"
        )
    resolved = next(iter(norms.values()))
    return SuitePlan(
        norm=resolved,
        eps=v.check_eps(eps, norm=resolved),
        seed=int(seed),
        entries=tuple(entries),
        eot=adaptive.check_eot(eot),
        bpda=adaptive.check_bpda(bpda),
    )


def suite(
    model,
    names: str | Sequence[str] | Mapping[str, str],
    *,
    eps,
    norm: str | None = None,
    source_model=None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    eot: int = 1,
    bpda=None,
) -> dict[str, Attack]:
    """Builds the attacks `names` against `model` under one threat model, keyed by label.

    The arguments are those of `plan_suite`, plus the attacked `model` and `source_model` for
    transfer entries (a model, or a mapping from label to model).

    Example:
        >>> attacks = tfls.attacks.suite(model, "fgsm,pgd20,apgd-ce", eps=0.03)
        >>> report = tfls.eval.evaluate(model, dataset, attacks)
    """
    plan = plan_suite(names, eps=eps, norm=norm, overrides=overrides, seed=seed, eot=eot, bpda=bpda)
    return plan.build(model, source_model=source_model)


# --------------------------------------------------------------------------------------------


def _labelled(names) -> dict[str, str]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if isinstance(names, Mapping):
        labelled = {str(k): str(p) for k, p in names.items()}
    else:
        labelled = {}
        for name in names:
            if name in labelled:
                raise ValueError(f"An attack is listed twice. Received: {name!r}")
            labelled[str(name)] = str(name)
    if not labelled:
        raise ValueError("A suite needs at least one attack. Received: attacks=''")
    return labelled


def _entry(label: str, preset: str, params: dict) -> SuiteEntry:
    """Splits `transfer-P` into a transfer of `P`, and checks the preset and override names."""
    transfer = False
    if preset.startswith(TRANSFER_PREFIX):
        inner = PRESETS[preset]["inner"] if preset in PRESETS else preset[len(TRANSFER_PREFIX) :]
        if inner in PRESETS and not inner.startswith(TRANSFER_PREFIX):
            preset, transfer = inner, True
    if preset not in PRESETS:
        known = ", ".join(list(PRESETS) + [f"{TRANSFER_PREFIX}<preset>"])
        raise ValueError(f"Unknown attack {preset!r}. Expected one of: {known}")
    fixed = [key for key in _SUITE_ARGS if key in params]
    if fixed:
        raise ValueError(
            f"{label}: {', '.join(fixed)} belong to the whole suite (one threat model), not to one "
            f"attack. Received: {', '.join(f'{k}={params[k]!r}' for k in fixed)}"
        )
    accepted = _accepted_args(preset)
    bad = [key for key in params if key not in accepted and not (transfer and key == "source")]
    if bad:
        raise ValueError(
            f"{label} ({preset}) takes no argument {', '.join(map(repr, bad))}. "
            f"Expected some of: {', '.join(sorted(accepted))}"
        )
    return SuiteEntry(label=label, preset=preset, params=params, transfer=transfer)


def _attack_class(preset: str) -> type[Attack]:
    from tfls.attacks.table import ATTACKS

    return ATTACKS[PRESETS[preset]["attack"]]


def _accepted_args(preset: str) -> set[str]:
    """The keyword arguments preset `preset` accepts: its class's parameters and its own keys."""
    cls = _attack_class(preset)
    params = inspect.signature(cls).parameters.values()
    named = {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    spec = set(PRESETS[preset]) - {"attack"}
    if "step_size_eps" in spec:
        named.add("step_size")
    return (named | spec) - {"model", "source_model"}


def _entry_norm(entry: SuiteEntry, norm: str | None) -> str:
    fixed = PRESETS[entry.preset].get("norm")
    resolved = norm or fixed or "linf"
    if fixed is not None and fixed != resolved:
        raise ValueError(
            f"{entry.label} is an {fixed} attack; choose norm {fixed} for it or evaluate it "
            f"separately. Received: norm={norm!r}"
        )
    allowed = getattr(_attack_class(entry.preset), "norms", v.NORMS)
    if resolved not in allowed:
        raise ValueError(
            f"{entry.label} runs only in {', '.join(allowed)}. Received: norm={resolved!r}"
        )
    return resolved


def _layer_name(label: str) -> str:
    """A Keras layer name for a label ("pgd20-ce(0.9)" -> "pgd20_ce_0_9_")."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in label) or "attack"
