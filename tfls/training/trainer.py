"""`AdversarialTrainer`: a `keras.Model` wrapping a network with a natural / Madry / TRADES step.

`model.fit` does the rest: the distribution strategy (each replica runs `train_step` on its share
of the global batch; Keras losses divide by the replica count, the optimizer all-reduces the
gradients), callbacks, the progress bar. Only the wrapped `network` is saved as the trained model.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfls.training import methods
from tfls.training.schedules import make_optimizer


class AdversarialTrainer(keras.Model):
    """Trains `network` with one of the methods of `tfls.training.methods`.

    Args:
        network: Keras model from [0, 1] inputs to logits.
        method: `"natural"`, `"madry"` or `"trades"`.
        num_classes: number of classes (labels are int indices, one-hot encoded here).
        label_smoothing: α of the (outer) cross-entropy.
        eps, attack_steps, attack_step_size: the inner maximisation (madry / trades).
        trades_beta: TRADES' β.
        seed: seeds the inner attacks' random starts, per optimizer step and replica.

    Example:
        >>> trainer = AdversarialTrainer(net, method="madry", num_classes=10, eps=8 / 255)
        >>> trainer.compile(optimizer="sgd")
        >>> trainer.fit(train_ds, epochs=1)
    """

    def __init__(
        self,
        network,
        *,
        method="natural",
        num_classes,
        label_smoothing=0.0,
        eps=8 / 255,
        attack_steps=10,
        attack_step_size=2 / 255,
        trades_beta=6.0,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.network = network
        self.method = method
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        self.eps = float(eps)
        self.attack_steps = int(attack_steps)
        self.attack_step_size = float(attack_step_size)
        self.trades_beta = float(trades_beta)
        self.seed = int(seed)
        self.ce = keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=self.label_smoothing
        )
        self.kl = methods.TradesKL()
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    def call(self, x, training=False):
        return self.network(x, training=training)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 peeks at the first batch and reduces the whole (x, y) tuple in one
        # `strategy.reduce`, which MultiWorkerMirroredStrategy refuses. `build_trainer` has built
        # the network and the optimizer already and there are no compiled metrics, so nothing is
        # left to build symbolically.
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_metric]

    def _step_seed(self):
        """A stateless seed per optimizer step and replica (so the same across resumes)."""
        replica = tf.distribute.get_replica_context()
        replica_id = 0 if replica is None else replica.replica_id_in_sync_group
        replica_id = tf.cast(replica_id, tf.int32)
        step = tf.cast(self.optimizer.iterations % (2**31 - 1), tf.int32)
        return tf.stack([self.seed + 1_000_003 * replica_id, step])

    def adversarial_examples(self, x, y):
        """The inner maximisation's examples (or `x` for natural training)."""
        attack = {"eps": self.eps, "steps": self.attack_steps, "step_size": self.attack_step_size}
        if self.method == "madry":
            return methods.madry_examples(self.network, x, y, seed=self._step_seed(), **attack)
        if self.method == "trades":
            return methods.trades_examples(self.network, x, seed=self._step_seed(), **attack)
        return x

    def _logs(self):
        logs = {m.name: m.result() for m in self.metrics}
        strategy = tf.distribute.get_strategy()
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces logs with `strategy.reduce("MEAN", v, axis=0)` under this
            # strategy, which needs a batch axis: give each replica's scalar one.
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def train_step(self, data):
        x, y = data[0], data[1]
        x = tf.cast(x, tf.float32)
        y = tf.cast(y, tf.int32)
        x_adv = self.adversarial_examples(x, y)
        with tf.GradientTape() as tape:
            loss, logits = methods.training_loss(
                self.method,
                self.network,
                x,
                y,
                x_adv,
                num_classes=self.num_classes,
                ce=self.ce,
                kl=self.kl,
                beta=self.trades_beta,
            )
            if self.network.losses:
                # Layer regularisers: per-replica sums, so divide like Keras' own losses.
                replicas = tf.distribute.get_strategy().num_replicas_in_sync
                loss += tf.add_n(self.network.losses) / replicas
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(loss * replicas, sample_weight=tf.shape(x)[0])
        self.accuracy_metric.update_state(y, logits)
        return self._logs()

    def test_step(self, data):
        x, y = data[0], data[1]
        logits = self.network(tf.cast(x, tf.float32), training=False)
        onehot = tf.one_hot(tf.cast(y, tf.int32), self.num_classes)
        loss = self.ce(onehot, logits)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(loss * replicas, sample_weight=tf.shape(x)[0])
        self.accuracy_metric.update_state(y, logits)
        return self._logs()


def build_trainer(network, config, *, num_classes: int, steps_per_epoch: int) -> AdversarialTrainer:
    """An `AdversarialTrainer` for a resolved `TrainConfig`, compiled with the config's optimizer.

    Call inside the strategy's scope (with `network` built there too). The optimizer is built
    right away, so its state can be restored from a checkpoint before the first step.
    """
    trainer = AdversarialTrainer(
        network,
        method=config.method,
        num_classes=num_classes,
        label_smoothing=config.label_smoothing,
        eps=config.eps,
        attack_steps=config.attack_steps,
        attack_step_size=config.attack_step_size,
        trades_beta=config.trades_beta,
        seed=config.seed,
    )
    if not network.built or not network.inputs:
        raise ValueError(
            "`network` must be built with a known input shape before training. "
            f"Received: {network!r}"
        )
    # Build the wrapper on a symbolic batch (no data, no collective op).
    trainer.build(tuple(network.inputs[0].shape))
    optimizer = make_optimizer(config, steps_per_epoch)
    optimizer.build(network.trainable_variables)
    # "auto" keeps XLA off on CPU-only machines (Keras' rule), on where an accelerator exists.
    trainer.compile(optimizer=optimizer, jit_compile="auto")
    return trainer
