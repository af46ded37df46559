"""The form parsing (`tui.request`) and run discovery (`tui.runs`), without a UI."""

from __future__ import annotations

import json

import pytest

from tests.tui.fakes import write_run
from tui.request import AttackChoice, make_plan, parse_eps_list, parse_overrides
from tui.runs import discover_runs, read_run, results_key, saved_results

PGD = ("steps", "step_size", "restarts", "loss")


def test_eps_accepts_fractions_and_decimals():
    assert parse_eps_list("8/255, 0.031") == [("8/255", pytest.approx(8 / 255)), ("0.031", 0.031)]
    assert parse_eps_list("0.5 1.5", norm="l2")[1][1] == 1.5  # L2 radii may exceed 1


@pytest.mark.parametrize(
    ("text", "needle"), [("abc", "eps='abc'"), ("-1/255", "eps=-0.0039"), ("2", "2/255")]
)
def test_bad_eps_names_the_value(text, needle):
    with pytest.raises(ValueError, match="Received") as info:
        parse_eps_list(text)
    assert needle in str(info.value)


def test_overrides_parse_and_refuse_by_name():
    fields = {"steps": " 40 ", "step_size": "2/255", "restarts": "", "loss": "margin"}
    got = parse_overrides(fields, allowed=PGD, losses=("ce", "margin"))
    assert got == {"steps": 40, "step_size": pytest.approx(2 / 255), "loss": "margin"}
    for fields, needle in [
        ({"steps": "-3"}, "steps=-3"),
        ({"restarts": "1.5"}, "restarts='1.5'"),
        ({"loss": "hinge"}, "loss='hinge'"),
        ({"step_size": "x"}, "eps='x'"),
    ]:
        with pytest.raises(ValueError, match="Received") as info:
            parse_overrides(fields, allowed=PGD, losses=("ce", "margin"))
        assert needle in str(info.value)
    with pytest.raises(ValueError, match="no parameter `steps`"):
        parse_overrides({"steps": "3"}, allowed=("loss",), losses=("ce",))


def test_make_plan_sweep_orders_and_deduplicates(tmp_path):
    run = read_run(write_run(tmp_path, "r", alpha=0.9))
    plan = make_plan(
        [run],
        [AttackChoice("pgd20")],
        eps_text="8/255",
        sweep_text="2/255, 0.0313725490196, 4/255",
        n_text="100",
        batch_text="500",
    )
    assert plan.eps_labels == ("2/255", "4/255", "8/255")
    assert plan.batch_size == 100 and plan.total_images == 300 and plan.is_sweep
    with pytest.raises(ValueError, match="Select at least one defense"):
        make_plan([], [AttackChoice("pgd20")], eps_text="8/255")
    with pytest.raises(ValueError, match="at least one attack"):
        make_plan([run], [], eps_text="8/255")
    with pytest.raises(ValueError, match="norm='l3'"):
        make_plan([run], [AttackChoice("pgd20")], eps_text="8/255", norm="l3")


def test_results_key_is_stable_and_separates_what_differs():
    base = results_key([("pgd20", {}), ("odi", {})], eps=8 / 255, norm="linf", n=500)
    assert base == "pgd20+odi_linf_eps0.0313725_n500"
    assert base == results_key([("pgd20", {}), ("odi", {})], eps=8 / 255, norm="linf", n=500)
    others = {
        results_key([("pgd20", {"steps": 40}), ("odi", {})], eps=8 / 255, norm="linf", n=500),
        results_key([("pgd20", {}), ("odi", {})], eps=4 / 255, norm="linf", n=500),
        results_key([("pgd20", {}), ("odi", {})], eps=8 / 255, norm="l2", n=500),
        results_key([("pgd20", {}), ("odi", {})], eps=8 / 255, norm="linf", n=100),
    }
    assert len(others) == 4 and base not in others


def test_discover_runs_reads_run_json_and_survives_a_broken_one(tmp_path):
    write_run(tmp_path, "b", alpha=0.9, clean=0.5)
    write_run(tmp_path, "a", alpha=0.0)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    (tmp_path / "not-a-run").mkdir()
    runs = discover_runs(tmp_path)
    assert [r.name for r in runs] == ["a", "b", "broken"]
    assert runs[1].label_smoothing == 0.9 and runs[1].clean_text == "50.0%"
    assert runs[2].error and "unreadable" in runs[2].summary
    assert discover_runs(tmp_path / "a")[0].name == "a"  # a run folder itself
    with pytest.raises(FileNotFoundError, match="runs='.*missing'"):
        discover_runs(tmp_path / "missing")


def test_saved_results_lists_only_app_sessions(tmp_path):
    run = write_run(tmp_path, "r", alpha=0.9)
    mine = run / "results" / "k1"
    mine.mkdir(parents=True)
    (mine / "tui.json").write_text(
        json.dumps({"attacks": [{"name": "pgd20"}], "eps_label": "8/255", "norm": "linf"})
    )
    (mine / "report.json").write_text(
        json.dumps({"images": 10, "worst_case_accuracy": 0.25, "complete": False})
    )
    (run / "results" / "cli-only").mkdir()
    found = saved_results(run)
    assert [r.folder.name for r in found] == ["k1"]
    assert "partial" in found[0].summary and "25.0%" in found[0].summary


def test_runs_path_that_is_a_file_is_not_called_missing(tmp_path, capsys):
    from tui.app import main

    path = tmp_path / "runs.txt"
    path.write_text("x")
    with pytest.raises(FileNotFoundError, match=r"is a file, not a folder of runs"):
        discover_runs(path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        f"--runs must be a folder of runs, not a file. Received: runs={str(path)!r}"
    )
