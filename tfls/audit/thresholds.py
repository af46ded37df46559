"""Every threshold of the audit in one place, each with its source (or "ours", see docs/audit.md)."""

from __future__ import annotations

import math

# 2: AutoAttack `is_randomized`: L2-normalised logits may move at most this much between passes.
RANDOMNESS_LOGIT_TOL = 1e-4
RANDOMNESS_PASSES = 5
# 5 (ours): a mean top-1 − top-2 margin below this is label-smoothing-like (α = 0.9 on ten
# classes gives 0.75); a logit spread above this saturates float32 softmax (exp(-88) underflows).
SMALL_MARGIN = 1.0
LARGE_RANGE = 80.0
# 7, 8, 9: AutoAttack `check_square_sr`: a black-box attack beating the white-box ones by more than
# 0.2 points of accuracy (we count points, so at least one point more than that).
BLACKBOX_POINTS = 0.2
# 6, 10, 11, 14, 3 (Carlini et al. 2019: "more than 1 point"): differences of at most 1 point of
# accuracy (and at most one image) are noise.
ITERATIVE_POINTS = 1.0
# 11: Pintor et al. 2022, incomplete optimisation: the best-so-far loss, rescaled to [0, 1], still
# moves more than this over the last 10 steps.
INCOMPLETE_MOVE = 0.05
INCOMPLETE_WINDOW = 10
# 12: an iterate counts as adversarial when another logit beats the true one by this much (in
# logit units), so float round-off at the decision boundary is not reported as an engine bug.
SILENT_MARGIN = 1e-4
# 13: Pintor et al. 2022, unstable predictions: mean relative loss change over γ uniform neighbours
# in ±ε/2 (capped at 1 per point, as Pintor's code caps the metric). Threshold ours.
UNSTABLE_RELATIVE = 0.1
# 8 and every evidence check: a one-sided p-value below this is significant before the verdict's
# Holm correction across the audit's evidence checks (the usual 5% level).
LEVEL = 0.05
# 16 (ours): Pintor et al. 2022 define transfer failure (the surrogate's adversarial point does
# not fool the target) but give no threshold. Above one half, most of what the transfer attack
# finds on the surrogate does not carry over, so a check 8 that finds nothing is weak evidence of
# no masking. PGD-20 transfers poorly even between two natural networks of one task (measured
# here: 86-96% on Fashion-MNIST cnn4 pairs at ε = 0.05-0.2, 92% on CIFAR-10 small-cnn pairs at
# 8/255), so this warning is common; it says what check 8 is worth and never decides the verdict.
TRANSFER_FAILURE = 0.5
# Verdict (the issue): the strongest white-box attack at most half of PGD-20 is masking evidence,
# but a gap of at most this many points (APGD finding 1–3 points more) is normal.
NORMAL_GAP_POINTS = 3.0


def allowed(n: int, points: float) -> int:
    """How many images a difference may hold before it counts: `points`% of `n`, at least one."""
    return max(1, int(math.floor(points / 100.0 * n)))
