"""A full disk and a read-only folder under `tfls train` and `tfls eval`: one line naming the
file, nothing of the user's lost, and once there is room (or write access) again, the command the
message asks for ends where an uninterrupted run ends.

The full disk is injected (an `OSError(ENOSPC)` from `fsync`, a `ResourceExhaustedError` from
TensorFlow's checkpoint writer, as a real one raises) and, where this process may mount, real: a
small tmpfs. A read-only folder is a read-only bind mount (root ignores file modes).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from tests.faults import harness
from tests.faults.conftest import eval_args, records, report_numbers
from tfls.cli.main import main

TRAIN = (
    "train", "--dataset", "fashion_mnist", "--model", "cnn4", "--epochs", 3, "--limit", 512,
    "--batch-size", 64, "--seed", 0, "--quiet",
)  # fmt: skip


def cli(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("tfls ")], err


def fail_on_call(monkeypatch, target, name, k, error):
    """Makes `target.name` raise `error` on its k-th call (1-based), and only then."""
    real = getattr(target, name)
    calls = {"n": 0}

    def patched(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == k:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, patched)
    return calls


def can_mount() -> bool:
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["mount", "--help"], capture_output=True)
    return probe.returncode == 0


@contextlib.contextmanager
def tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    if done.returncode != 0:
        pytest.skip("this machine does not let the tests mount a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)])


@contextlib.contextmanager
def read_only(path):
    """`path` made read-only in place (a read-only bind mount over itself)."""
    steps = [
        ["mount", "--bind", str(path), str(path)],
        ["mount", "-o", "remount,bind,ro", str(path)],
    ]
    for step in steps:
        if subprocess.run(step, capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
            pytest.skip("this machine does not let the tests make a read-only bind mount")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)])


needs_mount = pytest.mark.skipif(not can_mount(), reason="needs root and mount(8)")


# -- tfls eval ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eval_reference(tmp_path_factory, model_file, shared_data_dir):
    out = tmp_path_factory.mktemp("disk-eval-reference") / "ev"
    assert main([str(a) for a in eval_args(model_file, out, shared_data_dir, n=200)]) == 0
    return records(out), report_numbers(out)


@pytest.mark.parametrize("k", [1, 7])  # the fingerprint's write, a batch line's fsync
def test_eval_full_disk_is_one_line_and_resumes(
    k, monkeypatch, capsys, eval_reference, model_file, shared_data_dir, tmp_path
):
    out = tmp_path / "ev"
    args = eval_args(model_file, out, shared_data_dir, n=200)
    with monkeypatch.context() as m:
        fail_on_call(m, os, "fsync", k, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        code, lines, err = cli(args, capsys)
    assert code == 2 and len(lines) == 1, err
    assert "No space left on device" in lines[0] and str(out) in lines[0], lines[0]
    assert not (out / "report.json").exists()
    kept = (out / "batches.jsonl").read_text() if (out / "batches.jsonl").exists() else ""
    assert all(line.endswith("}") for line in kept.splitlines()), "a fragment was left behind"
    assert cli(args, capsys)[0] == 0  # room again: the same command
    assert (records(out), report_numbers(out)) == eval_reference


@needs_mount
def test_eval_on_a_really_full_disk_keeps_the_users_file(
    capsys, eval_reference, model_file, shared_data_dir, tmp_path
):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        ballast = disk / "user-data.bin"
        # Leave about 6 KiB: a few batch lines fit, the rest of the evaluation does not.
        ballast.write_bytes(os.urandom(64 * 1024 - 6 * 1024 - 4096))
        digest = harness.snapshot(disk)
        out = disk / "ev"
        args = eval_args(model_file, out, shared_data_dir, n=200)
        code, lines, err = cli(args, capsys)
        assert code == 2 and len(lines) == 1 and "No space left on device" in lines[0], err
        assert harness.snapshot(disk, skip=out) == digest
        ballast.unlink()  # the user makes room
        assert cli(args, capsys)[0] == 0
        assert (records(out), report_numbers(out)) == eval_reference


@needs_mount
def test_eval_into_a_read_only_folder_changes_nothing(
    monkeypatch, capsys, eval_reference, model_file, shared_data_dir, tmp_path
):
    out = tmp_path / "ev"
    args = eval_args(model_file, out, shared_data_dir, n=200)
    with monkeypatch.context() as m:  # a partial evaluation to protect
        fail_on_call(m, os, "fsync", 6, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        assert cli(args, capsys)[0] == 2
    before = harness.snapshot(out)
    with read_only(out):
        code, lines, err = cli(args, capsys)
        assert code == 2 and len(lines) == 1 and "Read-only file system" in lines[0], err
        assert harness.snapshot(out) == before
    assert cli(args, capsys)[0] == 0
    assert (records(out), report_numbers(out)) == eval_reference


# -- tfls train --------------------------------------------------------------------------------


def train_args(out, data_dir):
    return [*TRAIN, "--out", out, "--data-dir", data_dir]


def weights(folder):
    import keras

    import tfls.models  # noqa: F401

    return keras.models.load_model(folder / "model.keras").get_weights()


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory, shared_data_dir):
    out = tmp_path_factory.mktemp("disk-train-reference") / "run"
    assert main([str(a) for a in train_args(out, shared_data_dir)]) == 0
    return json.loads((out / "run.json").read_text())["history"], weights(out)


def assert_same_training(out, reference):
    history, want = reference
    got = json.loads((out / "run.json").read_text())["history"]
    assert [h["loss"] for h in got] == pytest.approx([h["loss"] for h in history], rel=1e-5)
    for a, b in zip(weights(out), want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_train_full_disk_while_checkpointing_is_one_line_and_resumes(
    monkeypatch, capsys, train_reference, shared_data_dir, tmp_path
):
    import tensorflow as tf

    from tfls.training.run_folder import latest_checkpoint

    out = tmp_path / "run"
    args = train_args(out, shared_data_dir)
    full = tf.errors.ResourceExhaustedError(None, None, "epoch-2.data; No space left on device")
    with monkeypatch.context() as m:
        fail_on_call(m, tf.train.CheckpointManager, "save", 2, full)
        code, lines, err = cli(args, capsys)
    assert code == 2 and len(lines) == 1, err
    assert "No space left on device" in lines[0] and "epoch-2" in lines[0], lines[0]
    assert latest_checkpoint(out).name == "epoch-1"
    assert not list((out / "checkpoints").glob("*_temp"))
    assert cli([*args, "--resume"], capsys)[0] == 0
    assert_same_training(out, train_reference)


@needs_mount
def test_train_on_a_really_full_disk_resumes_once_there_is_room(
    capsys, train_reference, shared_data_dir, tmp_path
):
    from tfls.training.run_folder import latest_checkpoint

    with tmpfs(tmp_path / "disk", "6m") as disk:  # one checkpoint of cnn4 fits, two do not
        out = disk / "run"
        args = train_args(out, shared_data_dir)
        code, lines, err = cli(args, capsys)
        assert code == 2 and len(lines) == 1 and "No space left on device" in lines[0], err
        assert latest_checkpoint(out).name == "epoch-1"
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        assert cli([*args, "--resume"], capsys)[0] == 0
        assert_same_training(out, train_reference)


@needs_mount
def test_train_resume_in_a_read_only_folder_changes_nothing(
    monkeypatch, capsys, shared_data_dir, tmp_path
):
    import tensorflow as tf

    out = tmp_path / "run"
    args = train_args(out, shared_data_dir)
    full = tf.errors.ResourceExhaustedError(None, None, "No space left on device")
    with monkeypatch.context() as m:
        fail_on_call(m, tf.train.CheckpointManager, "save", 2, full)
        assert cli(args, capsys)[0] == 2
    before = harness.snapshot(out)
    with read_only(out):
        code, lines, err = cli([*args, "--resume"], capsys)
        assert code == 2 and len(lines) == 1 and "Read-only file system" in lines[0], err
        assert harness.snapshot(out) == before
