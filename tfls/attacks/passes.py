"""Counting an attack's cost in model passes: the images it sends forward and backward.

Every attack calls its model through `counted(...)` (`Attack.adapted`), which adds each call's
batch size to the model's forward counter and, when a gradient flows back through that call to
the input, to its backward counter (one EOT draw is one pass). The counters live on the attacked
model, so every attack on it, every component of AutoAttack and every EOT draw adds to the same
two numbers, and a cost is the difference of two readings (`read`) around the work; the
evaluator records that difference per attack and batch (`tfls.eval.scoring`). Passes count work
on any hardware: they are the unit in which Croce & Hein (2020), Liu et al. (2022, A3) and
Melamed et al. (2024, MALT) compare AutoAttack's cost.

The counters are `tf.Variable`s (int64, synchronised on read with SUM aggregation), so counting
works in eager code, in compiled loops (graph or XLA), in `tf.while_loop` bodies and under a
`tf.distribute` strategy, where a reading sums every replica of every worker.
"""

from __future__ import annotations

import tensorflow as tf

from tfls.attacks.adaptive import Drawn, View


class Counter:
    """The forward and backward pass counters of one model, and `escalated`: the points a cheap
    attack sent on to its full fallback itself (`tfls.attacks.autoattack_fast`'s probe)."""

    def __init__(self):
        def variable(name):
            return tf.Variable(
                0,
                dtype=tf.int64,
                trainable=False,
                name=name,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.SUM,
            )

        with tf.init_scope():
            self.forward = variable("tfls_forward_passes")
            self.backward = variable("tfls_backward_passes")
            self.escalated = variable("tfls_escalated_points")

    def through(self, x):
        """`x` unchanged, counting one forward pass of its batch now and one backward pass of it
        whenever a gradient is taken back through it."""
        n = tf.cast(tf.shape(x)[0], tf.int64)
        backward = self.backward

        @tf.custom_gradient
        def counted(t):
            def grad(dy):
                with tf.control_dependencies([backward.assign_add(n)]):
                    return tf.identity(dy)

            return tf.identity(t), grad

        with tf.control_dependencies([self.forward.assign_add(n)]):
            return counted(x)

    def read(self) -> tuple[int, int]:
        return int(self.forward.read_value()), int(self.backward.read_value())


def counter(model) -> Counter:
    """The pass counters of `model`, created on first use and kept on the model object (outside
    Keras' attribute tracking, so they are never saved with it)."""
    held = model.__dict__.get("_tfls_passes")
    if held is None:
        held = Counter()
        object.__setattr__(model, "_tfls_passes", held)
    return held


def escalated(model) -> int:
    """The points attacks on `model` have sent on to full AutoAttack themselves so far."""
    return int(counter(model).escalated.read_value())


def read(model) -> tuple[int, int]:
    """`(forward, backward)`: the images every attack on `model` has sent through it so far."""
    return counter(model).read()


class Counted(View):
    """`inner` (the model, or its `tfls.attacks.adaptive.Adapted` view) with each call counted
    on `model`'s counters; it is what an attack's pure function is given.

    Compiled attack loops are cached on this object (`tfls.attacks.compiling.compiled`); the
    plain view of a model is shared by every attack on it (`counted`), so they share traces.
    """

    def __init__(self, inner, model):
        self.inner = inner
        self.model = model
        self.counter = counter(model)
        self.eot = inner.eot if isinstance(inner, Drawn) else 1

    def __call__(self, x, training=False):
        return self.inner(self.counter.through(x), training=training)

    def __repr__(self) -> str:
        return f"Counted({self.inner!r})"


def counted(inner, model) -> Counted:
    """`inner` counted on `model`: for the plain model (`inner is model`) one shared view."""
    if inner is not model:
        return Counted(inner, model)
    held = model.__dict__.get("_tfls_counted")
    if held is None:
        held = Counted(model, model)
        object.__setattr__(model, "_tfls_counted", held)
    return held
