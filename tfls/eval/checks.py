"""The evaluator's cheap gradient-masking checks (1, 2, 4, 6, 7), computed by `tfls.audit`'s own.

`tfls.eval.evaluate` runs checks 1, 2 and 4 on the first batch, and check 6 (FGSM breaks what PGD
misses) and 7 (Square breaks what every gradient attack misses) over the whole evaluation from
per-batch counts (memory stays constant). The check functions and thresholds are those of
`tfls.audit` (imported lazily: the audit itself evaluates through `tfls.eval`). A check that fires
is reported in `Report.checks` and raised as one `tfls.TflsWarning` line.
"""

from __future__ import annotations

import warnings

import numpy as np

from tfls.eval.store import decode_bits

# Attack classes for checks 6 and 7 (by class, so any preset or label is recognised). AutoAttack
# is left out of the gradient attacks: its ensemble already contains Square.
SINGLE_STEP = ("FGSM",)
ITERATIVE = ("PGD",)
BLACKBOX = ("Square",)
GRADIENT = (
    "FGSM",
    "PGD",
    "APGD",
    "MultiTargeted",
    "ODI",
    "CarliniWagnerL2",
    "FAB",
    "TanhLinf",
)
CHECK_KEYS = ("id", "title", "status", "summary", "numbers", "advice")


SAMPLE = 100  # points of the first batch the model-level checks look at


def model_checks(model, x, y) -> list:
    """Checks 1, 2 and 4 on the first `SAMPLE` points: `tfls.audit`'s functions, unchanged.

    Check 1 passes here unless the last layer is a softmax: `evaluate` already refuses outputs
    that are probabilities by value, before any work.
    """
    from tfls.audit import model_checks as mc

    x, y = np.asarray(x)[:SAMPLE], np.asarray(y)[:SAMPLE]
    probability, _ = mc.probability_outputs(model, x)
    clean = np.argmax(np.asarray(model(x, training=False)), axis=-1) == y
    return [probability, mc.randomness(model, x), mc.gradient_availability(model, x, y, clean)]


class Comparisons:
    """Counts, batch by batch, the points one group of attacks breaks and another misses.

    For check 6: points FGSM breaks and every PGD attack misses; for check 7: points Square breaks
    and every gradient attack misses. Only counts are kept. With `individual=False` a comparison
    is exact only when the breaking attack runs after every attack it is compared with (later
    attacks skip the points it broke and count them as robust); otherwise it is skipped.
    """

    def __init__(self, attacks: dict, *, individual: bool):
        classes = {name: type(a).__name__ for name, a in attacks.items()}
        order = list(attacks)

        def named(kinds):
            return [name for name, kind in classes.items() if kind in kinds]

        self.plans: dict[int, tuple[list[str], list[str], str | None]] = {}
        fgsm, pgd = named(SINGLE_STEP), named(ITERATIVE)
        square = named(BLACKBOX)
        gradient = named(GRADIENT)
        for check_id, breakers, against in ((6, fgsm, pgd), (7, square, gradient)):
            if not breakers or not against:
                continue
            reason = None
            if not individual and max(order.index(a) for a in against) > min(
                order.index(b) for b in breakers
            ):
                reason = (
                    f"individual=False and {', '.join(breakers)} runs before "
                    f"{', '.join(against)}: those skip the points it broke"
                )
            self.plans[check_id] = (breakers, against, reason)
        self.images = 0
        self.counts = {k: {"only": 0, "breakers": 0, "against": 0} for k in self.plans}

    def add(self, record: dict) -> None:
        clean = decode_bits(record["clean"])
        robust = {name: decode_bits(bits) for name, bits in record["robust"].items()}
        self.images += int(record["n"])
        for check_id, (breakers, against, _) in self.plans.items():
            robust_breakers, robust_against = clean.copy(), clean.copy()
            for name in breakers:
                robust_breakers &= robust[name]
            for name in against:
                robust_against &= robust[name]
            counts = self.counts[check_id]
            counts["only"] += int((robust_against & ~robust_breakers).sum())
            counts["breakers"] += int(robust_breakers.sum())
            counts["against"] += int(robust_against.sum())

    def results(self) -> list:
        """Checks 6 and 7 over the batches added so far (the suite's, when it has the attacks)."""
        from tfls.audit import attack_checks as ac
        from tfls.audit.result import CheckResult

        out = []
        n = self.images
        for check_id, (breakers, against, reason) in sorted(self.plans.items()):
            counts = self.counts[check_id]
            title = "Single-step beats iterative" if check_id == 6 else ac.BLACKBOX_TITLE
            if reason is not None or n == 0:
                out.append(CheckResult(check_id, title, "skipped", reason or "no images"))
                continue
            acc_breakers, acc_against = counts["breakers"] / n, counts["against"] / n
            if check_id == 6:
                result = ac.single_step_result(
                    n,
                    fgsm=acc_breakers,
                    pgd=acc_against,
                    only=counts["only"],
                    pgd_name="+".join(against),
                )
            else:
                result = ac.beats_whitebox_result(
                    7,
                    title,
                    ac.BLACKBOX_SOURCE,
                    "+".join(breakers),
                    n,
                    other=acc_breakers,
                    whitebox=acc_against,
                    only=counts["only"],
                    advice=ac.BLACKBOX_ADVICE,
                )
            out.append(result)
        return out


def summarise(result) -> dict:
    """The part of a `CheckResult` a `Report` keeps: id, title, status, summary, numbers, advice."""
    d = result.to_dict()
    return {k: d[k] for k in CHECK_KEYS}


def warning_line(check: dict) -> str:
    """One line: check id and title, status, what was found, the numbers and what to do."""
    numbers = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in check["numbers"].items()
    )
    line = f"check {check['id']} ({check['title']}) {check['status']}: {check['summary']}"
    if numbers:
        line += f" [{numbers}]"
    if check.get("advice"):
        line += f". {check['advice']}"
    return " ".join(line.split())


def warn(checks: list[dict]) -> None:
    """Raises one `tfls.TflsWarning` per check that fired (`warn` or `fail`)."""
    from tfls import TflsWarning

    for check in checks:
        if check["status"] in ("warn", "fail"):
            warnings.warn(warning_line(check), TflsWarning, stacklevel=3)
