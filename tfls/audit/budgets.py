"""The audit's budgets (`quick`, `standard`, `thorough`): which checks run and how hard, in one table."""

from __future__ import annotations

from dataclasses import dataclass

from tfls import _validation as v


@dataclass(frozen=True)
class Budget:
    """How much work one audit does.

    Attributes:
        name: the budget's name.
        checks: the checks that run (the others are reported as skipped, the evidence checks
            among them named in the report). Check 8 (and 16) runs in every budget that lists it,
            and only when a surrogate is given.
        whitebox: presets of the main evaluation; with `pgd20` and `fgsm` always in it.
        overrides: per-preset overrides of the main evaluation.
        square_queries: Square's queries per point (check 7; a short run in `quick`).
        noise_draws: uniform draws per point (check 9; ≥ 100, Athalye et al.).
        eps_sweep: check 10 also runs PGD-20 at ε × {¼, ½, 2, 4} (the unbounded run always).
        spread_seeds: runs of the strongest attack with other seeds (check 18).
        trace_steps: steps of the traced PGD run (checks 12 and 18).
        gamma: random neighbours per point for prediction stability (check 13; Pintor: 100).
        integrity_points: points whose gradient is checked against finite differences (15).
        eot: draws per gradient and score of the follow-up attacks on a random model (17).
        jit_compile: XLA setting of every attack (`"auto"` keeps each attack's default; tiny
            models audited many times, as in tests, are faster without XLA).
    """

    name: str
    checks: tuple[int, ...]
    whitebox: tuple[str, ...]
    overrides: dict
    square_queries: int
    noise_draws: int
    eps_sweep: bool
    spread_seeds: int
    trace_steps: int
    gamma: int
    integrity_points: int = 64
    eot: int = 20
    jit_compile: object = "auto"


# The evidence checks (docs/audit.md): a budget that skips one says so in its report.
EVIDENCE = (6, 7, 8, 9, 10, 11, 14, 15, 17)
_QUICK = (1, 2, 3, 4, 5, 6, 7, 10, 13, 15, 17)
_STANDARD = tuple(range(1, 19))

BUDGETS: dict[str, Budget] = {
    "quick": Budget(
        name="quick",
        checks=_QUICK,
        whitebox=("fgsm", "pgd20", "apgd-ce"),
        overrides={},
        square_queries=200,
        noise_draws=0,
        eps_sweep=False,
        spread_seeds=0,
        trace_steps=50,
        gamma=100,
        eot=10,
    ),
    "standard": Budget(
        name="standard",
        checks=_STANDARD,
        whitebox=("fgsm", "pgd20", "apgd-ce", "apgd-dlr", "pgd-cw", "autoattack"),
        overrides={},
        square_queries=1000,
        noise_draws=100,
        eps_sweep=True,
        spread_seeds=3,
        trace_steps=100,
        gamma=100,
        eot=20,
    ),
    "thorough": Budget(
        name="thorough",
        checks=_STANDARD,
        whitebox=("fgsm", "pgd20", "apgd-ce", "apgd-dlr", "pgd-cw", "apgd-t", "autoattack"),
        overrides={"apgd-ce": {"restarts": 5}, "apgd-dlr": {"restarts": 5}},
        square_queries=5000,
        noise_draws=1000,
        eps_sweep=True,
        spread_seeds=5,
        trace_steps=200,
        gamma=100,
        integrity_points=128,
        eot=50,
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
