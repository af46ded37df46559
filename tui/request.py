"""What the user asked to evaluate, parsed from the form's text and validated before any work.

Every check raises `ValueError` naming the field and the value, which the form shows inline.
`tfls._validation` is imported inside the functions: the app calls them only once the library
has been loaded by its start-up worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.fields import parse_eps_list, parse_positive_int  # noqa: F401  (the plan's fields)
from tui.runs import RunInfo, read_run, results_key

# The attack parameters the form lets the user edit, in display order.
# `eot`: forward draws each gradient and score averages (EOT), for a defence random at inference.
PARAMS = ("steps", "step_size", "restarts", "loss", "eot", "source")
# Ticked when the app starts: FGSM and PGD-20 (what papers report) beside APGD-CE (what finds
# more); AutoAttack is one key away but costs minutes per defense on a CPU.
DEFAULT_ATTACKS = ("fgsm", "pgd20", "apgd-ce")


@dataclass(frozen=True)
class AttackChoice:
    """A preset name plus the parameters the user changed (the rest keep the preset's values)."""

    name: str
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EvalPlan:
    """Defenses × ε values to evaluate against the same attacks on the same first `n` images."""

    defenses: tuple[RunInfo, ...]
    attacks: tuple[AttackChoice, ...]
    eps_values: tuple[float, ...]
    eps_labels: tuple[str, ...]
    norm: str = "linf"
    n: int = 500
    batch_size: int = 50

    @property
    def attack_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attacks)

    @property
    def is_sweep(self) -> bool:
        return len(self.eps_values) > 1

    @property
    def total_images(self) -> int:
        return len(self.defenses) * len(self.eps_values) * self.n

    def key(self, eps: float) -> str:
        return results_key(
            [(a.name, a.overrides) for a in self.attacks], eps=eps, norm=self.norm, n=self.n
        )

    def session(self, defense: RunInfo, index: int) -> dict:
        """What is written to `tui.json` so that the results can be reopened and resumed."""
        return {
            "run": str(defense.path),
            "attacks": [{"name": a.name, "overrides": a.overrides} for a in self.attacks],
            "eps": self.eps_values[index],
            "eps_label": self.eps_labels[index],
            "norm": self.norm,
            "n": self.n,
            "batch_size": self.batch_size,
        }


def parse_overrides(
    fields: dict[str, str],
    *,
    allowed: tuple[str, ...],
    losses: tuple[str, ...],
    sources: tuple[str, ...] = (),
) -> dict:
    """Turns the edited parameter fields of one attack into keyword overrides; blank = preset.

    `source` (transfer attacks) names a run folder next to the defenses; the worker loads it.
    """
    from tfls._validation import check_choice, check_nonnegative, parse_eps

    overrides: dict = {}
    for key, raw in fields.items():
        text = str(raw).strip()
        if not text:
            continue
        if key not in allowed:
            raise ValueError(f"This attack has no parameter `{key}`. Received: {key}={text!r}")
        if key in ("steps", "restarts", "eot"):
            overrides[key] = parse_positive_int(text, name=key)
        elif key == "step_size":
            overrides[key] = check_nonnegative(parse_eps(text), name="step_size")
        elif key == "loss":
            overrides[key] = check_choice(text, losses, name="loss")
        elif key == "source":
            overrides[key] = check_choice(text, sources, name="source run")
        else:
            overrides[key] = text
    return overrides


def make_plan(
    defenses: list[RunInfo],
    attacks: list[AttackChoice],
    *,
    eps_text: str,
    sweep_text: str = "",
    norm: str = "linf",
    n_text: str = "500",
    batch_text: str = "50",
) -> EvalPlan:
    """Validates the whole form; the first problem found is raised as a `ValueError`."""
    from tfls._validation import check_norm

    if not defenses:
        raise ValueError("Select at least one defense (space toggles a run in the list).")
    broken = [d.name for d in defenses if d.error]
    if broken:
        raise ValueError(f"Cannot evaluate unreadable runs. Received: runs={broken}")
    if not attacks:
        raise ValueError("Choose at least one attack (space toggles a preset in the list).")
    check_norm(norm)
    eps = parse_eps_list(eps_text, norm=norm)
    if len(eps) != 1:
        raise ValueError(
            f"Give one ε in the ε field (use the sweep field for more). Received: eps={eps_text!r}"
        )
    # One entry per distinct value (8/255 and 0.0313725490196 are the same ε), in increasing ε.
    by_value: dict[float, tuple[str, float]] = {}
    for label, value in [*eps, *parse_eps_list(sweep_text, norm=norm, name="sweep")]:
        by_value.setdefault(round(value, 10), (label, value))
    ordered = [by_value[k] for k in sorted(by_value)]
    n = parse_positive_int(n_text, name="images")
    batch = parse_positive_int(batch_text, name="batch")
    return EvalPlan(
        defenses=tuple(defenses),
        attacks=tuple(attacks),
        eps_values=tuple(value for _, value in ordered),
        eps_labels=tuple(label for label, _ in ordered),
        norm=norm,
        n=n,
        batch_size=min(batch, n),
    )


def saved_plan(result) -> EvalPlan:
    """The `EvalPlan` a saved result (`tui.runs.SavedResult`) was evaluated with, from its session.

    Raises `KeyError`, `TypeError` or `ValueError` for a session that does not hold one.
    """
    session = result.session
    return EvalPlan(
        defenses=(read_run(result.run_path),),
        attacks=tuple(
            AttackChoice(a["name"], dict(a.get("overrides") or {})) for a in session["attacks"]
        ),
        eps_values=(float(session["eps"]),),
        eps_labels=(str(session.get("eps_label", session["eps"])),),
        norm=session.get("norm", "linf"),
        n=int(session["n"]),
        batch_size=int(session.get("batch_size", 50)),
    )
