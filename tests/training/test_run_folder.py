"""`tfls.training.train` end to end on a few hundred Fashion-MNIST images: the run folder, resume,
overwrite, failure clean-up and `load_run`'s errors."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from tfls.training import TrainConfig, load_run, train
from tfls.training import run_folder as rf

RUN_KEYS = {
    "dataset", "model", "method", "label_smoothing", "eps", "epochs", "seed", "batch_size",
    "num_classes", "input_shape", "clean_accuracy", "logit_stats", "versions", "wall_time_s",
    "created",
}  # fmt: skip


def tiny_config(data_dir, **changes):
    base = dict(
        dataset="fashion_mnist",
        model="cnn4",
        label_smoothing=0.5,
        epochs=2,
        batch_size=64,
        limit=256,
        seed=3,
        data_dir=str(data_dir),
    )
    return TrainConfig(**{**base, **changes})


def interrupt_after_first_epoch(data_dir, out):
    """Trains `tiny_config` into `out` and stops it right after epoch 1's checkpoint."""

    class Stop(Exception):
        pass

    def stop_after_first(epoch, logs):
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        train(tiny_config(data_dir), out, on_epoch=stop_after_first)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, shared_data_dir):
    out = tmp_path_factory.mktemp("runs") / "ls05"
    seen = []
    result = train(
        tiny_config(shared_data_dir), out, on_epoch=lambda e, logs: seen.append((e, logs))
    )
    return out, result, seen


def test_run_folder_is_complete(finished_run):
    out, result, seen = finished_run
    assert {p.name for p in out.iterdir()} == {
        "model.keras",
        "run.json",
        "config.json",
        "checkpoints",
        "logs",
    }
    run = json.loads((out / "run.json").read_text())
    assert RUN_KEYS <= set(run)
    assert (
        run["label_smoothing"] == 0.5 and run["epochs"] == 2 and run["input_shape"] == [28, 28, 1]
    )
    assert 0.0 <= run["clean_accuracy"] <= 1.0 and run["wall_time_s"] > 0
    stats = run["logit_stats"]
    assert stats["min"] < stats["max"] and stats["mean_margin"] >= 0
    assert [p.name for p in rf.list_checkpoints(out)] == ["epoch-1", "epoch-2"]
    assert list((out / "logs").rglob("events.out.tfevents*"))
    assert [e for e, _ in seen] == [1, 2] and {"loss", "accuracy", "epochs"} <= set(seen[0][1])
    assert [h["epoch"] for h in run["history"]] == [1, 2]


def test_load_run_gives_the_trained_model(finished_run, shared_data_dir):
    from tfls import data
    from tfls.analysis import accuracy_and_logit_stats

    out, result, _ = finished_run
    model, run = load_run(out)
    assert run == json.loads((out / "run.json").read_text())
    test = data.load("fashion_mnist", "test", batch_size=100, limit=256, data_dir=shared_data_dir)
    accuracy, stats = accuracy_and_logit_stats(model, test)
    assert accuracy == pytest.approx(run["clean_accuracy"])
    assert stats == pytest.approx(run["logit_stats"], rel=1e-5)


