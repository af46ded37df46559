"""Whether a model is random at inference, and its predictions counted over several draws.

A randomised defence (input noise, random resizing, dropout left on) gives other logits on every
call. Judged on one draw its robust accuracy is a lottery ticket; `tfls.eval.evaluate` therefore
scores such a model over `draws` forward passes per point (`hits`), and its attacks use EOT.
"""

from __future__ import annotations

import numpy as np

# Forward passes `is_random` compares, and the relative logit change that counts as a change
# (well above float32 round-off of a deterministic model run twice).
PASSES = 3
LOGIT_TOL = 1e-5
PROBE = 64  # points of the first batch `is_random` looks at
DEFAULT_DRAWS = 20  # draws per point when a model is found random (AutoAttack's "rand" EOT: 20)


def is_random(model, x) -> bool:
    """True if `PASSES` forward passes of `model` on (up to `PROBE` of) `x` differ.

    A change counts when some logit moves by more than `LOGIT_TOL` of its row's norm.
    """
    xb = np.asarray(x, np.float32)[:PROBE]
    runs = [np.asarray(model(xb, training=False), np.float64) for _ in range(PASSES)]
    scale = np.linalg.norm(runs[0], axis=1, keepdims=True) + 1e-12
    return any(np.abs((r - runs[0]) / scale).max() > LOGIT_TOL for r in runs[1:])


def hits(predict, x, y, draws: int) -> np.ndarray:
    """Per point, in how many of `draws` forward passes `predict(x)` gives the label `y`.

    `predict` maps a batch to logits (one draw per call). Logits that are NaN or inf count as
    wrong (their argmax means nothing). Returns an int32 vector in [0, draws].
    """
    y = np.asarray(y)
    count = np.zeros(len(y), np.int32)
    for _ in range(int(draws)):
        logits = np.asarray(predict(x))
        finite = np.isfinite(logits.reshape(len(y), -1)).all(axis=1)
        count += ((np.argmax(logits, axis=-1) == y) & finite).astype(np.int32)
    return count
