"""`tfls eval` and `tfls audit` interrupted (SIGINT, SIGTERM, SIGKILL) at seeded random points,
relative and absolute paths: nothing of the user's is touched, the message is one line, and the
same command then ends with exactly what an uninterrupted run gives.

Default suite: one case per signal and command; `-m slow` runs every combination.
"""

from __future__ import annotations

import itertools
import json
import signal

import pytest

from tests.faults import harness
from tests.faults.conftest import eval_args, records, report_numbers

DEFAULT = {
    "eval": [("SIGINT", "absolute"), ("SIGTERM", "relative"), ("SIGKILL", "absolute")],
    "audit": [("SIGTERM", "absolute"), ("SIGKILL", "relative")],
}


def cases(command):
    combos = itertools.product(harness.SIGNALS, ("relative", "absolute"))
    return [
        pytest.param(*c, id="-".join(c), marks=() if c in DEFAULT[command] else pytest.mark.slow)
        for c in combos
    ]


def home_with_model(tmp_path, model_file):
    """A user's folder: the model file, a note beside it, and a hidden file in the output
    folder-to-be (the evaluator may write next to it, never remove it)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "model.keras").write_bytes(model_file.read_bytes())
    (home / "notes.txt").write_text("a user's file")
    return home


@pytest.fixture(scope="module")
def eval_reference(tmp_path_factory, model_file, shared_data_dir):
    home = tmp_path_factory.mktemp("eval-reference")
    out = home / "ev"
    done = harness.run(eval_args(model_file, out, shared_data_dir), cwd=home)
    assert done.code == 0, done.stderr[-3000:]
    return records(out), report_numbers(out)


@pytest.mark.parametrize("name, paths", cases("eval"))
def test_interrupted_eval_loses_nothing_and_the_rerun_equals_one_run(
    name, paths, eval_reference, model_file, shared_data_dir, tmp_path
):
    home = home_with_model(tmp_path, model_file)
    out = home / "evals" / "ev"
    out.mkdir(parents=True)
    (out / ".notes").write_text("the user's hidden file in the output folder")
    relative = paths == "relative"
    args = eval_args(
        "model.keras" if relative else home / "model.keras",
        "evals/ev" if relative else out,
        shared_data_dir,
    )
    k, delay = harness.point(f"eval-{name}-{paths}", 20, delay=0.05)
    batches = out / "batches.jsonl"
    ready = (lambda: (out / ".lock").exists()) if k == 0 else (lambda: harness.lines(batches) >= k)
    before = harness.snapshot(home, skip=out)
    sig = harness.SIGNALS[name]

    outcome = harness.interrupt(args, cwd=home, ready=ready, sig=sig, delay=delay)

    assert harness.snapshot(home, skip=out) == before
    assert (out / ".notes").read_text().startswith("the user's")
    assert not (out / "report.json").exists()
    if sig == signal.SIGKILL:
        assert outcome.code == -signal.SIGKILL
    else:
        assert outcome.code == 130, outcome.stderr[-3000:]
        outcome.one_line("tfls eval: interrupted; ")
    done = batches.read_bytes() if batches.exists() else b""
    finished = done[: done.rfind(b"\n") + 1]

    rerun = harness.run(args, cwd=home)  # the same command resumes
    assert rerun.code == 0, rerun.stderr[-3000:]
    assert batches.read_bytes().startswith(finished), "a finished batch was redone"
    assert harness.snapshot(home, skip=out) == before
    assert (records(out), report_numbers(out)) == eval_reference


AUDIT = ("--dataset", "fashion_mnist", "--eps", "8/255", "--n", 200, "--budget", "quick")


def audit_args(model, out, data_dir):
    return ["audit", "--model", model, *AUDIT, "--seed", 0, "--out", out, "--data-dir", data_dir]


def verdict(out):
    """What an audit concludes, without its timings."""
    report = json.loads((out / "audit.json").read_text())
    checks = [(c["id"], c["status"], c["summary"]) for c in report["checks"]]
    return report["verdict"], report["worst_case"], report["pgd20"], checks


@pytest.fixture(scope="module")
def audit_reference(tmp_path_factory, model_file, shared_data_dir):
    home = tmp_path_factory.mktemp("audit-reference")
    done = harness.run(audit_args(model_file, home / "audit", shared_data_dir), cwd=home)
    assert done.code == 0, done.stderr[-3000:]
    return verdict(home / "audit")


@pytest.mark.parametrize("name, paths", cases("audit"))
def test_interrupted_audit_loses_nothing_and_the_rerun_equals_one_run(
    name, paths, audit_reference, model_file, shared_data_dir, tmp_path
):
    home = home_with_model(tmp_path, model_file)
    out = home / "audit"
    relative = paths == "relative"
    args = audit_args(
        "model.keras" if relative else home / "model.keras",
        "audit" if relative else out,
        shared_data_dir,
    )
    k, delay = harness.point(f"audit-{name}-{paths}", 4, delay=0.05)
    checks = out / "checks"

    def ready():
        if k == 0:
            return harness.lines(out / "evals" / "main-quick" / "batches.jsonl") >= 1
        return checks.is_dir() and len(list(checks.glob("*.json"))) >= k

    before = harness.snapshot(home, skip=out)
    sig = harness.SIGNALS[name]
    outcome = harness.interrupt(args, cwd=home, ready=ready, sig=sig, delay=delay)

    assert harness.snapshot(home, skip=out) == before
    assert not (out / "audit.json").exists()
    if sig == signal.SIGKILL:
        assert outcome.code == -signal.SIGKILL
    else:
        assert outcome.code == 130, outcome.stderr[-3000:]
        outcome.one_line("tfls audit: interrupted; ")
    rerun = harness.run(args, cwd=home)
    assert rerun.code == 0, rerun.stderr[-3000:]
    assert harness.snapshot(home, skip=out) == before
    assert verdict(out) == audit_reference
