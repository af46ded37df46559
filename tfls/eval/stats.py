"""Confidence intervals for accuracies measured on a finite sample of images."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054  # two-sided 95% quantile of the standard normal


def wilson_interval(successes: int, total: int, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion `successes / total`.

    Unlike the normal ("Wald") interval it stays inside [0, 1] and does not collapse to a point
    at 0% or 100%, which is exactly where robust accuracies of broken defences sit.

    Args:
        successes: number of robust (or correct) images.
        total: number of images evaluated.
        z: normal quantile; the default gives a two-sided 95% interval.

    Returns:
        `(low, high)`; `(0.0, 1.0)` when `total == 0` (nothing is known).

    Example:
        >>> wilson_interval(50, 100)
        (0.4038..., 0.5961...)

    Reference:
        Wilson, "Probable inference, the law of succession, and statistical inference", JASA 1927.
    """
    if isinstance(successes, bool) or isinstance(total, bool):
        raise ValueError(
            f"Counts must be integers. Received: successes={successes!r}, total={total!r}"
        )
    successes, total = int(successes), int(total)
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(
            f"Need 0 <= successes <= total. Received: successes={successes}, total={total}"
        )
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    z2 = z * z
    denom = 1.0 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    # At 0/n and n/n the interval touches 0 resp. 1 exactly; avoid float round-off there.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == total else min(1.0, centre + half)
    return lo, hi
