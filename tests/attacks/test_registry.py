"""One table of attack names: every attack class of `tfls.attacks` enters `ATTACKS` as it is
defined (`register=True`), presets and AutoAttack name only registered classes, and a second
class under a taken name is refused."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import tfls.attacks as attacks
from tfls.attacks import table
from tfls.attacks.autoattack import SETTINGS
from tfls.attacks.base import Attack


def _package_classes() -> list[type]:
    """Every concrete `Attack` subclass defined in a `tfls.attacks` module."""
    found = []
    for info in pkgutil.iter_modules(attacks.__path__):
        module = importlib.import_module(f"tfls.attacks.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if not issubclass(obj, Attack) or obj is Attack or obj.__module__ != module.__name__:
                continue
            if obj.function is not None or obj.generate is not Attack.generate:
                found.append(obj)
    return found


def test_every_attack_class_of_the_package_is_registered_under_its_name():
    classes = _package_classes()
    assert len(classes) >= 12
    for cls in classes:
        assert attacks.ATTACKS.get(cls.__name__) is cls, cls.__name__
    # ... and nothing else: test-local subclasses (tests/eval/helpers.py) stay out.
    assert set(attacks.ATTACKS) == {c.__name__ for c in classes}


def test_every_preset_names_a_registered_class():
    for name, spec in attacks.PRESETS.items():
        assert spec["attack"] in attacks.ATTACKS, name


def test_autoattack_components_are_the_registered_classes():
    for name, (cls, _) in SETTINGS.items():
        assert attacks.ATTACKS[cls.__name__] is cls, name


def test_a_taken_name_is_refused_in_one_line():
    with pytest.raises(ValueError, match="'PGD' is already registered") as info:

        class PGD(Attack, register=True):
            function = attacks.pgd

    assert "\n" not in str(info.value)
    assert "tfls.attacks.pgd.PGD" in str(info.value)
    assert attacks.ATTACKS["PGD"] is attacks.PGD
    with pytest.raises(ValueError, match="'FGSM'"):
        table.register(type("FGSM", (), {}))


def test_subclasses_stay_out_unless_they_ask(monkeypatch):
    monkeypatch.setattr(table, "ATTACKS", dict(table.ATTACKS))

    class PGD(Attack):  # a script's own PGD: no clash, not registered
        function = attacks.pgd

    class LoudPGD(attacks.PGD):  # `register` is not inherited
        pass

    assert table.ATTACKS["PGD"] is attacks.PGD
    assert "LoudPGD" not in table.ATTACKS

    class MyAttack(Attack, register=True):
        function = attacks.fgsm

    assert table.ATTACKS["MyAttack"] is MyAttack
    table.register(MyAttack, attacks.PGD)  # the same class again: no change
    assert table.ATTACKS["MyAttack"] is MyAttack
    assert "MyAttack" not in attacks.ATTACKS  # the test's copy of the table took it


def test_the_table_imports_nothing_of_the_package():
    # Below both `base` (which fills it) and `registry` (which reads it): no import cycle.
    tree = ast.parse(Path(table.__file__).read_text(encoding="utf-8"))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    assert not [m for m in imported if m and m.startswith("tfls")], imported
