"""The recipes' saved outputs (`results/<recipe>-<scale>/results.json`), read for the `o` browser.

A recipe output holds its models, one evaluation folder per (model, threat model) under `evals/`
(the evaluator's `report.json`), and the paper's claims checked on the numbers. The app shows
each evaluation as the same table it draws for a live run, and the claims with their verdicts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tui.runs import RunInfo

RESULTS_FILE = "results.json"
SCALES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class SavedEvaluation:
    """One evaluation of a recipe output: which model, the report dict, where it lives."""

    key: str  # `<model id>/<norm>` in results.json
    label: str
    run: RunInfo
    report: dict
    folder: Path


@dataclass(frozen=True)
class RecipeOutput:
    """One `results/<recipe>-<scale>/` folder."""

    folder: Path
    data: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def claims(self) -> list[dict]:
        return [c for c in self.data.get("claims") or [] if isinstance(c, dict)]

    @property
    def summary(self) -> str:
        held = sum(1 for c in self.claims if c.get("held"))
        claims = f" · claims held {held}/{len(self.claims)}" if self.claims else ""
        evals = len(self.evaluations())
        return (
            f"recipe {self.name}: {self.data.get('title', '?')} · {self.data.get('n', '?')} img"
            f" · {evals} evaluations{claims}"
        )

    def evaluations(self) -> list[SavedEvaluation]:
        """The evaluations whose `report.json` is present, in results.json's order."""
        found = []
        models = self.data.get("models") or {}
        for key, entry in (self.data.get("evaluations") or {}).items():
            if not isinstance(entry, dict) or "folder" not in entry:
                continue
            folder = self.folder / "evals" / Path(entry["folder"]).name
            report = _read_json(folder / "report.json")
            if report is None:
                continue
            model_id, _, norm = key.partition("/")
            model = models.get(model_id, {})
            run = RunInfo(
                path=folder,
                dataset=model.get("dataset"),
                model=model.get("architecture"),
                method=model.get("method"),
                label_smoothing=model.get("label_smoothing"),
                clean_accuracy=report.get("clean_accuracy"),
            )
            label = f"{model.get('label', model_id)} {norm}".strip()
            found.append(SavedEvaluation(key, label, run, report, folder))
        return found


def recipe_outputs(results_dir: str | os.PathLike | None) -> list[RecipeOutput]:
    """Every `<recipe>-<scale>/results.json` directly under `results_dir`, by name."""
    if results_dir is None or not Path(results_dir).is_dir():
        return []
    found = []
    for sub in sorted(Path(results_dir).iterdir()):
        if not sub.is_dir() or sub.name.rpartition("-")[2] not in SCALES:
            continue
        data = _read_json(sub / RESULTS_FILE)
        if data is not None:
            found.append(RecipeOutput(sub, data))
    return found


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
