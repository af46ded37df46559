"""Confidence intervals for accuracies measured on a finite sample of images."""

from __future__ import annotations

import math
import numbers

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


def proportion_interval(p: float, total: float, *, z: float = Z_95) -> tuple[float, float]:
    """The Wilson interval of a proportion `p` observed on a (possibly fractional) `total`."""
    if total <= 0:
        return 0.0, 1.0
    p = min(max(float(p), 0.0), 1.0)
    z2 = z * z
    denom = 1.0 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    lo = 0.0 if p == 0.0 else max(0.0, centre - half)
    hi = 1.0 if p == 1.0 else min(1.0, centre + half)
    return lo, hi


def draws_interval(
    total: float, total_sq: float, images: int, draws: int, *, z: float = Z_95
) -> tuple[float, float]:
    """95% interval of the mean of per-image scores, each the share of `draws` draws correct.

    For a model random at inference an image's score s_i ∈ [0, 1] is itself an estimate, so the
    uncertainty of the mean has two sources: which images were drawn, and which draws. Both are
    in the spread of the s_i: the interval is Wilson's for the mean p = Σs_i/n with the effective
    sample size n_eff = p(1 − p) / Var̂(mean), Var̂(mean) = s²/n (Kish's design effect for
    clustered binary outcomes), kept within [n, n·draws]: between one observation per image
    (draws that all agree) and independent draws. With `draws=1` it is `wilson_interval`.

    Args:
        total: Σ s_i over the images. total_sq: Σ s_i². images: n. draws: draws per image.

    Reference:
        Kish, "Survey Sampling", 1965 (design effect); Wilson, JASA 1927.
    """
    n = int(images)
    if n == 0:
        return 0.0, 1.0
    p = total / n
    most = float(n * max(int(draws), 1))
    if n == 1:
        return proportion_interval(p, most if p in (0.0, 1.0) else 1.0, z=z)
    variance = max(total_sq - n * p * p, 0.0) / (n - 1)  # sample variance of the s_i
    if variance <= 0.0 or p in (0.0, 1.0):
        effective = most
    else:
        effective = min(max(p * (1 - p) * n / variance, float(n)), most)
    return proportion_interval(p, effective, z=z)


def mcnemar_greater(b: int, c: int) -> float:
    """Exact one-sided McNemar p-value that `b` discordant points outnumber `c` by chance.

    Of the points two procedures disagree on, `b` go one way (e.g. attack A breaks the point and
    B does not) and `c` the other. Under the null hypothesis each disagreement is a fair coin,
    so `b ~ Binomial(b + c, 1/2)`; the p-value is P(X ≥ b). Nothing to compare (`b + c == 0`)
    gives 1.

    Args:
        b: discordant points in the direction tested. c: those in the other direction.

    Returns:
        The one-sided p-value in (0, 1].

    Example:
        >>> mcnemar_greater(5, 0)  # 5 disagreements, all one way: 1/32
        0.03125

    Reference:
        McNemar, "Note on the sampling error of the difference between correlated proportions or
        percentages", Psychometrika 1947 (its exact, binomial form).
    """
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"`{name}` must be a count >= 0. Received: {name}={value!r}")
    b, c = int(b), int(c)
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(b, b + c, 0.5, alternative="greater").pvalue)
