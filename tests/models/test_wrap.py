"""`tfls.models.wrap`: rescale, preprocessing and log-probabilities inside a registered model."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from tfls import TflsWarning
from tfls.models import ThreatModel, wrap
from tfls.models.wrap import FLOAT32_TINY


def mean_pixels(shape=(4, 4, 3)):
    """A 'classifier' whose outputs are the mean of each channel: rescaling is visible."""
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))


def softmax_model(shape=(4, 4, 3), classes=3):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


def test_input_range_rescales_inside_the_model():
    x = np.full((2, 4, 4, 3), 0.5, np.float32)
    x[1] = 1.0
    out = np.asarray(ThreatModel(mean_pixels(), input_range=(-1, 1))(x))
    np.testing.assert_allclose(out, [[0, 0, 0], [1, 1, 1]], atol=1e-6)
    out = np.asarray(ThreatModel(mean_pixels(), input_range="0,255")(x))
    np.testing.assert_allclose(out, [[127.5] * 3, [255] * 3], rtol=1e-6)


def test_preprocess_runs_after_the_rescale():
    x = np.full((1, 4, 4, 3), 1.0, np.float32)
    model = ThreatModel(
        mean_pixels(),
        input_range=(0, 255),
        preprocess="keras.applications.resnet50.preprocess_input",
    )
    # caffe mode: RGB -> BGR, minus the ImageNet channel means (103.939, 116.779, 123.68).
    np.testing.assert_allclose(
        np.asarray(model(x))[0], [255 - 103.939, 255 - 116.779, 255 - 123.68], rtol=1e-5
    )


def test_probs_become_log_probabilities_clipped_at_float32_tiny():
    inner = softmax_model()
    x = np.random.default_rng(0).random((5, 4, 4, 3), dtype=np.float32)
    with pytest.warns(TflsWarning, match="saturate"):
        model = wrap(inner, outputs="probs")
    np.testing.assert_allclose(np.exp(np.asarray(model(x))), np.asarray(inner(x)), rtol=1e-5)
    zero = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t * 0.0)])
    out = np.asarray(ThreatModel(zero, outputs="probs")(np.ones((1, 2), np.float32)))
    np.testing.assert_allclose(out, np.log(FLOAT32_TINY), rtol=1e-6)
    assert np.isfinite(out).all()


def test_no_option_returns_the_model_itself():
    model = mean_pixels()
    assert wrap(model) is model


def test_saved_wrapped_model_round_trips(tmp_path):
    inner = softmax_model()
    model = ThreatModel(
        inner,
        input_range=(0, 255),
        preprocess="keras.applications.mobilenet_v3.preprocess_input",
        outputs="probs",
    )
    x = np.random.default_rng(1).random((3, 4, 4, 3), dtype=np.float32)
    model.save(tmp_path / "w.keras")
    loaded = keras.models.load_model(tmp_path / "w.keras")
    assert isinstance(loaded, ThreatModel) and loaded.options() == model.options()
    assert loaded.options()["preprocess"] == "keras.applications.mobilenet_v3.preprocess_input"
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)
    assert loaded.input_shape == (None, 4, 4, 3) and loaded.output_shape == (None, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_range": "5,1"}, "Received: input_range='5,1'"),
        ({"input_range": (0, float("inf"))}, "lo < hi"),
        ({"input_range": "0-255"}, "Received: input_range='0-255'"),
        ({"preprocess": "no_such_module.preprocess"}, "cannot be imported"),
        ({"preprocess": "keras.applications.resnet50.no_such_function"}, "cannot be imported"),
        ({"preprocess": "keras.applications.resnet50"}, "must name a callable"),
        ({"preprocess": "preprocess_input"}, "dotted name"),
        ({"outputs": "softmax"}, "Received: outputs='softmax'"),
    ],
)
def test_bad_options_are_one_line(kwargs, message):
    with pytest.raises(ValueError, match="Received") as info:
        wrap(mean_pixels(), **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_softmax_model_is_refused_naming_the_option():
    import tfls.attacks

    x = np.random.default_rng(0).random((4, 4, 4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="--outputs probs"):
        tfls.attacks.suite(softmax_model(), ["fgsm"], eps=0.1)["fgsm"](x, np.zeros(4, np.int32))


def test_audit_check_1_flags_a_wrapped_probability_model_and_reuses_the_wrapper():
    from tfls.checks import model_checks as mc

    x = np.random.default_rng(0).random((6, 4, 4, 3), dtype=np.float32)
    inner = softmax_model()
    wrapped = ThreatModel(inner, outputs="probs")
    for model in (inner, wrapped):
        result, probabilities = mc.probability_outputs(model, x)
        assert probabilities and result.status == "fail"
    assert mc.log_probabilities(wrapped) is wrapped
    assert mc.log_probabilities(inner).options()["outputs"] == "probs"
    result, probabilities = mc.probability_outputs(
        ThreatModel(mean_pixels(), input_range=(0, 2)), x
    )
    assert not probabilities and result.status == "ok"


# -- preprocessing functions that fail, and models with other outputs: one line, at wrap time --
# (each would otherwise fail inside the first attack's compiled loop, as a TensorFlow trace)


def _raises(x):
    raise RuntimeError("boom in preprocess")


def _halves(x):
    return x[:, ::2, ::2, :]


def _to_int(x):
    return keras.ops.cast(x, "int32")


def _to_text(x):
    return "pixels"


def _two_arguments(x, mean):
    return x - mean


@pytest.mark.parametrize(
    "function, pattern",
    [
        (
            _raises,
            r"fails on a \(1, 4, 4, 3\) float32 batch of pixels in \[0, 255\]: "
            r"RuntimeError: boom in preprocess",
        ),
        (_two_arguments, r"fails on .*TypeError: .*missing 1 required positional argument"),
        (_halves, r"must have shape \(batch, 4, 4, 3\) to fit .*\.shape=\(1, 2, 2, 3\)"),
        (_to_int, r"must return floating-point images \(gradients do not flow through int32\)"),
        (_to_text, r"must return a tensor of images; .* it returns str"),
    ],
    ids=["raises", "two-arguments", "wrong-shape", "int-dtype", "not-a-tensor"],
)
def test_a_broken_preprocess_function_is_refused_when_wrapping(function, pattern):
    dotted = f"{__name__}.{function.__name__}"
    with pytest.raises(ValueError) as info:
        wrap(mean_pixels(), input_range=(0, 255), preprocess=dotted)
    message = str(info.value)
    assert "\n" not in message and re.search(pattern, message), message
    assert f"{function.__name__}" in message


def test_a_working_preprocess_function_passes_the_probe():
    wrapped = wrap(
        mean_pixels(),
        input_range=(0, 255),
        preprocess="keras.applications.resnet50.preprocess_input",
    )
    assert wrapped.input_shape == (None, 4, 4, 3)


def several_outputs(kind):
    inputs = keras.Input((4, 4, 3))
    flat = keras.layers.Flatten()(inputs)
    heads = {"logits": keras.layers.Dense(3)(flat), "aux": keras.layers.Dense(2)(flat)}
    if kind == "dict":
        return keras.Model(inputs, heads)
    if kind == "dict1":
        return keras.Model(inputs, {"logits": heads["logits"]})
    if kind == "rank3":
        return keras.Model(inputs, keras.layers.Reshape((3, 2))(keras.layers.Dense(6)(flat)))
    if kind == "one":
        return keras.Model(inputs, keras.layers.Dense(1)(flat))
    return keras.Model(inputs, [heads["logits"], heads["aux"]])


@pytest.mark.parametrize(
    "kind, pattern",
    [
        ("list", r"has 2 outputs \(\(None, 3\), \(None, 2\)\); .* model\.outputs\[0\]"),
        ("dict", r"outputs a dict of 2 tensors \('logits': \(None, 3\), 'aux': \(None, 2\)\)"),
        ("dict1", r"outputs a dict of 1 tensor .*model\.output\['logits'\]"),
        ("rank3", r"\(batch, classes\) tensor of logits\. Received output shape \(None, 3, 2\)"),
        ("one", r"outputs 1 value per image, .* at least 2"),
    ],
)
def test_a_model_without_one_logits_output_is_refused_when_wrapping(kind, pattern):
    with pytest.raises(ValueError) as info:
        wrap(several_outputs(kind), input_range=(0, 255))
    message = str(info.value)
    assert "\n" not in message and re.search(pattern, message), message


def test_wrap_refuses_what_is_not_a_model():
    with pytest.raises(ValueError, match=r"must be a Keras model .*Received: model='model\.keras'"):
        wrap("model.keras", outputs="probs")


def test_probs_on_a_logits_model_is_refused_naming_the_check():
    """With a static input shape, at `wrap` itself (no saturation warning first); without one,
    on the first batch (`check_wrapped_outputs`, which `evaluate` and `audit` run)."""
    from tfls.models.wrap import check_wrapped_outputs

    logits = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(3)], name="static"
    )
    with pytest.raises(ValueError) as info:
        wrap(logits, outputs="probs")  # a TflsWarning first would fail the test (an error)
    message = str(info.value)
    assert "\n" not in message, message
    assert "`static` is wrapped with --outputs probs" in message
    assert "does not output probabilities" in message
    assert "every output lies in [0, 1] and every row sums to 1" in message  # the check
    assert "Received: outputs='probs'" in message

    any_size = keras.Sequential(
        [keras.Input((None, None, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    )
    x = np.random.default_rng(0).random((6, 4, 4, 3), dtype=np.float32)
    with pytest.warns(TflsWarning):
        wrapped = wrap(any_size, outputs="probs")
    with pytest.raises(ValueError) as info:
        check_wrapped_outputs(wrapped, x, name="model.keras")
    message = str(info.value)
    assert "\n" not in message, message
    assert "`model.keras` is wrapped with --outputs probs" in message
    with pytest.warns(TflsWarning):
        check_wrapped_outputs(wrap(softmax_model(), outputs="probs"), x)  # real ones pass
