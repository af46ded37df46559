"""The threat-model wrapper: puts any Keras classifier into [0, 1] pixels in, logits out.

`wrap(model, input_range=(0, 255), preprocess="keras.applications.resnet50.preprocess_input",
outputs="probs")` returns a `ThreatModel`: attacks perturb and project in [0, 1] pixel space, and
the rescale, the preprocessing and the log of the probabilities all run inside the wrapped model,
so gradients flow through them. The wrapper is a registered Keras model: a saved wrapped model
loads back with `keras.models.load_model` after `import tfls.models`.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from tfls._validation import (
    OUTPUTS,
    check_input_range,
    check_input_shape,
    check_outputs,
    check_probabilities,
    model_classes,
    resolve_function,
    static_input_shape,
)

# log(p) is clipped at the smallest normal float32: log(tiny) = -87.3, finite, with zero gradient.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

__all__ = ["OUTPUTS", "ThreatModel", "check_wrapped_outputs", "options_of", "wrap"]


@keras.saving.register_keras_serializable(package="tfls")
class ThreatModel(keras.Model):
    """Wraps a classifier so that it takes [0, 1] pixels and outputs logits.

    Args:
        inner: the Keras model, as trained: it takes pixels in `input_range` (after
            `preprocess`) and outputs logits or, with `outputs="probs"`, probabilities.
        input_range: `(lo, hi)` the model expects its pixels in; the wrapper computes
            `x * (hi - lo) + lo`. `None`: the model takes [0, 1] pixels.
        preprocess: dotted name of an importable function applied after the rescale, e.g.
            `keras.applications.resnet50.preprocess_input`; stored by name in the config.
        outputs: `"logits"`, or `"probs"` for a model that ends in softmax: the wrapper
            outputs `log(clip(p, float32 tiny, 1))`, log-probabilities, which differ from the
            logits by a per-example constant (same argmax, same margin losses).

    Call arguments:
        x: `[batch, H, W, C]` float pixels in [0, 1].

    Returns:
        Logits `[batch, classes]`.

    Example:
        >>> base = keras.applications.MobileNetV3Small(weights=None, input_shape=(64, 64, 3),
        ...                                           classes=5)
        >>> model = tfls.models.ThreatModel(base, input_range=(0, 255), outputs="probs")
    """

    def __init__(self, inner, *, input_range=None, preprocess=None, outputs="logits", **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.input_range = check_input_range(input_range)
        self.preprocess = None if preprocess is None else str(preprocess).strip()
        self._preprocess_fn = None if preprocess is None else resolve_function(self.preprocess)
        self.outputs_kind = check_outputs(outputs)
        model_classes(inner, name=getattr(inner, "name", "model"))
        shape = static_input_shape(inner)
        if shape is not None:
            self.build(shape)

    def build(self, input_shape):
        if not self.inner.built:
            self.inner.build(input_shape)
        self._check_preprocess(tuple(input_shape))
        self._wrapped_input_shape = tuple(input_shape)
        self.built = True

    def _rescaled(self, x):
        if self.input_range is not None:
            lo, hi = self.input_range
            x = x * (hi - lo) + lo
        return x

    def _check_preprocess(self, input_shape) -> None:
        """Calls `preprocess` once on one image, so that a broken function fails now, in one line.

        Otherwise its error (or a wrong shape or dtype) would surface deep inside the first
        attack's compiled loop, as a many-line trace of TensorFlow frames.
        """
        if self._preprocess_fn is None or any(d is None for d in input_shape[1:]):
            return
        shape = (1, *input_shape[1:])
        lo, hi = self.input_range or (0.0, 1.0)
        where = f"a {shape} float32 batch of pixels in [{lo:g}, {hi:g}]"
        received = f"Received: preprocess={self.preprocess!r}"
        try:
            out = self._preprocess_fn(self._rescaled(keras.ops.full(shape, 0.5, "float32")))
        except Exception as e:  # noqa: BLE001 - the user's function may raise anything
            message = " ".join(str(e).split()) or "no message"
            raise ValueError(
                f"`preprocess` {self.preprocess!r} fails on {where}: {type(e).__name__}: "
                f"{message}. {received}"
            ) from None
        if not (keras.ops.is_tensor(out) or isinstance(out, np.ndarray)):
            raise ValueError(
                f"`preprocess` {self.preprocess!r} must return a tensor of images; on {where} it "
                f"returns {type(out).__name__}. {received}"
            )
        dtype = keras.backend.standardize_dtype(out.dtype)
        if not dtype.startswith(("float", "bfloat")):
            raise ValueError(
                f"`preprocess` {self.preprocess!r} must return floating-point images (gradients "
                f"do not flow through {dtype}); on {where} it returns {dtype}. {received}"
            )
        expected = static_input_shape(self.inner)
        if expected is not None:
            check_input_shape(
                out,
                expected,
                name=f"{self.preprocess}(x)",
                model=getattr(self.inner, "name", "model"),
            )

    def raw_outputs(self, x):
        """The inner model's outputs on `x`, before the log of `outputs="probs"` (for checks)."""
        x = self._rescaled(x)
        if self._preprocess_fn is not None:
            x = self._preprocess_fn(x)
        return self.inner(x, training=False)

    @property
    def input_shape(self):
        shape = getattr(self, "_wrapped_input_shape", None)
        return shape if shape is not None else static_input_shape(self.inner)

    @property
    def output_shape(self):
        return self.inner.output_shape

    def call(self, x, training=False):
        x = self._rescaled(x)
        if self._preprocess_fn is not None:
            x = self._preprocess_fn(x)
        out = self.inner(x, training=training)
        if self.outputs_kind == "probs":
            out = keras.ops.log(keras.ops.clip(out, FLOAT32_TINY, 1.0))
        return out

    def options(self) -> dict:
        """The wrapper's options: what the fingerprint of an evaluation records."""
        return {
            "input_range": None if self.input_range is None else list(self.input_range),
            "preprocess": self.preprocess,
            "outputs": self.outputs_kind,
        }

    def get_config(self):
        return {
            "name": self.name,
            "inner": keras.saving.serialize_keras_object(self.inner),
            **self.options(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["inner"] = keras.saving.deserialize_keras_object(config["inner"])
        return cls(**config)


def wrap(model, *, input_range=None, preprocess=None, outputs="logits", name=None, label=None):
    """`model` as a `ThreatModel`, or `model` itself when no option changes anything.

    With `outputs="probs"` the outputs are first checked to be probabilities (on seeded uniform
    images, when the input shape is static), then a one-line `tfls.TflsWarning` says that
    saturated probabilities mask gradients. Bad options raise a one-line `ValueError` before
    anything is built. `label` is how messages call the model (a file name; default its name).
    """
    if not isinstance(model, keras.layers.Layer):
        raise ValueError(
            f"`model` must be a Keras model (e.g. from tfls.models.load). Received: model={model!r}"
        )
    model_classes(model, name=getattr(model, "name", "model"))
    input_range = check_input_range(input_range)
    if preprocess is not None:
        resolve_function(preprocess)
    outputs = check_outputs(outputs)
    if input_range is None and preprocess is None and outputs == "logits":
        return model
    kwargs = {"name": name or f"wrapped_{model.name}"}
    wrapped = ThreatModel(
        model, input_range=input_range, preprocess=preprocess, outputs=outputs, **kwargs
    )
    if outputs == "probs":
        from tfls import TflsWarning

        shape = static_input_shape(model)
        if shape is not None and all(d is not None for d in tuple(shape)[1:]):
            # A logits model is refused now, in one line, rather than warned about first; a
            # model without a static shape is checked on the first batch (`evaluate`, `audit`).
            probe = np.random.default_rng(0).random((4, *tuple(shape)[1:]), dtype=np.float32)
            check_wrapped_outputs(wrapped, probe, name=label or model.name)
        warnings.warn(
            "--outputs probs: tfls attacks log(probabilities); probabilities that saturate to 0 "
            "or 1 in float32 have zero gradient and mask attacks, so export the logits if you can.",
            TflsWarning,
            stacklevel=2,
        )
    return wrapped


def options_of(model) -> dict:
    """`{"wrapper": options}` for a `ThreatModel`, `{}` otherwise (fingerprints stay unchanged)."""
    return {"wrapper": model.options()} if isinstance(model, ThreatModel) else {}


def check_wrapped_outputs(model, x, *, name: str | None = None) -> None:
    """Refuses a model wrapped with `outputs="probs"` whose inner model outputs no probabilities.

    Run on a first batch `x` before any attack (`tfls.eval.evaluate`, `tfls.audit.audit`): the
    wrapper takes `log` of whatever the inner model outputs, so logits would pass unnoticed.
    Any other model passes.
    """
    if not isinstance(model, ThreatModel) or model.outputs_kind != "probs":
        return
    raw = model.raw_outputs(keras.ops.convert_to_tensor(np.asarray(x[:100])))
    check_probabilities(keras.ops.convert_to_numpy(raw), name=name or model.name)
