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

from tfls.eval.record_format import decode_bits

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
CHECK_KEYS = ("id", "title", "status", "summary", "numbers", "advice", "p_adjusted", "test")


SAMPLE = 100  # points of the first batch the model-level checks look at


def model_checks(model, x, y) -> list:
    """Checks 1, 2 and 4 on the first `SAMPLE` points: `tfls.audit`'s functions, unchanged.

    Check 1 passes here unless the last layer is a softmax: `evaluate` already refuses outputs
    that are probabilities by value, before any work.
    """
    from tfls.checks import model_checks as mc

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
        self.counts = {
            k: {"only": 0, "reverse": 0, "breakers": 0, "against": 0} for k in self.plans
        }

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
            counts["reverse"] += int((robust_breakers & ~robust_against).sum())
            counts["breakers"] += int(robust_breakers.sum())
            counts["against"] += int(robust_against.sum())

    def results(self) -> list:
        """Checks 6 and 7 over the batches added so far, each an exact one-sided McNemar test
        (the audit's own, `tfls.checks.comparisons.compared`), Holm-corrected between them."""
        from tfls.checks import comparisons as cmp
        from tfls.checks import thresholds as th
        from tfls.checks.result import CheckResult
        from tfls.stats import holm

        out = []
        n = self.images
        for check_id, (breakers, against, reason) in sorted(self.plans.items()):
            counts = self.counts[check_id]
            title = "Single-step beats iterative" if check_id == 6 else cmp.BLACKBOX_TITLE
            if reason is not None or n == 0:
                out.append(CheckResult(check_id, title, "skipped", reason or "no images"))
                continue
            a, b_label = "+".join(breakers), "+".join(against)
            single = check_id == 6
            out.append(
                cmp.compared(
                    check_id,
                    title,
                    a=a,
                    b_label=b_label,
                    b=counts["only"],
                    c=counts["reverse"],
                    n=n,
                    source=cmp.ATHALYE + " (sign 1)" if single else cmp.BLACKBOX_SOURCE,
                    advice="Iterative attacks get stuck (masked or noisy gradients): use "
                    "restarts, margin losses and APGD; report the worst case."
                    if single
                    else cmp.BLACKBOX_ADVICE,
                    accuracies={a: counts["breakers"] / n, b_label: counts["against"] / n},
                )
            )
        tested = {c.id: c.p_value for c in out if c.p_value is not None}
        for c in out:
            if c.p_value is not None:
                c.p_adjusted = holm(tested)[c.id]
                c.status = "fail" if c.p_adjusted < th.ALPHA else "ok"
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
