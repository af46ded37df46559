"""`tfls._validation`: the shared checks of outputs, probabilities and seeds, one line each."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tfls import _validation as v


def one_line(call, pattern):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and re.search(pattern, message), message


@pytest.mark.parametrize(
    "outputs, pattern",
    [
        ([np.zeros((2, 10)), np.zeros((2, 3))], r"has 2 outputs \(\(2, 10\), \(2, 3\)\)"),
        ({"a": np.zeros((2, 10))}, r"outputs a dict of 1 tensor \('a': \(2, 10\)\)"),
        (np.zeros((2, 2, 5)), r"Received output shape \(2, 2, 5\)"),
        (np.zeros((2, 1)), r"outputs 1 value per image"),
        ((None, 1), r"Received output shape \(None, 1\)"),
    ],
    ids=["list", "dict", "rank-3", "one-column", "declared-one-column"],
)
def test_output_structure_is_one_batch_by_classes_tensor(outputs, pattern):
    one_line(lambda: v.check_output_structure(outputs, name="m"), pattern)


def test_output_structure_returns_the_class_count():
    assert v.check_output_structure(np.zeros((3, 7))) == 7
    assert v.check_output_structure((None, 10)) == 10
    assert v.check_output_structure((None, None)) is None


def test_model_classes_reads_the_declared_outputs_without_calling_the_model():
    class Declared:
        output_shape = [(None, 10), (None, 10)]

        def __call__(self, x):  # pragma: no cover - must not be called
            raise AssertionError("called")

    one_line(lambda: v.model_classes(Declared(), name="two-heads"), r"`two-heads` has 2 outputs")
    assert v.model_classes(object()) is None  # nothing declared: the first call will tell


def test_check_logits_refuses_a_dict_before_converting_it():
    one_line(lambda: v.check_logits({"logits": np.zeros((2, 3))}), r"outputs a dict")


@pytest.mark.parametrize(
    "outputs, ok",
    [
        (np.full((2, 4), 0.25), True),
        (np.array([[2.0, -1.0], [0.5, 0.1]]), False),  # logits
        (np.array([[0.2, 0.2], [0.5, 0.1]]), False),  # in [0, 1], rows not summing to 1
    ],
)
def test_check_probabilities(outputs, ok):
    if ok:
        v.check_probabilities(outputs)
    else:
        one_line(
            lambda: v.check_probabilities(outputs, name="m.keras"),
            r"`m\.keras` .*does not output probabilities: the check that every output lies in "
            r"\[0, 1\] and every row sums to 1 .*Received: outputs='probs'",
        )


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "0"])
def test_check_seed(seed):
    one_line(lambda: v.check_seed(seed), rf"Received: seed={re.escape(repr(seed))}")
    assert v.check_seed(0) == 0 and v.check_seed(2**32 - 1) == 2**32 - 1
