"""The audit screen (`a`): checks fill in live from a paced fake audit, cancel keeps what finished,
the verdict becomes a badge in the defense list that survives a restart; one real audit too."""

from __future__ import annotations

import dataclasses
import json

import pytest
from textual.widgets import Input, Label

from tests.tui.fakes import AUDIT_ORDER, FakeBackend, write_run
from tests.tui.helpers import finished, until
from tests.tui.test_real_backend import _tiny_run
from tui.app import TflsApp
from tui.backend import Backend
from tui.capture import screen_text
from tui.screens.audit import AuditScreen
from tui.screens.main import MainScreen
from tui.widgets.audit_verdict import AuditVerdict
from tui.widgets.check_list import CheckList
from tui.widgets.defense_list import DefenseList

SNAPSHOT_SIZE = (100, 30)


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "ls09", alpha=0.9, clean=0.91)
    write_run(root, "nat", alpha=0.0, clean=0.92)
    return root


async def _ready(app, pilot, *, images="50"):
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert app.screen.library is not None
    app.screen.query_one("#images", Input).value = images
    app.screen.query_one(DefenseList).focus()


async def _open_audit(app, pilot, *keys) -> AuditScreen:
    await pilot.press(*keys, "a")
    await until(pilot, lambda: isinstance(app.screen, AuditScreen), what="audit screen")
    return app.screen


def _line(app, name: str) -> str:
    """The defense list's line for run `name` (its prompt is `name  <method>  <clean>`)."""
    return next(ln for ln in screen_text(app).splitlines() if f" {name}  " in ln)


def _statuses(screen) -> list[str]:
    checks = screen.query_one(CheckList)
    return [checks.status(i) for i in range(1, 15)]


@pytest.mark.asyncio
async def test_a_audits_the_highlighted_defense_live_and_its_verdict_becomes_a_badge(runs):
    backend = FakeBackend(paced=True)
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        screen = await _open_audit(app, pilot, "down")  # the cursor on nat, nothing selected
        await pilot.pause()
        assert _statuses(screen) == ["pending"] * len(AUDIT_ORDER)
        assert screen_text(app).count("pending") >= 10  # listed up front

        backend.release_checks(3)
        checks = screen.query_one(CheckList)
        await until(pilot, lambda: len(checks.results) == 3, what="three checks")
        assert _statuses(screen)[:4] == ["ok", "ok", "ok", "pending"]
        assert "fake check 2 found nothing" in screen_text(app)
        assert screen.query_one(AuditVerdict).verdict is None

        backend.release_checks(2)  # check 4 fails, with its numbers and advice
        await until(pilot, lambda: len(checks.results) == 5, what="five checks")
        text = screen_text(app)
        assert "fail" in text and "zero_ce=0.12" in text and "use margin/DLR losses" in text

        backend.release_checks(100)
        await finished(screen)
        await pilot.pause()
        assert _statuses(screen)[3] == "fail" and _statuses(screen)[12] == "warn"
        assert _statuses(screen)[6] == "skipped"  # check 7 is not in the quick budget
        text = screen_text(app)
        flat = " ".join(text.replace("│", " ").split())  # the panel wraps its lines
        assert "overestimated" in text
        assert "worst case over the audit's 3 attacks 15.0%" in flat
        assert "Worst case over: fgsm, pgd20, apgd-ce" in flat
        assert "Report the worst case over: autoattack" in text
        (call,) = backend.audit_calls
        assert call["model"] == "model:nat" and call["n"] == 50 and call["budget"] == "quick"
        # The run's own folder and the app's saved evaluations are searched for the evaluator's
        # number on the same weights, ε and points (tfls.audit.alongside).
        assert [p.name for p in call["evaluations"]] == ["nat", "results"]
        assert call["eps"] == pytest.approx(8 / 255)
        assert call["out"] == runs / "nat" / "audits" / "quick_linf_eps0.0313725_n50"
        saved = json.loads((call["out"] / "audit.json").read_text())
        assert saved["verdict"] == "overestimated"

        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.pause()
        defenses = app.screen.query_one(DefenseList)
        assert [r.verdict for r in defenses.runs] == [None, "overestimated"]
        assert defenses.highlighted == 1  # the cursor stays where it was
        assert "overestimated" in _line(app, "nat")
        assert "overestimated" not in _line(app, "ls09")

    restarted = TflsApp(runs, backend=FakeBackend())  # the badge is read back from audit.json
    async with restarted.run_test(size=(100, 30)) as pilot:
        await restarted.workers.wait_for_complete()
        await pilot.pause()
        assert "overestimated" in _line(restarted, "nat")
        assert "overestimated" not in _line(restarted, "ls09")


