"""The adversarial points of an evaluation, crafted again exactly as `evaluate` crafted them.

`evaluate` keeps one bit per point and attack, never the points. A caller that needs the points
themselves (the audit's transfer failure: is the point crafted on a surrogate adversarial *on
the surrogate*?) replays the attack here: batch by batch, the points the model classifies
correctly are attacked together through `tfls.eval.scoring.craft`, as a batch-major evaluation
with `individual=True` attacks them. A deterministic attack on a deterministic model therefore
returns the very points the evaluation scored (random starts are drawn per attacked sub-batch,
so the sub-batches must be the same ones, not just the same points).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from tfls.eval.scoring import craft, predict_clean, predictor


def adversarial_batches(
    model, batches: Iterable, attack, *, name: str = "attack", strategy=None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yields `(x_adv, logits, attacked)` per batch of `batches`, as `evaluate` would attack it.

    Args:
        model: the evaluated model (it decides which points are attacked, and scores them).
        batches: iterable of `(images, labels)` numpy batches, the evaluation's own batching.
        attack: one `tfls.attacks.Attack`, built as the evaluation built it (same seed, same
            overrides; for a transfer attack, the same source model).
        name: the attack's label, for the threat-model error message.
        strategy: the evaluation's `tf.distribute.Strategy`, or None.

    Yields:
        `x_adv` (the batch with its attacked points replaced by the attack's), `logits` (the
        model's at `x_adv`) and `attacked` (bool, the points the model classifies correctly
        clean, which are the ones attacked).

    Example:
        >>> attack = tfls.attacks.suite(model, "pgd20", eps=0.03)["pgd20"]
        >>> for x_adv, logits, attacked in adversarial_batches(model, [(x, y)], attack):
        ...     surrogate_predictions = np.argmax(surrogate(x_adv), -1)
    """
    predict = predictor(model)
    for x, y in batches:
        x, y = np.asarray(x), np.asarray(y)
        attacked = predict_clean(model, x, y, predict=predict, strategy=strategy)
        x_adv = np.array(x, dtype=np.float32, copy=True)
        targets = np.flatnonzero(attacked)
        if targets.size:
            crafted, _ = craft(
                name,
                attack,
                x[targets],
                y[targets],
                model=model,
                predict=predict,
                strategy=strategy,
            )
            x_adv[targets] = crafted
        yield x_adv, np.asarray(predict(x_adv)), attacked
