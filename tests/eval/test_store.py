import json

import numpy as np
import pytest

from tfls.eval.store import BatchStore, batch_digest, decode_bits, differences, encode_bits

COMPONENTS = {"model": {"weights_sha256": "abc"}, "attacks": {"pgd20": {"steps": 20}}, "n": 10}


def record(i):
    return {"batch": i, "n": 2, "digest": f"d{i}", "clean": "11", "robust": {"a": "10"}}


def test_bits_round_trip():
    mask = np.array([True, False, False, True, True])
    assert encode_bits(mask) == "10011"
    np.testing.assert_array_equal(decode_bits("10011"), mask)


def test_digest_sees_values_shape_and_order():
    x = np.zeros((2, 3), np.float32)
    y = np.array([0, 1], np.int32)
    assert batch_digest(x, y) == batch_digest(x.copy(), y.copy())
    assert batch_digest(x, y) != batch_digest(x, y[::-1].copy())
    assert batch_digest(x, y) != batch_digest(x.reshape(3, 2), y)


def test_append_then_resume_reads_records(tmp_path):
    with BatchStore(tmp_path) as store:
        assert list(store.open(COMPONENTS)) == []
        store.append(record(0))
        store.append(record(1))
    with BatchStore(tmp_path) as store:
        assert [r["batch"] for r in store.open(COMPONENTS)] == [0, 1]


def test_torn_last_line_is_dropped_and_truncated(tmp_path):
    with BatchStore(tmp_path) as store:
        store.open(COMPONENTS)
        store.append(record(0))
    path = tmp_path / "batches.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps(record(1))[:17])  # a kill in the middle of a write
    with BatchStore(tmp_path) as store:
        assert [r["batch"] for r in store.open(COMPONENTS)] == [0]
        store.append(record(1))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["batch"] for line in lines] == [0, 1]


def test_damage_before_the_last_line_is_an_error(tmp_path):
    with BatchStore(tmp_path) as store:
        store.open(COMPONENTS)
        store.append(record(0))
        store.append(record(1))
    path = tmp_path / "batches.jsonl"
    lines = path.read_text().splitlines()
    path.write_text(lines[0][:-3] + "\n" + lines[1] + "\n")
    with pytest.raises(ValueError, match="damaged at line 1"):
        BatchStore(tmp_path).open(COMPONENTS)


def test_different_fingerprint_is_refused_with_the_differences(tmp_path):
    with BatchStore(tmp_path) as store:
        store.open(COMPONENTS)
        store.append(record(0))
    other = {**COMPONENTS, "attacks": {"pgd20": {"steps": 10}}}
    with pytest.raises(ValueError, match=r"different evaluation.*attacks\.pgd20\.steps: 20 -> 10"):
        BatchStore(tmp_path).open(other)
    # resume=False starts over instead.
    with BatchStore(tmp_path) as store:
        assert list(store.open(other, resume=False)) == []
    assert not (tmp_path / "batches.jsonl").exists()


def test_second_writer_is_refused(tmp_path):
    with BatchStore(tmp_path) as store:
        store.open(COMPONENTS)
        with pytest.raises(ValueError, match="Another evaluation is writing"):
            BatchStore(tmp_path).open(COMPONENTS)


def test_differences_lists_paths():
    assert differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3, "d": 4}}) == [
        "a.c: 2 -> 3",
        "a.d: (absent) -> 4",
    ]
