"""The evaluator's number beside the audit's: which saved evaluations match, and the summary line."""

from __future__ import annotations

import json

import pytest

from tests import tiny_models
from tfls.audit.alongside import Alongside, find

SHA = "ab" * 32


def write_report(folder, **changes):
    """A `report.json` as `tfls eval` writes it (the fields `find` reads), with `changes`."""
    report = {
        "images": 500,
        "complete": True,
        "norm": "linf",
        "eps": 0.03,
        "worst_case_accuracy": 0.166,
        "worst_case_interval": [0.136, 0.201],
        "attacks": {"fgsm": {}, "pgd20": {}, "odi": {}, "apgd-ce": {}},
        "model": {"weights_sha256": SHA},
        "meta": {"dataset": "fashion_mnist", "split": "test"},
    }
    for key, value in changes.items():
        if key in ("dataset", "split"):
            report["meta"][key] = value
        elif key == "sha":
            report["model"]["weights_sha256"] = value
        else:
            report[key] = value
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def look(root, **kw):
    query = dict(weights_sha256=SHA, eps=0.03, norm="linf", images=500)
    query.update(dataset="fashion_mnist", split="test")
    return find([root], **{**query, **kw})


def test_a_finished_evaluation_of_the_same_weights_eps_and_points_is_found(tmp_path):
    write_report(tmp_path / "eval-0.03")
    found = look(tmp_path)
    assert found == Alongside(
        path=str(tmp_path / "eval-0.03"),
        attacks=("fgsm", "pgd20", "odi", "apgd-ce"),
        worst_case=0.166,
        interval=(0.136, 0.201),
        images=500,
    )
    assert Alongside.from_dict(found.to_dict()) == found


@pytest.mark.parametrize(
    "change",
    [
        {"sha": "cd" * 32},  # other weights
        {"eps": 0.031},
        {"norm": "l2"},
        {"images": 499},
        {"complete": False},  # a partial evaluation is not the evaluator's number
        {"dataset": "mnist"},
        {"split": "train"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_anything_else_is_not_shown(tmp_path, change):
    write_report(tmp_path / "eval", **change)
    assert look(tmp_path) is None


def test_the_lowest_of_several_matches_and_unreadable_files_are_passed_over(tmp_path):
    write_report(tmp_path / "a", worst_case_accuracy=0.30)
    write_report(tmp_path / "b", worst_case_accuracy=0.20, attacks={"pgd20": {}, "odi": {}})
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "report.json").write_text("{ torn")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "report.json").write_text(json.dumps({"images": "many"}))
    found = look(tmp_path)
    assert found.path == str(tmp_path / "b") and found.attacks == ("pgd20", "odi")
    assert look(tmp_path / "missing") is None and find([None], **_query()) is None


def _query():
    return dict(weights_sha256=SHA, eps=0.03, norm="linf", images=500)


def test_the_sentence_says_which_attacks_and_which_number_is_lower():
    a = Alongside("runs/m/eval", ("fgsm", "odi"), 0.166, (0.136, 0.201), 500)
    lower = a.sentence(0.302)
    assert "worst case over fgsm, odi of 16.6% [13.6%, 20.1%]" in lower
    assert "lower than the audit's; report 16.6%" in lower
    assert "lower" not in a.sentence(0.10)


def test_an_audit_shows_the_evaluation_of_the_same_model_beside_its_worst_case(tmp_path):
    import tfls.attacks
    import tfls.eval
    from tfls.audit import AuditReport, audit

    model = tiny_models.trained_tiny_mlp()
    x, y = tiny_models.make_prototype_data(40, seed=3)
    attacks = tfls.attacks.suite(model, "fgsm,pgd10", eps=0.1)
    evaluated = tfls.eval.evaluate(model, (x, y), attacks, out=tmp_path / "run" / "eval")
    report = audit(
        model,
        (x, y),
        eps=0.1,
        budget="quick",
        out=tmp_path / "audit",
        evaluations=[tmp_path / "run"],
    )
    assert report.evaluator is not None
    assert report.evaluator["attacks"] == ["fgsm", "pgd10"] or report.evaluator["attacks"] == (
        "fgsm",
        "pgd10",
    )
    assert report.evaluator["worst_case"] == pytest.approx(evaluated.worst_case_accuracy)
    text = (tmp_path / "audit" / "audit.md").read_text()
    assert "tfls eval on the same weights, ε and 40 images" in " ".join(text.split())
    assert (
        AuditReport.load(tmp_path / "audit").evaluator
        == json.loads((tmp_path / "audit" / "audit.json").read_text())["evaluator"]
    )
    # Another ε: the evaluation is not the same threat model, so nothing is shown.
    other = audit(model, (x, y), eps=0.05, budget="quick", evaluations=[tmp_path / "run"])
    assert other.evaluator is None
