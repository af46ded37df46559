"""Tiny models, datasets and attacks shared by the evaluator tests (and their subprocesses)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tests.tiny_models import tiny_conv
from tfls.attacks import FGSM, PGD
from tfls.attacks.base import Attack


def tiny_model(seed=0, input_shape=(8, 8, 1), num_classes=10):
    """The evaluator tests' model: `tiny_models.tiny_conv` with 4 filters."""
    return tiny_conv(input_shape, num_classes, seed=seed, filters=4)


def tiny_data(model, n=60, seed=0, correct=0.7, input_shape=(8, 8, 1)):
    """Random images; a share `correct` of the labels agree with the model (so clean acc > 0)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, *input_shape), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    pred = np.argmax(model(x, training=False), axis=-1).astype(np.int32)
    agree = rng.random(n) < correct
    y[agree] = pred[agree]
    return x, y


def dataset(x, y, batch_size=16):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def deterministic_attacks(model, eps=0.05):
    """FGSM and PGD from the clean point: per-example results do not depend on the batch layout."""
    return {
        "fgsm": FGSM(model, eps=eps),
        "pgd5": PGD(model, eps=eps, steps=5, init="none"),
    }


class NoiseAttack(Attack):
    """Moves every pixel by ±eps (signs fixed by `seed`): a weak attack for bookkeeping tests."""

    def generate(self, x, y):
        sign = tf.sign(tf.random.stateless_normal(tf.shape(x), [self.seed, 7]))
        return tf.clip_by_value(x + self.eps * sign, 0.0, 1.0)


class OutsideBallAttack(Attack):
    """Cheats: a step of 2·eps, never projected back."""

    def generate(self, x, y):
        return tf.clip_by_value(x + 2 * self.eps, 0.0, 1.0)


class OutsideBoxAttack(Attack):
    """Cheats: stays in the ball but leaves [0, 1]."""

    def generate(self, x, y):
        return x + self.eps


class CountingAttack(FGSM):
    """FGSM that counts the examples it is asked to attack (class-level counter)."""

    calls: list[int] = []

    def generate(self, x, y):
        CountingAttack.calls.append(int(tf.shape(x)[0]))
        return super().generate(x, y)


class ReplicaRecordingFGSM(FGSM):
    """FGSM that records which replica ran it (to prove a strategy really shards)."""

    replicas: list[int] = []

    def generate(self, x, y):
        ctx = tf.distribute.get_replica_context()
        ReplicaRecordingFGSM.replicas.append(
            -1 if ctx is None else int(ctx.replica_id_in_sync_group)
        )
        return super().generate(x, y)
