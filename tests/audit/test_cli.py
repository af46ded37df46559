"""`tfls audit`: bad input is one line and exit 2 before any work; a run prints the table and the
verdict within 100 columns, writes audit.json/.md/PNGs, and the same command resumes."""

from __future__ import annotations

import json
import re

import keras
import pytest

from tests.eval.test_cli import save_model, sigkill_cli_when
from tfls.cli.main import main


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("model") / "tiny.keras")


def audit_args(model, out, *extra, data_dir=None):
    args = ["audit", "--model", str(model), "--dataset", "fashion_mnist", "--eps", "0.03"]
    args += ["--out", str(out), "--n", "24", "--budget", "quick", "--quiet"]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    return args + list(extra)


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--budget", "fast"], "budget='fast'"),
        (["--eps", "-0.1"], "eps=-0.1"),
        (["--norm", "l1"], "norm='l1'"),
        (["--n", "0"], "n=0"),
        (["--surrogate", "/nonexistent/model.keras"], "No model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(model_file, tmp_path, capsys, extra, match):
    out = tmp_path / "audit"
    code = main(audit_args(model_file, out, *extra))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and match in err, err
    assert not out.exists()


def test_surrogate_of_another_shape_is_refused(model_file, tmp_path, capsys):
    other = save_model(tmp_path / "other.keras", input_shape=(32, 32, 3))
    code = main(audit_args(model_file, tmp_path / "audit", "--surrogate", str(other)))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "surrogate" in err, err


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("multi-output", r"multi\.keras` has 2 outputs \(\(None, 10\), \(None, 10\)\)"),
        ("dict-output", r"dict\.keras` outputs a dict of 2 tensors"),
        ("surrogate-multi-output", r"multi\.keras` has 2 outputs"),
        ("preprocess-raises", r"_raises' fails on a \(1, 28, 28, 1\) .*RuntimeError: boom"),
        ("truncated-png", r"Image file .*c3/1\.png is truncated: its PNG data ends after"),
        ("outputs-probs-on-logits", r"is wrapped with --outputs probs .*not output probabilities"),
    ],
)
def test_bad_models_and_data_are_one_line_before_any_work(
    model_file, fault_files, tmp_path, capsys, case, pattern
):
    model, extra = model_file, []
    if case in ("multi-output", "dict-output"):
        model = fault_files[case.split("-")[0]]
    elif case == "surrogate-multi-output":
        extra = ["--surrogate", str(fault_files["multi"])]
    elif case == "preprocess-raises":
        extra = ["--preprocess", "tests.eval.test_faults._raises"]
    elif case == "truncated-png":
        extra = ["--dataset", str(fault_files["folder"]), "--n", "20"]
    else:
        extra = ["--outputs", "probs"]
    out = tmp_path / "audit"
    code = main(audit_args(model, out, *extra, data_dir=fault_files["data"]))
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("tfls audit: error: ")]
    assert code == 2 and len(errors) == 1, lines
    assert len(lines) == 1, lines
    assert re.search(pattern, errors[0]), errors[0]
    assert not out.exists()


@pytest.fixture(scope="module")
def fault_files(tmp_path_factory, shared_data_dir):
    from tests.eval.test_faults import bad_data, save_heads

    root = tmp_path_factory.mktemp("audit-faults")
    return {
        "multi": save_heads(root / "multi.keras", "list"),
        "dict": save_heads(root / "dict.keras", "dict"),
        "data": shared_data_dir,
        **bad_data(root / "data"),
    }


def test_default_out_is_next_to_the_model(tmp_path):
    from tfls.cli.audit import default_out

    run = tmp_path / "run"
    run.mkdir()
    assert default_out(run, "8/255") == run / "audit-8-255"
    assert default_out(tmp_path / "m.keras", "0.03") == tmp_path / "m.audit-0.03"


@pytest.mark.slow
def test_audit_runs_prints_within_100_columns_and_resumes(
    model_file, tmp_path, capsys, shared_data_dir
):
    out = tmp_path / "audit"
    args = audit_args(model_file, out, data_dir=shared_data_dir)
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Verdict:" in printed and "Report the worst case over" in printed
    assert max(len(line) for line in printed.splitlines()) <= 100
    first = json.loads((out / "audit.json").read_text())
    assert {p.name for p in out.iterdir()} >= {"audit.json", "audit.md", "loss_traces.png"}
    (out / "checks" / "4.json").unlink()
    assert main(args) == 0
    second = json.loads((out / "audit.json").read_text())
    first["meta"].pop("seconds"), second["meta"].pop("seconds")
    assert first == second
    keras.backend.clear_session()


@pytest.mark.slow
def test_sigkill_mid_audit_then_the_same_command_loses_nothing(
    model_file, tmp_path, capsys, shared_data_dir
):
    """SIGKILL while checks are being written: the rerun keeps every finished check file as it was,
    finishes, and reports exactly what an uninterrupted audit reports."""
    killed = tmp_path / "killed"
    args = audit_args(model_file, killed, data_dir=shared_data_dir)
    args[args.index("--n") + 1] = "200"
    checks = killed / "checks"
    sigkill_cli_when(
        args, lambda: checks.is_dir() and len(list(checks.glob("*.json"))) >= 2, what="audit"
    )
    assert not (killed / "audit.json").exists()
    kept = {p.name: p.read_bytes() for p in checks.glob("*.json")}
    assert kept

    assert main(args) == 0  # the same command resumes
    assert {p.name: p.read_bytes() for p in checks.glob("*.json") if p.name in kept} == kept

    straight = tmp_path / "straight"
    straight_args = list(args)
    straight_args[straight_args.index("--out") + 1] = str(straight)
    assert main(straight_args) == 0
    capsys.readouterr()
    resumed = json.loads((killed / "audit.json").read_text())
    whole = json.loads((straight / "audit.json").read_text())
    for report in (resumed, whole):
        report["meta"].pop("seconds", None)
        report["meta"].pop("out", None)
    assert resumed == whole
    keras.backend.clear_session()


@pytest.mark.parametrize("columns", [80, 100, 140])
def test_the_table_keeps_its_numbers_readable_at_80_columns(columns):
    """At 80 columns (a piped terminal) the numbers column still shows whole `name=value`s."""
    from types import SimpleNamespace

    from rich.console import Console

    from tfls.checks.result import CheckResult
    from tfls.cli.audit import print_report

    checks = [
        CheckResult(
            6,
            "Single-step beats iterative",
            "ok",
            "fgsm breaks 0 points",
            numbers={"only_a": 0, "only_b": 18, "points": 100, "note": "not a number"},
            kind="evidence",
            p_adjusted=1.0,
        ),
        CheckResult(
            2,
            "Randomness",
            "ok",
            "deterministic",
            numbers={"passes": 5, "points": 100},
            kind="diagnostic",
        ),
    ]
    report = SimpleNamespace(
        checks=checks,
        verdict="no masking found",
        reason="No test is significant.",
        worst_case_line=lambda: "Worst case 31.0%.",
        evaluator_line=lambda: None,
        skipped_evidence=[],
        recommended_suite=["autoattack"],
    )
    console = Console(width=columns, record=True, color_system=None)
    print_report(report, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= min(columns, 100)
    assert "only_a=0, only_b=18," in text and "passes=5, points=100" in text
    assert "not a number" not in text  # the numbers column holds numbers
    assert ("E evidence" in text) == (columns < 100)
