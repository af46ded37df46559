import json

import numpy as np
import pytest

from tfls import TflsWarning
from tfls.eval.fingerprint import differences
from tfls.eval.record_format import batch_digest, bind, decode_bits, encode_bits
from tfls.eval.store import FORMAT, BatchStore, read_records

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


def write_store(tmp_path, count=3):
    with BatchStore(tmp_path) as store:
        store.open(COMPONENTS)
        for i in range(count):
            store.append(record(i))
    return tmp_path / "batches.jsonl"


def reopen(tmp_path, components=COMPONENTS):
    with BatchStore(tmp_path) as store:
        return [r["batch"] for r in store.open(components)]


def test_damage_before_the_last_line_is_recovered_naming_the_line(tmp_path):
    path = write_store(tmp_path, 2)
    lines = path.read_text().splitlines()
    path.write_text(lines[0][:-3] + "\n" + lines[1] + "\n")
    with pytest.warns(TflsWarning, match=r"line 1 is not a valid JSON record.*kept the 0 batch"):
        assert reopen(tmp_path) == []
    assert path.read_text() == ""  # cut away on close: the next run recomputes batch 0 on


def test_garbage_on_the_last_line_is_called_the_last_line(tmp_path):
    path = write_store(tmp_path, 2)
    with open(path, "a") as f:
        f.write("garbage\n")
    with pytest.warns(TflsWarning, match=r"line 3 is not a valid JSON record.*kept the 2"):
        assert reopen(tmp_path) == [0, 1]
    assert len(path.read_text().splitlines()) == 2


def edit_line(path, index, change):
    lines = path.read_text().splitlines()
    r = json.loads(lines[index])
    change(r)
    lines[index] = json.dumps(r)
    path.write_text("\n".join(lines) + "\n")


def test_records_carry_a_checksum_and_an_edit_is_caught(tmp_path):
    path = write_store(tmp_path, 3)
    assert all(json.loads(line)["checksum"] for line in path.read_text().splitlines())
    # A point robust to `a` in batch 1 is made non-robust: consistent, but not what was computed.
    edit_line(path, 1, lambda r: r["robust"].update(a="00"))
    with pytest.warns(TflsWarning, match=r"line 2 fails its checksum.*kept the 1 batch"):
        assert reopen(tmp_path) == [0]
    assert len(path.read_text().splitlines()) == 1


def test_robust_but_not_clean_is_refused_even_with_a_valid_checksum(tmp_path):
    path = write_store(tmp_path, 2)
    evaluation = json.loads((tmp_path / "fingerprint.json").read_text())["digest"]

    def robust_not_clean(r):  # what a buggy writer would produce, checksummed as it wrote it
        r["clean"], r["robust"]["a"] = "10", "01"
        r.update(bind(r, evaluation))

    edit_line(path, 1, robust_not_clean)
    with pytest.warns(TflsWarning, match=r"line 2 counts a point robust to 'a' that is not clean"):
        assert reopen(tmp_path) == [0]


def test_a_record_without_its_checksum_is_refused_and_recomputed(tmp_path):
    path = write_store(tmp_path, 2)
    edit_line(path, 1, lambda r: r.pop("checksum"))
    with pytest.warns(TflsWarning, match=r"line 2 has no checksum.*kept the 1 batch"):
        assert reopen(tmp_path) == [0]
    assert len(path.read_text().splitlines()) == 1


def test_a_record_of_another_evaluation_is_refused_by_name(tmp_path):
    """The same batch of another evaluation, intact and checksummed, copied in: never scored."""
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    path = write_store(mine, 2)
    with BatchStore(theirs) as store:
        store.open({**COMPONENTS, "n": 12})
        store.append({**record(0), "robust": {"a": "11"}})
        store.append({**record(1), "robust": {"a": "11"}})
    lines = path.read_text().splitlines()
    foreign = (theirs / "batches.jsonl").read_text().splitlines()
    path.write_text(lines[0] + "\n" + foreign[1] + "\n")
    with pytest.warns(TflsWarning, match=r"line 2 belongs to another evaluation.*kept the 1"):
        assert reopen(mine) == [0]
    assert read_records(mine) == [json.loads(lines[0])]


def test_a_merged_store_keeps_only_its_own_prefix(tmp_path):
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    path = write_store(mine, 3)
    with BatchStore(theirs) as store:
        store.open({**COMPONENTS, "n": 11})
        for i in range(3):
            store.append(record(i))
    ours = path.read_text().splitlines()
    other = (theirs / "batches.jsonl").read_text().splitlines()
    path.write_text("\n".join([ours[0], other[1], ours[2]]) + "\n")
    with pytest.warns(TflsWarning, match=r"line 2 belongs to another evaluation"):
        assert reopen(mine) == [0]


def test_a_store_of_the_first_format_is_recomputed_saying_so(tmp_path):
    write_store(tmp_path, 2)
    fp = tmp_path / "fingerprint.json"
    stored = json.loads(fp.read_text())
    del stored["format"]
    fp.write_text(json.dumps(stored))
    with pytest.warns(TflsWarning, match=r"older tfls \(store format 1\).*every batch will be"):
        assert reopen(tmp_path) == []
    assert json.loads(fp.read_text())["format"] == FORMAT
    assert not (tmp_path / "batches.jsonl").exists()


def test_a_store_of_an_unknown_format_is_refused_by_name(tmp_path):
    write_store(tmp_path, 1)
    fp = tmp_path / "fingerprint.json"
    before = fp.read_text()
    fp.write_text(before.replace(f'"format": {FORMAT}', '"format": 99'))
    with pytest.raises(ValueError, match=r"store format 99, which this tfls does not read"):
        reopen(tmp_path)
    assert len((tmp_path / "batches.jsonl").read_text().splitlines()) == 1


def test_results_without_a_fingerprint_are_recomputed_saying_so(tmp_path):
    write_store(tmp_path, 2)
    (tmp_path / "fingerprint.json").unlink()
    with pytest.warns(TflsWarning, match=r"no fingerprint\.json.*every batch will be recomputed"):
        assert reopen(tmp_path) == []


def test_a_failure_before_the_first_batch_leaves_no_trace(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(RuntimeError, match="model broke"):
        with BatchStore(out) as store:
            store.open(COMPONENTS)
            raise RuntimeError("model broke")
    assert not out.exists()


def test_overwrite_that_fails_before_the_first_batch_keeps_the_old_results(tmp_path):
    path = write_store(tmp_path, 2)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RuntimeError):
        with BatchStore(tmp_path) as store:
            store.open({**COMPONENTS, "n": 4}, resume=False)
            raise RuntimeError("model broke")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert len(path.read_text().splitlines()) == 2


def test_a_folder_without_a_finished_batch_is_reused(tmp_path):
    with BatchStore(tmp_path) as store:
        store.open(COMPONENTS)  # a run that stopped before its first batch (SIGKILL)
    assert reopen(tmp_path, {**COMPONENTS, "n": 4}) == []
    assert json.loads((tmp_path / "fingerprint.json").read_text())["components"]["n"] == 4


def test_an_empty_fingerprint_is_named(tmp_path):
    write_store(tmp_path, 1)
    (tmp_path / "fingerprint.json").write_text("")
    with pytest.raises(ValueError, match=r"fingerprint\.json' is unreadable \(it is empty\)"):
        reopen(tmp_path)


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