def test_model_loads_in_a_fresh_process(finished_run):
    out, _, _ = finished_run
    code = (
        "import tfls, keras, sys; m = keras.models.load_model(sys.argv[1]); print(m.output_shape)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(out / "model.keras")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(None, 10)" in proc.stdout


def test_interrupted_then_resumed_equals_uninterrupted(finished_run, shared_data_dir, tmp_path):
    _, full, _ = finished_run
    out = tmp_path / "run"

    interrupt_after_first_epoch(shared_data_dir, out)
    assert not (out / "run.json").exists() and rf.latest_checkpoint(out).name == "epoch-1"
    with pytest.raises(FileNotFoundError, match="--resume"):
        load_run(out)
    resumed = train(None, out, resume=True)
    assert [h["epoch"] for h in resumed.run["history"]] == [1, 2]
    for a, b in zip(full.model.weights, resumed.model.weights, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6
        )
    assert resumed.run["clean_accuracy"] == pytest.approx(full.run["clean_accuracy"])


def test_existing_folder_needs_resume_or_overwrite(finished_run, shared_data_dir, tmp_path):
    out, _, _ = finished_run
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_config(shared_data_dir), out)
    with pytest.raises(ValueError, match="not both"):
        train(tiny_config(shared_data_dir), out, resume=True, overwrite=True)
    with pytest.raises(ValueError, match="different configuration.*label_smoothing=0.9"):
        train(tiny_config(shared_data_dir, label_smoothing=0.9), out, resume=True)
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="holds thesis.tex, which tfls train did not write"):
        train(tiny_config(shared_data_dir), foreign, overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_overwrite_replaces_a_run(shared_data_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("{}")
    (out / "logs").mkdir()
    result = train(tiny_config(shared_data_dir, epochs=1, limit=64), out, overwrite=True)
    assert json.loads((out / "run.json").read_text())["epochs"] == 1 == result.run["epochs"]


def test_failure_before_the_first_checkpoint_leaves_nothing(shared_data_dir, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rf, "save_checkpoint", broken)
    out = tmp_path / "run"
    with pytest.raises(OSError, match="disk full"):
        train(tiny_config(shared_data_dir, epochs=1, limit=64), out)
    assert not out.exists()


def test_bad_input_is_refused_before_anything_is_written(shared_data_dir, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="Unknown model 'resnet9000'"):
        train(tiny_config(shared_data_dir, model="resnet9000"), out)
    with pytest.raises(ValueError, match="label_smoothing=1.0"):
        train(tiny_config(shared_data_dir, label_smoothing=1.0), out)
    with pytest.raises(ValueError, match="strategy='tpu'"):
        train(tiny_config(shared_data_dir), out, strategy="tpu")
    with pytest.raises(FileNotFoundError, match="Nothing to resume"):
        train(None, out, resume=True)
    assert not out.exists()


def test_corrupt_checkpoint_and_run_files_are_named(finished_run, tmp_path):
    import shutil

    src, _, _ = finished_run
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    (out / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match="run.json is corrupt"):
        load_run(out)
    (out / "run.json").unlink()
    rf.latest_checkpoint(out).with_suffix(".index").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="epoch-2 is corrupt"):
        train(None, out, resume=True)
    (out / "model.keras").write_bytes(b"garbage")
    (out / "run.json").write_text("{}")
    with pytest.raises(ValueError, match="model.keras is corrupt"):
        load_run(out)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_run(tmp_path / "nowhere")


def test_checkpoint_restores_optimizer_state(tmp_path):
    from tests.tiny_models import tiny_conv, tiny_mlp

    net = tiny_conv()
    opt = keras.optimizers.SGD(0.1, momentum=0.9)
    opt.build(net.trainable_variables)
    opt.iterations.assign(7)
    for v in opt.variables[2:]:
        v.assign(np.full(v.shape, 0.25, np.float32))
    path = rf.save_checkpoint(tmp_path, 3, net, opt, {"history": [], "wall_time_s": 1.0})
    net2 = tiny_conv(seed=1)
    opt2 = keras.optimizers.SGD(0.1, momentum=0.9)
    opt2.build(net2.trainable_variables)
    state = rf.load_checkpoint(path, net2, opt2)
    assert state["epoch"] == 3 and int(opt2.iterations) == 7
    for a, b in zip(net.weights + opt.variables, net2.weights + opt2.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    other = tiny_mlp(hidden=None)
    with pytest.raises(ValueError, match="does not match the network"):
        rf.load_checkpoint(path, other, opt2)


def test_progress_bar_counts_epochs_of_the_whole_run(shared_data_dir, tmp_path, capsys):
    # `fit` runs one epoch per call; the bar's header still counts the run's epochs.
    train(tiny_config(shared_data_dir, epochs=3, limit=64), tmp_path / "run", verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/3" in out and "Epoch 2/3" in out and "Epoch 3/3" in out
    assert "Epoch 2/2" not in out


def _write_old_npz_checkpoint(out, epoch, network, optimizer, state):
    """What tfls wrote before `tf.train.Checkpoint`: `checkpoints/epoch-NNNN.npz`, variables in
    `.variables` order plus a JSON `state` (the old `run_folder.save_checkpoint`)."""
    arrays = {f"network/{i:05d}": np.asarray(v) for i, v in enumerate(network.variables)}
    arrays.update({f"optimizer/{i:05d}": np.asarray(v) for i, v in enumerate(optimizer.variables)})
    arrays["state"] = np.frombuffer(
        json.dumps({**state, "epoch": int(epoch)}).encode(), dtype=np.uint8
    )
    path = out / "checkpoints" / f"epoch-{epoch:04d}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _restored_epoch_one(out):
    """The network and optimizer of an interrupted run, as `train` builds them, at epoch 1."""
    from tfls import models
    from tfls.training import build_trainer

    config = TrainConfig.from_dict(rf.read_config(out)).resolved()
    network = models.build(config.model, num_classes=10, input_shape=(28, 28, 1), seed=config.seed)
    trainer = build_trainer(network, config, num_classes=10, steps_per_epoch=4)
    state = rf.load_checkpoint(rf.latest_checkpoint(out), network, trainer.optimizer)
    return network, trainer.optimizer, state


def test_old_npz_run_folder_resumes_to_the_same_weights(finished_run, shared_data_dir, tmp_path):
    import shutil

    _, full, _ = finished_run
    out = tmp_path / "run"

    interrupt_after_first_epoch(shared_data_dir, out)
    # Rewrite the interrupted run as the old code left it: only an `.npz` in checkpoints/.
    network, optimizer, state = _restored_epoch_one(out)
    shutil.rmtree(out / "checkpoints")
    old = _write_old_npz_checkpoint(out, 1, network, optimizer, state)
    assert rf.latest_checkpoint(out) == old
    resumed = train(None, out, resume=True)
    assert [h["epoch"] for h in resumed.run["history"]] == [1, 2]
    for a, b in zip(full.model.weights, resumed.model.weights, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6
        )
    # Read once: the folder now holds the new format only.
    assert not list((out / "checkpoints").glob("*.npz"))
    assert [p.name for p in rf.list_checkpoints(out)] == ["epoch-2"]


def test_corrupt_latest_checkpoint_is_refused_and_the_others_kept(finished_run, tmp_path):
    import shutil

    src, _, _ = finished_run
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    (out / "run.json").unlink()
    latest = rf.latest_checkpoint(out)
    data = next(latest.parent.glob(latest.name + ".data-*"))
    data.write_bytes(data.read_bytes()[:100])  # truncated, the index still intact
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    with pytest.raises(ValueError, match=r"epoch-2 is corrupt.*delete epoch-2\.\* to resume") as e:
        train(None, out, resume=True)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before
    # The fix the message names works: without epoch-2 the run resumes from epoch-1.
    for f in latest.parent.glob(latest.name + ".*"):
        f.unlink()
    assert rf.latest_checkpoint(out).name == "epoch-1"
    resumed = train(None, out, resume=True)
    assert [h["epoch"] for h in resumed.run["history"]] == [1, 2]


def test_a_save_killed_mid_write_leaves_the_previous_checkpoint_latest(tmp_path, monkeypatch):
    # A kill after the new checkpoint's files are written but before the pointer moves (the
    # only window in which its files exist): the pointer still names the previous checkpoint.
    from tensorflow.python.checkpoint import checkpoint_management

    from tests.tiny_models import tiny_conv

    net = tiny_conv()
    opt = keras.optimizers.SGD(0.1)
    opt.build(net.trainable_variables)
    rf.save_checkpoint(tmp_path, 1, net, opt, {"history": [], "wall_time_s": 1.0})

    class Killed(BaseException):
        pass

    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal", killed)
    with pytest.raises(Killed):
        rf.save_checkpoint(tmp_path, 2, net, opt, {"history": [], "wall_time_s": 2.0})
    assert (tmp_path / "checkpoints" / "epoch-2.index").is_file()
    assert [p.name for p in rf.list_checkpoints(tmp_path)] == ["epoch-1"]
    assert rf.load_checkpoint(rf.latest_checkpoint(tmp_path), net, opt)["epoch"] == 1


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(
    finished_run, shared_data_dir, tmp_path, monkeypatch
):
    """ENOSPC mid-save: the run stops with the error, the last good checkpoint stays latest and
    loads, and resuming after space is freed finishes the run."""
    import errno

    from tensorflow.python.checkpoint import checkpoint_management

    out = tmp_path / "run"

    interrupt_after_first_epoch(shared_data_dir, out)
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    latest = rf.latest_checkpoint(out).name

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_management.CheckpointManager, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        train(None, out, resume=True)
    after = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    assert after == before, "a failed save changed the checkpoints that were there"
    assert rf.latest_checkpoint(out).name == latest
    monkeypatch.undo()
    resumed = train(None, out, resume=True)
    assert [h["epoch"] for h in resumed.run["history"]] == [1, 2]


def test_a_full_disk_while_writing_run_json_keeps_the_previous_file(
    finished_run, tmp_path, monkeypatch
):
    """`run.json` (and every file tfls writes through `tfls.io`) is replaced atomically."""
    import os
    import shutil

    from tfls import io

    out = tmp_path / "copy"
    shutil.copytree(finished_run[0], out)
    before = (out / "run.json").read_bytes()

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        io.atomic_write_json(out / "run.json", {"replaced": True})
    monkeypatch.undo()
    assert (out / "run.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in finished_run[0].iterdir()
    )


def test_cli_resume_from_a_corrupt_checkpoint_is_one_line_and_changes_nothing(
    finished_run, tmp_path, capsys
):
    import shutil

    from tfls.cli.main import main

    out = tmp_path / "copy"
    shutil.copytree(finished_run[0], out)
    (out / "run.json").unlink()
    latest = rf.latest_checkpoint(out)
    data = next(latest.parent.glob(latest.name + ".data-*"))
    data.write_bytes(b"garbage")
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    assert main(["train", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "epoch-2" in err and "corrupt" in err
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == before
