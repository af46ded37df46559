"""The audit's budgets (`quick`, `standard`, `thorough`): which checks run and how hard, in one table."""

from __future__ import annotations

from dataclasses import dataclass

from tfls import _validation as v


@dataclass(frozen=True)
class Budget:
    """How much work one audit does.

    Attributes:
        name: the budget's name.
        checks: the checks that run (the others are reported as skipped). Check 8 (transfer)
            runs in every budget that lists it, and only when a surrogate is given.
        whitebox: presets of the main evaluation; with `pgd20` and `fgsm` always in it.
        overrides: per-preset overrides of the main evaluation.
        square_queries: Square's queries per point (check 7).
        noise_draws: uniform draws per point (check 9; ≥ 100, Athalye et al.).
        restarts: restarts of PGD-20 in the convergence check (check 11; Carlini et al.: 10).
        trace_steps: steps of the traced PGD run (checks 11 and 12).
        gamma: random neighbours per point for prediction stability (check 13; Pintor: 100).
        jit_compile: XLA setting of every attack (`"auto"` keeps each attack's default; tiny
            models audited many times, as in tests, are faster without XLA).
    """

    name: str
    checks: tuple[int, ...]
    whitebox: tuple[str, ...]
    overrides: dict
    square_queries: int
    noise_draws: int
    restarts: int
    trace_steps: int
    gamma: int
    jit_compile: object = "auto"


_QUICK = (1, 2, 3, 4, 5, 6, 12, 13)
_STANDARD = (*_QUICK, 7, 8, 9, 10, 11, 14)

BUDGETS: dict[str, Budget] = {
    "quick": Budget(
        name="quick",
        checks=_QUICK,
        whitebox=("fgsm", "pgd20", "apgd-ce"),
        overrides={},
        square_queries=0,
        noise_draws=0,
        restarts=1,
        trace_steps=50,
        gamma=100,
    ),
    "standard": Budget(
        name="standard",
        checks=tuple(sorted(_STANDARD)),
        whitebox=("fgsm", "pgd20", "apgd-ce", "apgd-dlr", "pgd-cw", "autoattack"),
        overrides={},
        square_queries=1000,
        noise_draws=100,
        restarts=10,
        trace_steps=100,
        gamma=100,
    ),
    "thorough": Budget(
        name="thorough",
        checks=tuple(sorted(_STANDARD)),
        whitebox=("fgsm", "pgd20", "apgd-ce", "apgd-dlr", "pgd-cw", "apgd-t", "autoattack"),
        overrides={"apgd-ce": {"restarts": 5}, "apgd-dlr": {"restarts": 5}},
        square_queries=5000,
        noise_draws=1000,
        restarts=20,
        trace_steps=200,
        gamma=100,
    ),
}


def get_budget(budget) -> Budget:
    """The budget called `budget` (or a `Budget`, e.g. a cheaper one for tests); an unknown
    name is refused naming the valid ones."""
    if isinstance(budget, Budget):
        missing = [name for name in ("fgsm", "pgd20") if name not in budget.whitebox]
        if missing:
            raise ValueError(
                f"A budget's white-box attacks must include fgsm and pgd20 (the checks compare "
                f"against them). Received: whitebox={budget.whitebox!r}"
            )
        return budget
    return BUDGETS[v.check_choice(budget, BUDGETS, name="budget")]
