"""`tfls.names.method_label`: a model is named by what it was trained with."""

import pytest

from tfls.names import eps_text, method_label


@pytest.mark.parametrize(
    "run, label",
    [
        ({"method": "natural", "label_smoothing": 0.9}, "LS α=0.9"),
        ({"method": "natural", "label_smoothing": 0.0}, "natural"),
        ({"method": "madry", "label_smoothing": 0.0, "eps": 8 / 255}, "Madry ε=8/255"),
        ({"method": "madry", "label_smoothing": 0.1, "eps": 0.3}, "Madry ε=0.3, LS α=0.1"),
        ({"method": "trades", "config": {"trades_beta": 6.0}}, "TRADES β=6"),
        ({}, "natural"),
    ],
)
def test_method_label(run, label):
    assert method_label(run) == label


def test_eps_text():
    assert (eps_text(8 / 255), eps_text(0.03), eps_text(None)) == ("8/255", "0.03", "?")
