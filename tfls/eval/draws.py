"""Scoring a model that is random at inference: every point over several forward draws.

Judged on one draw, a randomised defence's robust accuracy is a lottery. `evaluate` therefore
scores such a model (found by `tfls.models.randomness.is_random`, or named by `draws=K`) over K
draws: a point's clean score is the share of K draws that classify it correctly, its score under
an attack the share at that attack's adversarial point, never above its clean score (the
attacker may always submit the clean point), and its worst-case score the lowest of these. The
accuracies are the means of the scores, with intervals reflecting both the images and the draws
(`tfls.stats.draws_interval`). A deterministic model is scored as before (K = 1).

Records of such an evaluation carry `draws` and the per-point counts `clean_hits` and
`robust_hits` (out of `draws`); their `clean`/`robust` bits are the majority votes.
"""

from __future__ import annotations

import itertools

import numpy as np

from tfls import _validation as v
from tfls.models import randomness


def resolve(model, dataset, draws, *, model_name: str = "model"):
    """`(K, dataset)`: the draws to score with, and `dataset` ready to be read from the start.

    `draws=None` asks `randomness.is_random`: `randomness.DEFAULT_DRAWS` for a random model, else
    1. Randomness is the model's, so it is probed on seeded uniform images of the model's input
    shape when that is static (the data is not read twice); otherwise on the first batch, and a
    one-shot iterator read that way is given back whole.
    """
    if draws is not None:
        return v.check_positive_int(draws, name="draws"), dataset
    shape = v.static_input_shape(model)
    if shape is not None and all(d is not None for d in tuple(shape)[1:]):
        probe = np.random.default_rng(0).random((8, *tuple(shape)[1:]), dtype=np.float32)
        return _draws_for(model, probe), dataset
    iterator = iter(dataset)
    if iterator is dataset:  # one-shot: keep what was read
        try:
            first = next(iterator)
        except StopIteration:
            return 1, dataset
        dataset = itertools.chain([first], iterator)
    else:
        first = next(iterator, None)
        if first is None:
            return 1, dataset
    x = np.asarray(first[0]) if isinstance(first, (tuple, list)) and len(first) == 2 else None
    if x is None or not len(x):
        return 1, dataset  # the evaluation's own reading refuses it, naming what is wrong
    v.check_model_input(model, x, model_name=model_name)
    return _draws_for(model, x), dataset


def _draws_for(model, x) -> int:
    return randomness.DEFAULT_DRAWS if randomness.is_random(model, x) else 1


def majority(hits: np.ndarray, draws: int) -> np.ndarray:
    """The per-point vote: correct in more than half of the draws."""
    return 2 * np.asarray(hits) > int(draws)


def encode(hits) -> list[int]:
    return [int(h) for h in np.asarray(hits).ravel()]


def decode(values) -> np.ndarray:
    return np.asarray(values, np.int64)
