"""`tfls bench attacks --model`: the benchmarked models, including the wrapped MobileNetV3Small."""

from __future__ import annotations

import pytest

from tfls.bench import attacks as bench


def test_mobilenet_is_wrapped_into_the_threat_model():
    (model,) = bench.models_for("mobilenet").values()
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    assert model.options() == {"input_range": [0.0, 255.0], "preprocess": None, "outputs": "probs"}


def test_unknown_model_choice_is_one_line():
    with pytest.raises(ValueError, match="Received: model='resnet'"):
        bench.models_for("resnet")
