"""`tfls.eval.evidence.read_evidence`: the per-example bits agree with the report's counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.eval.helpers import dataset, deterministic_attacks, tiny_data, tiny_model
from tfls.eval import evaluate
from tfls.eval.evidence import read_evidence


def test_evidence_matches_the_report_example_by_example(tmp_path):
    model = tiny_model()
    x, y = tiny_data(model, n=40)
    report = evaluate(model, dataset(x, y), deterministic_attacks(model), out=tmp_path)
    ev = read_evidence(tmp_path)
    assert ev.images == report.images == len(y)
    np.testing.assert_array_equal(ev.clean, np.argmax(np.asarray(model(x)), -1) == y)
    for name, result in report.attacks.items():
        assert int(ev.robust[name].sum()) == result.robust
        assert not (ev.robust[name] & ~ev.clean).any()  # robust implies correct clean
        np.testing.assert_array_equal(ev.broken(name), ev.clean & ~ev.robust[name])
    assert int(ev.worst_case.sum()) == report.worst_case


def test_a_torn_last_line_is_ignored(tmp_path):
    model = tiny_model()
    x, y = tiny_data(model, n=32)
    evaluate(model, dataset(x, y), deterministic_attacks(model), out=tmp_path)
    path = tmp_path / "batches.jsonl"
    path.write_text(path.read_text() + '{"batch": 2, "clea')
    assert read_evidence(tmp_path).images == 32


def test_no_results_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No evaluation results"):
        read_evidence(tmp_path)


def test_a_record_failing_its_checksum_ends_the_evidence(tmp_path):
    model = tiny_model()
    x, y = tiny_data(model, n=48)
    evaluate(model, dataset(x, y), deterministic_attacks(model), out=tmp_path)
    path = tmp_path / "batches.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) == 3
    # Edit the second batch's clean bits, keeping its old checksum: it no longer matches.
    record = json.loads(lines[1])
    record["clean"] = "0" * len(record["clean"])
    record["robust"] = {k: "0" * len(v) for k, v in record["robust"].items()}
    edited = json.dumps(record) + "\n"
    path.write_text(lines[0] + edited + lines[2])
    assert read_evidence(tmp_path).images == 16
