import pytest

from tfls.eval import wilson_interval


def test_wilson_matches_hand_computed_values():
    # 50/100: centre 0.5, half-width 1.96·sqrt(0.0025 + 1.96²/40000) / (1 + 1.96²/100) = 0.09617.
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.403831, abs=1e-6)
    assert hi == pytest.approx(0.596169, abs=1e-6)
    # 0/10: upper end z²/(n + z²) = 3.84146/13.84146.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    assert wilson_interval(10, 10) == (pytest.approx(0.722467, abs=1e-6), 1.0)
    # 81/263, a textbook example (Newcombe 1998): 0.2553 to 0.3662.
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


def test_wilson_empty_sample_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("args", [(-1, 10), (11, 10), (1, -1), (True, 2)])
def test_wilson_refuses_impossible_counts(args):
    with pytest.raises(ValueError, match="Received"):
        wilson_interval(*args)


def test_mcnemar_greater_matches_the_binomial_tail_by_hand():
    from tfls.stats import mcnemar_greater

    assert mcnemar_greater(5, 0) == pytest.approx(1 / 32)  # all 5 disagreements one way
    assert mcnemar_greater(0, 4) == 1.0  # P(X >= 0)
    assert mcnemar_greater(3, 3) == pytest.approx(42 / 64)  # (20 + 15 + 6 + 1) / 2^6
    assert mcnemar_greater(0, 0) == 1.0  # nothing to compare


@pytest.mark.parametrize("args", [(-1, 2), (1.5, 2), (True, 2), (2, "3")])
def test_mcnemar_greater_refuses_impossible_counts(args):
    from tfls.stats import mcnemar_greater

    with pytest.raises(ValueError, match="Received"):
        mcnemar_greater(*args)
