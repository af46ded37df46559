from __future__ import annotations

import json

from tfls.recipes import summary


def _run(folder, recipe, claims, paper_claims=()):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(
        json.dumps(
            {
                "recipe": recipe,
                "scale": "cpu",
                "claims": list(claims),
                "paper_claims": list(paper_claims),
            }
        )
    )
    return folder


def _claim(cid, verdict, variant="", detail="x"):
    return {
        "id": cid,
        "variant": variant,
        "verdict": verdict,
        "statement": f"statement {cid}",
        "criterion": "c",
        "detail": detail,
    }


def test_summary_lists_every_verdict_beside_the_papers(tmp_path, capsys):
    a = _run(
        tmp_path / "t4",
        "table4",
        [_claim("C5", "not held", detail="a | b"), _claim("C4", "held")],
        [_claim("C5", "held")],
    )
    b = _run(tmp_path / "t1", "table1", [_claim("C1", "held", variant="CIFAR, PGD-20")])
    out = tmp_path / "CLAIMS.md"
    assert summary.main([str(a), str(b), "--out", str(out)]) == 0
    table = json.loads(out.with_suffix(".json").read_text())["claims"]
    assert [(r["claim"], r["verdict"], r["paper_verdict"]) for r in table] == [
        ("C1", "held", "n/a"),
        ("C4", "held", "n/a"),
        ("C5", "not held", "held"),
    ]
    text = out.read_text()
    assert "| C1 [CIFAR, PGD-20] | table1 | cpu | **held** | n/a |" in text
    assert "a / b" in text  # a pipe in the numbers does not break the table


def test_summary_names_a_folder_without_results(tmp_path, capsys):
    assert summary.main([str(tmp_path)]) == 2
    assert "has no results.json" in capsys.readouterr().err
