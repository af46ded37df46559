"""`EpochBackup`: the chief's mid-epoch backup restores only into its own epoch, at the batch it
reached; other workers never write it. (The killed-cluster run is in `test_distribute.py`.)"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.tiny_models import tiny_conv
from tfls.training import backup


def _model():
    net = tiny_conv()
    opt = keras.optimizers.SGD(0.1, momentum=0.9)
    opt.build(net.trainable_variables)
    return net, opt


def _backup(folder, net, opt, *, epoch=1, writer=True):
    return backup.EpochBackup(
        folder, network=net, optimizer=opt, epoch=epoch, steps_per_epoch=4, writer=writer,
        save_freq=1,
    )  # fmt: skip


def test_backup_restores_its_epoch_at_the_batch_reached(tmp_path):
    net, opt = _model()
    chief = _backup(tmp_path / "backup", net, opt)
    assert chief.restore() == 0  # nothing backed up yet
    kernel = net.weights[0]
    opt.iterations.assign(6)  # epoch 1 (0-based) of 4-batch epochs, 2 batches done
    kernel.assign(np.full(kernel.shape, 0.5, np.float32))
    chief.on_train_batch_end(1)
    opt.iterations.assign(0)
    kernel.assign(np.zeros(kernel.shape, np.float32))

    assert _backup(tmp_path / "backup", net, opt).restore() == 2
    assert int(opt.iterations.numpy()) == 6
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel), 0.5)
    # A backup left from epoch 1 is not restored into epoch 2 (its checkpoint covers epoch 1).
    opt.iterations.assign(8)
    assert _backup(tmp_path / "backup", net, opt, epoch=2).restore() == 0
    assert int(opt.iterations.numpy()) == 8


def test_only_the_chief_writes_and_discards(tmp_path):
    net, opt = _model()
    opt.iterations.assign(5)
    worker = _backup(tmp_path / "backup", net, opt, writer=False)
    worker.on_train_batch_end(0)
    worker.discard()
    assert not (tmp_path / "backup").exists()
    chief = _backup(tmp_path / "backup", net, opt)
    chief.on_train_batch_end(0)
    assert (tmp_path / "backup" / "checkpoint").is_file()
    worker.discard()
    assert (tmp_path / "backup").exists()
    chief.discard()
    assert not (tmp_path / "backup").exists()


def test_a_backup_inconsistent_with_its_epoch_is_refused_by_name(tmp_path):
    net, opt = _model()
    opt.iterations.assign(5)
    _backup(tmp_path / "backup", net, opt).on_train_batch_end(0)
    # Same epoch recorded, but the epoch length changed: step 5 is not inside epoch 1 any more.
    late = backup.EpochBackup(
        tmp_path / "backup", network=net, optimizer=opt, epoch=1, steps_per_epoch=8, writer=True
    )
    with pytest.raises(ValueError, match=r"Backup .*step-5 does not belong to epoch 2"):
        late.restore()


def test_a_run_killed_in_its_first_epoch_resumes_from_its_backup(tmp_path):
    from tfls.training import run_folder as rf

    out = tmp_path / "run"
    (out / "logs").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="Nothing to resume"):
        rf.prepare(out, resume=True, overwrite=False)
    (out / "backup").mkdir()
    assert rf.prepare(out, resume=True, overwrite=False) is True


def test_a_run_killed_before_its_first_checkpoint_resumes_from_epoch_zero(tmp_path):
    """Its `config.json` is there: `--resume` (what a scheduler reruns) starts it again."""
    from tfls.training import run_folder as rf

    out = tmp_path / "run"
    (out / "logs").mkdir(parents=True)
    (out / "config.json").write_text("{}")
    assert rf.prepare(out, resume=True, overwrite=False) is True
    # Without --resume the same command starts afresh: nothing durable is there to protect.
    assert rf.prepare(out, resume=False, overwrite=False) is False
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        rf.prepare(out, resume=False, overwrite=False)