@pytest.mark.asyncio
async def test_cancel_mid_audit_keeps_finished_checks_and_r_resumes_them(runs):
    backend = FakeBackend(paced=True)
    app = TflsApp(runs, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        screen = await _open_audit(app, pilot, "down", "space")  # nat selected
        checks = screen.query_one(CheckList)
        backend.release_checks(3)
        await until(pilot, lambda: len(checks.results) == 3, what="three checks")

        await pilot.press("escape")
        backend.release_checks(1)  # the check in flight finishes, then the audit stops
        await finished(screen)
        await pilot.pause()
        assert _statuses(screen) == ["ok", "ok", "ok", "fail"] + ["pending"] * 10
        assert screen.query_one(AuditVerdict).verdict is None
        assert "Cancelled" in str(screen.query_one("#audit-message", Label).render())
        out = backend.audit_calls[0]["out"]
        assert sorted(backend.audit_stored[out]) == [1, 2, 3, 4]  # kept "on disk"
        assert not (out / "audit.json").exists()

        await pilot.press("r")  # resumes: the four finished checks come back without any work
        await until(pilot, lambda: len(checks.results) == 4, what="checks read back")
        await pilot.pause()
        assert screen.running and _statuses(screen)[4] == "pending"
        backend.release_checks(len(AUDIT_ORDER) - 4)
        await finished(screen)
        await pilot.pause()
        assert [c["out"] for c in backend.audit_calls] == [out, out]
        assert screen.query_one(AuditVerdict).verdict == "overestimated"
        assert "pending" not in _statuses(screen)

        await pilot.press("b", "r")  # the next budget audits into its own folder
        backend.release_checks(len(AUDIT_ORDER))
        await finished(screen)
        last = backend.audit_calls[-1]
        assert last["budget"] == "standard"
        assert last["out"] == out.parent / "standard_linf_eps0.0313725_n50"


@pytest.mark.asyncio
async def test_a_refuses_bad_fields_and_waits_for_the_library(runs):
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        app.screen.query_one("#eps", Input).value = "-0.1"
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert "eps=-0.1" in str(app.screen.query_one("#message", Label).render())


def test_finished_audit_screen_snapshot(tmp_path, monkeypatch, snap_compare):
    monkeypatch.chdir(tmp_path)  # the runs path shows on screen: keep it the same every time
    write_run(tmp_path / "runs", "ls09", alpha=0.9, clean=0.91)
    app = TflsApp("runs", backend=FakeBackend())

    async def audited(pilot):
        await _ready(pilot.app, pilot)
        screen = await _open_audit(pilot.app, pilot)
        await finished(screen)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=audited)


# A tiny audit on the real library: five checks, FGSM and PGD-20 only, no XLA; seconds on a CPU.
def _tiny_budget():
    from tfls.audit import BUDGETS

    return dataclasses.replace(
        BUDGETS["quick"],
        name="tiny",
        checks=(1, 2, 4, 5, 6),
        whitebox=("fgsm", "pgd20"),
        trace_steps=10,
        gamma=10,
        jit_compile=False,
    )


@pytest.mark.asyncio
async def test_real_audit_of_a_tiny_run_shows_a_verdict_and_a_badge(tmp_path, shared_data_dir):
    from tfls.audit import VERDICTS

    runs = tmp_path / "runs"
    _tiny_run(runs, "tiny", alpha=0.0, seed=1)
    app = TflsApp(runs, backend=Backend(data_dir=shared_data_dir))
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot, images="16")
        app.screen.query_one("#eps", Input).value = "0.1"
        app.screen.audit_budget = _tiny_budget()
        screen = await _open_audit(app, pilot)
        await finished(screen, timeout=600)
        await pilot.pause()
        assert screen.report is not None, screen.query_one("#audit-message", Label).render()
        verdict = screen.report.verdict
        assert verdict in VERDICTS
        assert verdict in screen_text(app)
        statuses = _statuses(screen)
        assert all(statuses[i - 1] != "pending" for i in (1, 2, 4, 5, 6))
        assert statuses[6] == "skipped"  # check 7 is not in the tiny budget
        out = runs / "tiny" / "audits" / "tiny_linf_eps0.1_n16"
        assert json.loads((out / "audit.json").read_text())["verdict"] == verdict
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.query_one(DefenseList).runs[0].verdict == verdict


@pytest.mark.asyncio
async def test_the_verdict_badge_is_on_the_defense_results_table_too(runs):
    from tui.screens.run import RunScreen

    audit = runs / "nat" / "audits" / "quick_linf_eps0.0313725_n50"
    audit.mkdir(parents=True)
    (audit / "audit.json").write_text(json.dumps({"verdict": "no masking found"}))
    app = TflsApp(runs, backend=FakeBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot, images="10")
        app.screen.query_one("#batch", Input).value = "10"
        await pilot.press("space", "down", "space", "tab", "down", "space", "r")  # both × pgd20
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        await finished(app.screen)
        await pilot.pause()
        bottoms = [ln for ln in screen_text(app).splitlines() if ln.startswith("╰")]
        (bottom,) = bottoms
        left, right = bottom.split("╯╰")
        assert "no masking found" in right and "no masking found" not in left  # nat only
