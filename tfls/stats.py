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


# -- paired comparisons of two attacks (or two models) on the same images ---------------------


def binomial_greater(successes: int, trials: int, p0: float) -> float:
    """One-sided exact binomial p-value, P(X ≥ successes) for X ~ Binomial(trials, p0).

    1.0 when `trials` is 0 (nothing observed, nothing shown).
    """
    from scipy.stats import binomtest

    successes, trials = int(successes), int(trials)
    if trials == 0:
        return 1.0
    return float(binomtest(successes, trials, p0, alternative="greater").pvalue)


def mcnemar_greater(b: int, c: int) -> float:
    """Exact one-sided McNemar p-value that A beats B on paired outcomes.

    `b`: images A breaks and B does not; `c`: the reverse. Under H0 (A no stronger than B) each
    discordant image is A's with probability ½, so p = P(X ≥ b), X ~ Binomial(b + c, ½).

    Example:
        >>> mcnemar_greater(5, 0)  # 5 disagreements, all one way: 1/32
        0.03125

    Reference:
        McNemar, Psychometrika 1947 (the exact, conditional form).
    """
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"`{name}` must be a count >= 0. Received: {name}={value!r}")
    return binomial_greater(b, int(b) + int(c), 0.5)


def holm(p_values: dict) -> dict:
    """Holm's step-down adjustment of a family of p-values: `{name: adjusted p}`.

    Rejecting where the adjusted p is below α controls the family-wise error rate at α.

    Reference:
        Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Stat. 1979.
    """
    items = sorted(p_values.items(), key=lambda kv: kv[1])
    m = len(items)
    adjusted, running = {}, 0.0
    for rank, (name, p) in enumerate(items):
        running = max(running, min(1.0, (m - rank) * float(p)))
        adjusted[name] = running
    return adjusted


def paired_difference_interval(
    b: int, c: int, n: int, *, both: int | None = None, z: float = Z_95
) -> tuple[float, float]:
    """95% interval of p₁ − p₂, two proportions measured on the same `n` images.

    `b`: images with outcome 1 only (robust to the first attack, broken by the second), `c`:
    outcome 2 only, `both`: both outcomes (default: `n − b − c`, i.e. none with neither; pass it
    when known). The difference is (b − c)/n. Newcombe's hybrid score interval (his method 10),
    built from the two marginal Wilson intervals and the φ correlation of the pairs.

    Reference:
        Newcombe, "Improved confidence intervals for the difference between binomial
        proportions based on paired data", Statistics in Medicine 1998.
    """
    n = int(n)
    if n == 0:
        return -1.0, 1.0
    b, c = int(b), int(c)
    a = n - b - c if both is None else int(both)  # outcome 1 and 2
    d = n - a - b - c  # neither
    if min(a, b, c, d) < 0:
        raise ValueError(f"Need b + c + both <= n. Received: b={b}, c={c}, both={both}, n={n}")
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, z=z)
    l2, u2 = wilson_interval(a + c, n, z=z)
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    if denominator == 0:
        phi = 0.0
    else:
        cross = a * d - b * c
        if cross > 0:  # Newcombe's continuity correction of φ
            cross = max(cross - n / 2, 0.0)
        phi = cross / math.sqrt(denominator)
    theta = p1 - p2
    lower = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    upper = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return max(-1.0, theta - lower), min(1.0, theta + upper)


def smallest_detectable_share(trials: int, p0: float, *, alpha: float, power: float = 0.8):
    """The smallest true share q > p0 that a one-sided exact binomial test at level `alpha`
    detects with probability `power` on `trials` observations, or None when even q = 1 is not
    detected (too few observations to find anything)."""
    from scipy.stats import binom

    trials = int(trials)
    if trials == 0:
        return None
    # The critical count: the smallest k with P(X ≥ k | p0) ≤ alpha.
    k = int(binom.isf(alpha, trials, p0)) + 1
    while k > 0 and binom.sf(k - 2, trials, p0) <= alpha:
        k -= 1
    if k > trials or binom.sf(k - 1, trials, p0) > alpha:
        return None
    if binom.sf(k - 1, trials, 1.0) < power:
        return None
    lo, hi = float(p0), 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if binom.sf(k - 1, trials, mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi
