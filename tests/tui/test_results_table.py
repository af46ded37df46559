"""The results table's passes column: shown when the evaluation counted passes, in the widest
layout only, and never at the cost of the bar."""

from __future__ import annotations

from rich.console import Console

from tui.widgets.results_table import MIN_BAR, Row, build_table, choose_layout


def _text(rows, width):
    console = Console(width=width, record=True, color_system=None)
    console.print(build_table(Row("clean", 0.9, (0.85, 0.94)), rows, Row("worst", 0.3), width))
    return console.export_text()


def test_counted_passes_show_per_image_beside_images_per_s():
    rows = [Row("autoattack", 0.31, (0.27, 0.35), 40.0, 2190.4), Row("autoattack-fast", 0.31)]
    text = _text(rows, 70)
    assert "bwd/im" in text and "2,190" in text
    fast_line = next(line for line in text.splitlines() if line.startswith("AA-fast"))
    assert "…" in fast_line  # not known yet for that attack


def test_no_passes_column_without_counts_or_room():
    uncounted = [Row("pgd20", 0.4, (0.35, 0.45), 90.0)]
    assert "bwd/im" not in _text(uncounted, 70)
    counted = [Row("pgd20", 0.4, (0.35, 0.45), 90.0, 21.0)]
    assert "bwd/im" not in _text(counted, 50)  # the bar keeps its cells instead
    layout = choose_layout(70, passes=True)
    assert layout.show_passes and layout.bar >= MIN_BAR
