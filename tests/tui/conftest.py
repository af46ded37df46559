"""TUI test set-up: tests start from an empty attack selection unless they ask for the app's default."""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "default_attacks: keep the attacks the app ticks at start (tui.request.DEFAULT_ATTACKS)",
    )


@pytest.fixture(autouse=True)
def _no_default_attacks(request, monkeypatch):
    # Most tests tick their own attacks with the keyboard and assert exactly those; the app's
    # start-up selection is tested on its own (tests marked default_attacks).
    if request.node.get_closest_marker("default_attacks") is None:
        monkeypatch.setattr("tui.widgets.attack_picker.DEFAULT_ATTACKS", ())
