"""Finding trained models (run folders) and the evaluation results saved inside them.

A run folder holds `model.keras` and `run.json` (see docs/design.md). The app writes each
evaluation to `<run>/results/<key>/`, where `key` names the attacks, ε, norm and image count, so
the same choice made again resumes the same folder and can be reopened later.
"""

from __future__ import annotations

import filecmp
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tfls.hashing import digest
from tfls.names import method_label
from tui.audit_store import latest_verdict

RUN_FILE = "run.json"
RESULTS = "results"
SESSION_FILE = "tui.json"  # what the app asked for; written next to the evaluator's files
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class RunInfo:
    """What a run folder's `run.json` says about the model trained in it."""

    path: Path
    dataset: str | None = None
    model: str | None = None
    method: str | None = None
    label_smoothing: float | None = None
    clean_accuracy: float | None = None
    error: str | None = None
    verdict: str | None = None  # of the newest audit saved in the run folder (tui.audit_store)
    external: bool = False  # an outside model added with `tfls-tui --model` (tfls.external)
    outputs: str | None = None  # an outside model's `--outputs` (logits or probs)
    method_text: str = "?"  # what it was trained with, named (`tfls.names.method_label`)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def alpha_text(self) -> str:
        return "?" if self.label_smoothing is None else f"{self.label_smoothing:g}"

    @property
    def clean_text(self) -> str:
        return "?" if self.clean_accuracy is None else f"{100 * self.clean_accuracy:.1f}%"

    @property
    def dataset_text(self) -> str:
        """The dataset spec, short: a path's last part (`faces.npz`), a name as it is."""
        return short_spec(self.dataset)

    @property
    def kind_text(self) -> str:
        """`external` for an outside model, else what it was trained with (`LS α=0.9`,
        `Madry ε=8/255`, `natural`): what tells the defenses apart."""
        return "external" if self.external else self.method_text

    @property
    def summary(self) -> str:
        """One line: `dataset model LS α=0.9 clean …` (`dataset model external …` if outside)."""
        if self.error:
            return f"unreadable: {self.error}"
        if self.external:
            probs = " (probs)" if self.outputs == "probs" else ""
            return (
                f"{self.dataset_text} {self.model or '?'}{probs} external clean {self.clean_text}"
            )
        return (
            f"{self.dataset or '?'} {self.model or '?'} {self.method_text} clean {self.clean_text}"
        )


def read_run(path: str | os.PathLike) -> RunInfo:
    """Reads `path/run.json`; a broken file gives a `RunInfo` with `error` set, never a crash."""
    path = Path(path)
    try:
        data = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("run.json is not a JSON object")
        alpha = data.get("label_smoothing")
        clean = data.get("clean_accuracy")
        return RunInfo(
            path=path,
            dataset=data.get("dataset"),
            model=data.get("model"),
            method=data.get("method"),
            label_smoothing=None if alpha is None else float(alpha),
            clean_accuracy=None if clean is None else float(clean),
            verdict=latest_verdict(path),
            external=bool(data.get("external")),
            outputs=(data.get("wrapper") or {}).get("outputs"),
            method_text=method_label(data),
        )
    except (OSError, ValueError, TypeError) as e:
        return RunInfo(path=path, error=f"{type(e).__name__}: {e}")


def short_spec(spec: str | None, width: int = 24) -> str:
    """A dataset spec for a narrow column: a path's file or folder name, cut to `width`."""
    if not spec:
        return "?"
    text = str(spec)
    if "/" in text or "\\" in text:
        text = Path(text).name or text
    return text if len(text) <= width else text[: width - 1] + "…"


def discover_runs(root: str | os.PathLike) -> list[RunInfo]:
    """Lists the run folders directly inside `root` (or `root` itself if it is a run), by name.

    Raises:
        FileNotFoundError: `root` does not exist or is not a folder.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise FileNotFoundError(
            f"The runs path is a file, not a folder of runs. Received: runs={str(root)!r}"
        )
    if not root.is_dir():
        raise FileNotFoundError(f"Runs folder not found. Received: runs={str(root)!r}")
    if (root / RUN_FILE).is_file():
        return [read_run(root)]
    return [read_run(p) for p in sorted(root.iterdir()) if p.is_dir() and (p / RUN_FILE).is_file()]


LINKED_FILES = ("model.keras", RUN_FILE)


def link_run(source: str | os.PathLike, runs_dir: str | os.PathLike, name: str) -> Path:
    """Makes `runs_dir/name` a run folder whose model and `run.json` are those of `source`.

    Used for the demo pair, which lives in the recipes' cache (`<cache>/<config hash>/`): the
    two files are symbolic links (copies where links are not allowed), so the cache is never
    written to, while the app's results and audits go to `runs_dir/name/` as for any run.
    """
    source, folder = Path(source).resolve(), Path(runs_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    for file in LINKED_FILES:
        target = folder / file
        if target.is_symlink():
            if target.resolve() == (source / file).resolve():
                continue
            target.unlink()  # a link to an older model of the same name
        elif target.exists():
            if filecmp.cmp(target, source / file, shallow=False):
                continue  # copied earlier
            raise FileExistsError(
                f"{folder} holds another model; rename that folder to make room for the demo "
                f"pair. Received: run={str(folder)!r}"
            )
        try:
            target.symlink_to(source / file)
        except OSError:
            import shutil

            shutil.copy2(source / file, target)
    return folder


def results_key(attacks: list[tuple[str, dict]], *, eps: float, norm: str, n: int) -> str:
    """A folder name for one evaluation: same attacks, overrides, ε, norm and n → same folder.

    Example: `pgd20+pgd-cw_linf_eps0.031373_n500` (plus a short hash when parameters were edited).
    """
    names = "+".join(name for name, _ in attacks)
    key = f"{names}_{norm}_eps{eps:.6g}_n{n}"
    overrides = {name: dict(sorted(o.items())) for name, o in attacks if o}
    if overrides or len(key) > 80:
        key = f"{key[:70]}_{digest([[n_, o] for n_, o in attacks], length=8)}"
    return key


@dataclass(frozen=True)
class SavedResult:
    """One results folder of a run, as the app shows it in the "reopen" list."""

    folder: Path
    session: dict = field(default_factory=dict)
    report: dict | None = None

    @property
    def run_path(self) -> Path:
        return self.folder.parent.parent

    @property
    def complete(self) -> bool:
        return bool(self.report and self.report.get("complete"))

    @property
    def summary(self) -> str:
        attacks = ", ".join(a["name"] for a in self.session.get("attacks", []))
        eps = self.session.get("eps_label", self.session.get("eps"))
        head = f"{self.run_path.name}: {attacks} ε={eps} {self.session.get('norm', '?')}"
        if not self.report:
            return f"{head} (no report yet)"
        state = "complete" if self.complete else "partial"
        return (
            f"{head} · {self.report.get('images', 0)} img, worst "
            f"{100 * float(self.report.get('worst_case_accuracy', 0.0)):.1f}% ({state})"
        )


def saved_results(run_path: str | os.PathLike) -> list[SavedResult]:
    """The results folders of one run that the app wrote (they hold `tui.json`), newest first."""
    folder = Path(run_path) / RESULTS
    if not folder.is_dir():
        return []
    found = []
    for sub in folder.iterdir():
        session = _read_json(sub / SESSION_FILE)
        if session is None:
            continue
        found.append(SavedResult(folder=sub, session=session, report=_read_json(sub / REPORT_FILE)))
    return sorted(found, key=lambda r: r.folder.stat().st_mtime, reverse=True)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
