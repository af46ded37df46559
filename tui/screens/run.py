"""The live run: one results panel per defense, a progress bar, Esc to cancel (results kept)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Label
from textual.worker import Worker, WorkerState, get_current_worker

from tui.messages import BatchDone, EvalFailed, EvalFinished, EvalStarted, PlanFinished
from tui.notes import warnings_as_notices
from tui.request import EvalPlan
from tui.runs import RESULTS, SESSION_FILE
from tui.widgets.results_panel import ResultsPanel
from tui.widgets.run_progress import RunProgress

# Errors that concern one defense (a missing model file, a preset refusing its parameters): shown in
# that defense's panel while the others still run. Anything else stops the run and is shown too.
DEFENSE_ERRORS = (ValueError, FileNotFoundError, OSError, KeyError)


class RunScreen(Screen):
    """Runs `plan` with the evaluator in a thread worker, or shows reports saved earlier."""

    BINDINGS = [
        Binding("escape", "cancel_or_back", "Cancel / back"),
        Binding("r", "run", "Run / resume"),
    ]

    DEFAULT_CSS = """
    RunScreen #panels { height: 1fr; }
    RunScreen #run-message { height: auto; width: 1fr; padding: 0 1; }
    RunScreen #run-message.error { color: $error; }
    RunScreen #look-for { height: 1; padding: 0 1; color: $warning; text-style: bold; }
    """

    def __init__(
        self,
        plan: EvalPlan,
        backend,
        *,
        saved: dict | None = None,
        autostart: bool = True,
        look_for: str | None = None,
        started: float | None = None,
    ) -> None:
        """`look_for` is a line saying what to watch; `started` (a `time.perf_counter()`) is when
        the user asked for this run: the screen then reports the seconds to the first numbers
        (`first_numbers_s`) and to the final ones (`final_numbers_s`)."""
        super().__init__()
        self.plan = plan
        self.look_for = look_for
        self.started = started
        self.first_numbers_s: float | None = None
        self.final_numbers_s: float | None = None
        self.backend = backend
        self.saved = saved or {}  # (defense, eps_index) -> report dict
        self.autostart = autostart
        self.running = False
        self.finished = asyncio.Event()  # set when a run ends (tests wait on it)
        self.done_images = 0  # images of (defense, ε) pairs already finished in this run
        self.outputs: dict[tuple[int, int], Path] = {}
        self._worker: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield RunProgress()
        with HorizontalScroll(id="panels"):
            for i, run in enumerate(self.plan.defenses):
                yield ResultsPanel(
                    run,
                    self.plan.attack_names,
                    self.plan.eps_labels,
                    n=self.plan.n,
                    id=f"panel-{i}",
                )
        yield Label("", id="run-message")
        if self.look_for:
            yield Label(f"Look for: {self.look_for}", id="look-for")
        yield Footer()

    def on_mount(self) -> None:
        eps = ", ".join(self.plan.eps_labels)
        attacks = " + ".join(self.plan.attack_names)
        self.sub_title = f"{attacks} · ε {eps} {self.plan.norm} · {self.plan.n} images"
        for (d, e), report in self.saved.items():
            self.panel(d).show_report(e, report)
        if self.saved:
            done = sum(int(r.get("images", 0)) for r in self.saved.values())
            self.query_one(RunProgress).show_saved(done, self.plan.total_images)
        if self.autostart:
            self.action_run()
        else:
            self.message(
                "Saved results. r resumes or reruns (finished batches are reused), Esc goes back."
            )

    def screenshot_dir(self) -> Path:
        """Where `s` saves this screen: the first defense's results folder of this run."""
        out = self.outputs.get((0, 0))
        if out is None:
            out = self.plan.defenses[0].path / RESULTS / self.plan.key(self.plan.eps_values[0])
        return out

    def panel(self, index: int) -> ResultsPanel:
        return self.query_one(f"#panel-{index}", ResultsPanel)

    def message(self, text: str, *, error: bool = False) -> None:
        from rich.text import Text

        label = self.query_one("#run-message", Label)
        label.update(Text(text))  # plain text: errors may hold [brackets]
        label.set_class(error, "error")

    # --- actions -------------------------------------------------------------------------

    def action_run(self) -> None:
        if self.running:
            return
        self.running = True
        self.finished.clear()
        self.done_images = 0
        self.message("Running… Esc cancels after the current batch (finished batches are kept).")
        self._worker = self.run_plan()

    def action_cancel_or_back(self) -> None:
        if self.running:
            if self._worker is not None:
                self._worker.cancel()
            self.message("Cancelling after the current batch…")
        else:
            self.app.pop_screen()

    # --- the worker ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="eval")
    def run_plan(self) -> None:
        """Evaluates every (defense, ε) in turn with `tfls.eval.evaluate`; posts each batch."""
        from tfls import io

        worker = get_current_worker()
        plan = self.plan
        for d, defense in enumerate(plan.defenses):
            if worker.is_cancelled:
                break
            try:
                with warnings_as_notices(self, defense.name):
                    model, run = self.backend.load_run(defense.path)
                    data = self.backend.load_data(run, plan.n, plan.batch_size)
            except DEFENSE_ERRORS as e:
                for e_index in range(len(plan.eps_values)):
                    self.post_message(EvalFailed(d, e_index, _describe(e)))
                continue
            for e_index, eps in enumerate(plan.eps_values):
                if worker.is_cancelled:
                    break
                out = defense.path / RESULTS / plan.key(eps)
                try:
                    choices = [
                        dataclasses.replace(a, overrides=self._resolve(a.overrides, defense))
                        for a in plan.attacks
                    ]
                    attacks = self.backend.build_attacks(model, choices, eps=eps, norm=plan.norm)
                    out.mkdir(parents=True, exist_ok=True)
                    io.atomic_write_json(out / SESSION_FILE, plan.session(defense, e_index))
                    self.post_message(EvalStarted(d, e_index, out))

                    def on_batch(progress, d=d, e_index=e_index) -> bool:
                        self.post_message(BatchDone(d, e_index, progress))
                        return not worker.is_cancelled

                    meta = {
                        "dataset": run.get("dataset"),
                        "split": run.get("split") or "test",
                        "run": defense.name,
                    }
                    with warnings_as_notices(self, defense.name):
                        report = self.backend.evaluate(
                            model, data, attacks, out=out, on_batch=on_batch, n=plan.n, meta=meta
                        )
                except DEFENSE_ERRORS as e:
                    self.post_message(EvalFailed(d, e_index, _describe(e)))
                    continue
                as_dict = _report_dict(report)
                complete = (
                    bool(as_dict.get("complete", not worker.is_cancelled))
                    if as_dict
                    else not worker.is_cancelled
                )
                self.post_message(EvalFinished(d, e_index, complete, as_dict))
        self.post_message(PlanFinished(cancelled=worker.is_cancelled))

    def _resolve(self, overrides: dict, defense) -> dict:
        """A transfer attack's `source` run name becomes that run's model (loaded in the worker)."""
        if "source" not in overrides:
            return overrides
        model, _ = self.backend.load_run(defense.path.parent / overrides["source"])
        return {**overrides, "source": model}

    # --- messages from the worker ----------------------------------------------------------

    @on(EvalStarted)
    def _started(self, event: EvalStarted) -> None:
        self.outputs[(event.defense, event.eps_index)] = event.out

    @on(BatchDone)
    def _batch(self, event: BatchDone) -> None:
        progress = event.progress
        if self.started is not None and self.first_numbers_s is None:
            self.first_numbers_s = time.perf_counter() - self.started
        self.panel(event.defense).show_progress(event.eps_index, progress)
        run = self.plan.defenses[event.defense].name
        note = f"· {run} ε={self.plan.eps_labels[event.eps_index]}"
        self.query_one(RunProgress).update_counts(
            self.done_images + progress.images_done,
            self.plan.total_images,
            progress.images_per_s,
            note,
        )

    @on(EvalFinished)
    def _eval_finished(self, event: EvalFinished) -> None:
        panel = self.panel(event.defense)
        if event.report:
            panel.show_report(event.eps_index, event.report, complete=event.complete)
        else:
            panel.finish(event.eps_index, complete=event.complete)
        self.done_images += panel.columns[event.eps_index].images if event.complete else 0

    @on(EvalFailed)
    def _eval_failed(self, event: EvalFailed) -> None:
        self.panel(event.defense).fail(event.eps_index, event.error)

    @on(PlanFinished)
    def _plan_finished(self, event: PlanFinished) -> None:
        timing = ""
        if self.started is not None and not event.cancelled:
            self.final_numbers_s = time.perf_counter() - self.started
            first = self.first_numbers_s
            timing = (
                f" Keypress → first numbers {first:.0f} s, final {self.final_numbers_s:.0f} s."
                if first is not None
                else f" Keypress → final numbers {self.final_numbers_s:.0f} s."
            )
        self._stopped(
            "Cancelled: partial results are saved; r resumes, Esc goes back."
            if event.cancelled
            else f"Done.{timing} Saved in each run's results/; s saves this screen (SVG)."
        )

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.worker is self._worker and event.state == WorkerState.ERROR:
            self._stopped(f"Run failed: {_describe(event.worker.error)}", error=True)

    def _stopped(self, text: str, *, error: bool = False) -> None:
        self.running = False
        self.message(text, error=error)
        self.finished.set()


def _describe(error: BaseException | None) -> str:
    return f"{type(error).__name__}: {error}" if error is not None else "unknown error"


def _report_dict(report) -> dict | None:
    if report is None:
        return None
    if isinstance(report, dict):
        return report
    if hasattr(report, "to_dict"):
        return report.to_dict()
    if dataclasses.is_dataclass(report):
        return dataclasses.asdict(report)
    return None
