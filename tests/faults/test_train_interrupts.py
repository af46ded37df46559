"""`tfls train` interrupted (SIGINT, SIGTERM, SIGKILL) at seeded random points, relative and
absolute `--out`: nothing of the user's is touched, the message is one line, and the command the
message asks for ends with the weights of an uninterrupted run.

Default suite: one case per signal; `-m slow` runs every signal × path × folder combination.
"""

from __future__ import annotations

import itertools
import json
import signal

import numpy as np
import pytest

from tests.faults import harness

TRAIN = (
    "train", "--dataset", "fashion_mnist", "--model", "cnn4", "--epochs", 4, "--limit", 1024,
    "--batch-size", 64, "--seed", 0, "--quiet",
)  # fmt: skip
EPOCHS = 4

DEFAULT = [
    ("SIGINT", "relative", "new"),
    ("SIGTERM", "absolute", "existing"),
    ("SIGKILL", "relative", "new"),
]
ALL = list(itertools.product(harness.SIGNALS, ("relative", "absolute"), ("new", "existing")))
CASES = [pytest.param(*c, id="-".join(c)) for c in DEFAULT] + [
    pytest.param(*c, id="-".join(c), marks=pytest.mark.slow) for c in ALL if c not in DEFAULT
]


def train_args(out, data_dir):
    return [*TRAIN, "--out", out, "--data-dir", data_dir]


def weights(folder):
    import keras

    import tfls.models  # noqa: F401  (registers the layers)

    return keras.models.load_model(folder / "model.keras").get_weights()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shared_data_dir):
    """The same training, uninterrupted."""
    home = tmp_path_factory.mktemp("train-reference")
    done = harness.run(train_args(home / "run", shared_data_dir), cwd=home)
    assert done.code == 0, done.stderr[-3000:]
    run = json.loads((home / "run" / "run.json").read_text())
    return run, weights(home / "run")


def checkpoint_written(out, k):
    """True once epoch `k`'s checkpoint is the latest (its pointer moved), or `config.json` for 0."""
    if k == 0:
        return (out / "config.json").is_file()
    pointer = out / "checkpoints" / "checkpoint"
    return pointer.is_file() and f'"epoch-{k}"' in pointer.read_text(errors="replace")


@pytest.mark.parametrize("name, paths, folder", CASES)
def test_interrupted_training_loses_nothing_and_resumes_to_the_same_weights(
    name, paths, folder, reference, shared_data_dir, tmp_path
):
    from tfls.training.run_folder import latest_checkpoint

    home = tmp_path / "home"
    (home / "runs").mkdir(parents=True)
    (home / "precious.txt").write_text("a user's file beside the runs")
    (home / "runs" / "other-run.txt").write_text("and one beside the run folder")
    out = home / "runs" / "ls"
    if folder == "existing":
        out.mkdir()  # made by the user, empty: it must still be there afterwards
    args = train_args("runs/ls" if paths == "relative" else out, shared_data_dir)
    k, delay = harness.point(f"train-{name}-{paths}-{folder}", EPOCHS - 2)
    before = harness.snapshot(home, skip=out)

    sig = harness.SIGNALS[name]
    outcome = harness.interrupt(
        args, cwd=home, ready=lambda: checkpoint_written(out, k), sig=sig, delay=delay
    )

    assert harness.snapshot(home, skip=out) == before, "a file outside the run folder changed"
    latest = latest_checkpoint(out) if out.exists() else None
    if sig == signal.SIGKILL:
        assert outcome.code == -signal.SIGKILL
    else:
        assert outcome.code == 130, outcome.stderr[-3000:]
        line = outcome.one_line("tfls train: interrupted; ")
        if latest is None:
            assert "nothing was kept" in line
            # The folder goes only if this run created it; a user's folder stays, emptied.
            assert out.exists() == (folder == "existing")
            assert not out.exists() or list(out.iterdir()) == []
        else:
            assert latest.name in line and "--resume" in line

    # What the message asks for: `--resume` when a checkpoint is there, else the same command.
    rerun = harness.run(args + (["--resume"] if latest is not None else []), cwd=home)
    assert rerun.code == 0, rerun.stderr[-3000:]
    assert harness.snapshot(home, skip=out) == before
    run, want = reference
    got = json.loads((out / "run.json").read_text())
    assert got["clean_accuracy"] == pytest.approx(run["clean_accuracy"], abs=1e-6)
    assert [h["loss"] for h in got["history"]] == pytest.approx(
        [h["loss"] for h in run["history"]], rel=1e-5
    )
    for a, b in zip(weights(out), want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not (out / ".lock").exists()
