"""`tfls.attacks.presets.resolved`: a preset's settings with overrides, read from the one table."""

from __future__ import annotations

import pytest

from tfls.attacks import PRESETS
from tfls.attacks.autoattack import SETTINGS, STANDARD
from tfls.attacks.presets import resolved


def test_plain_preset_is_the_table_row_with_overrides_over_it():
    assert resolved("pgd20") == dict(PRESETS["pgd20"])
    assert resolved("pgd20", {"steps": 3, "loss": "margin"}) == {
        **PRESETS["pgd20"],
        "steps": 3,
        "loss": "margin",
    }
    assert "components" not in resolved("pgd20")


def test_resolved_is_a_copy():
    config = resolved("pgd20")
    config["steps"] = 1
    assert PRESETS["pgd20"]["steps"] == 20


def test_autoattack_components_are_settings_with_the_overrides_applied():
    config = resolved(
        "autoattack", {"overrides": {"apgd-t": {"steps": 7}, "square": {"n_queries": 9}}}
    )
    assert tuple(config["components"]) == STANDARD
    for name in STANDARD:
        cls, settings = SETTINGS[name]
        expected = {"attack": cls.__name__, **settings}
        if name == "apgd-t":
            expected["steps"] = 7
        if name == "square":
            expected["n_queries"] = 9
        assert config["components"][name] == expected


def test_autoattack_components_follow_its_attacks():
    config = resolved("autoattack", {"attacks": ["apgd-ce", "apgd-dlr"]})
    assert config["components"] == {
        name: {"attack": SETTINGS[name][0].__name__, **SETTINGS[name][1]}
        for name in ("apgd-ce", "apgd-dlr")
    }


def test_unknown_preset_gets_the_one_line_choice_error():
    with pytest.raises(ValueError) as e:
        resolved("pgd-99")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("Unknown attack preset 'pgd-99'. Expected one of: fgsm, pgd10")
    assert message.endswith("Received: attack preset='pgd-99'")
