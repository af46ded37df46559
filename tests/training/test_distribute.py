"""MirroredStrategy on two logical CPUs and a two-process MultiWorkerMirroredStrategy cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.ports import free_ports
from tfls.training import run_folder as rf

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("dist_worker.py")


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


def _weights(path, prefix):
    with np.load(path) as data:
        keys = sorted(
            (k for k in data.files if k.startswith(prefix + "/")),
            key=lambda k: int(k.split("/")[1]),
        )
        return [data[k] for k in keys]


def test_mirrored_on_two_cpus_matches_one_device(tmp_path, shared_data_dir):
    out, run_dir = tmp_path / "mirrored.npz", tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(WORKER), "mirrored", str(out), str(run_dir), str(shared_data_dir)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    init, single, mirrored = (_weights(out, p) for p in ("init", "single", "mirrored"))
    assert len(single) == len(mirrored) == len(init) > 0
    # Training moved the weights, and two replicas on half-batches moved them identically.
    assert max(np.abs(a - b).max() for a, b in zip(init, single, strict=True)) > 1e-3
    for a, b in zip(single, mirrored, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Madry training also runs replicated (its random starts differ per replica, so no equality).
    assert all(np.isfinite(w).all() for w in _weights(out, "madry"))
    run = json.loads((run_dir / "run.json").read_text())
    assert (
        run["num_replicas"] == 2
        and run["method"] == "madry"
        and (run_dir / "model.keras").is_file()
    )


def test_multi_worker_mirrored_two_processes_agree(tmp_path, shared_data_dir):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    "multi_worker",
                    str(tmp_path / f"worker{index}.npz"),
                    str(tmp_path / "run"),
                    str(shared_data_dir),
                ],  # fmt: skip
                env=_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=300))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    w0, w1 = (
        _weights(tmp_path / "worker0.npz", "worker"),
        _weights(tmp_path / "worker1.npz", "worker"),
    )
    assert len(w0) == len(w1) > 0
    for a, b in zip(w0, w1, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    # `train` on the cluster: same weights on both workers, one run folder written by the chief.
    r0, r1 = _weights(tmp_path / "worker0.npz", "run"), _weights(tmp_path / "worker1.npz", "run")
    for a, b in zip(r0, r1, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["num_replicas"] == 2 and run["method"] == "madry"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoints", "config.json", "logs", "model.keras", "run.json",
    ]  # fmt: skip
    # ...and equal one device training on the same global batches.
    import tensorflow as tf

    from tests.tiny_models import tiny_conv
    from tests.training.dist_worker import train_once

    init = [np.asarray(w) for w in tiny_conv(seed=0).weights]
    assert max(np.abs(a - b).max() for a, b in zip(init, w0, strict=True)) > 1e-3
    for a, b in zip(train_once(tf.distribute.get_strategy()), w0, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _start_cluster(tmp_path, tag, run_dir, data_dir, kill_at=(0, 0), resume=False):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    "fault_tolerant",
                    str(tmp_path / f"{tag}-worker{index}.npz"),
                    str(run_dir),
                    str(data_dir),
                    str(kill_at[index]),
                    "1" if resume else "0",
                ],  # fmt: skip
                env=_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def _finish(procs, timeout=400):
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=timeout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outputs


@pytest.mark.slow
def test_multi_worker_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, shared_data_dir):
    from tests.training.dist_worker import FAULT_TOLERANT_STEPS

    # The uninterrupted reference: the same two-worker cluster, run once through.
    reference = _start_cluster(tmp_path, "reference", tmp_path / "reference", shared_data_dir)
    for p, (_, err) in zip(reference, _finish(reference), strict=True):
        assert p.returncode == 0, err[-3000:]

    # Worker 1 SIGKILLs itself after the second batch of the second epoch.
    kill_step = FAULT_TOLERANT_STEPS + 2
    run = tmp_path / "run"
    procs = _start_cluster(tmp_path, "killed", run, shared_data_dir, kill_at=(0, kill_step))
    try:
        procs[1].wait(timeout=400)
    finally:
        # TensorFlow's fault tolerance restarts the whole cluster: the surviving worker is stuck
        # in the next all-reduce (it would fail only after a long timeout), so it is killed too.
        procs[0].kill()
        _finish(procs)
    assert procs[1].returncode == -signal.SIGKILL, procs[1].returncode
    assert not (run / "run.json").exists()
    assert [p.name for p in rf.list_checkpoints(run)] == ["epoch-1"]
    assert (run / "backup" / "checkpoint").is_file()  # the chief's mid-epoch backup

    restarted = _start_cluster(tmp_path, "restarted", run, shared_data_dir, resume=True)
    outputs = _finish(restarted)
    for p, (_, err) in zip(restarted, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    # Both workers restored the second epoch's backup and skipped the batches it had done.
    for out, _ in outputs:
        done = [line for line in out.splitlines() if line.startswith("restored epoch=1 ")]
        assert done and 0 < int(done[0].split("batches=")[1]) < FAULT_TOLERANT_STEPS, out
    assert not (run / "backup").exists() and (run / "run.json").is_file()
    expected = _weights(tmp_path / "reference-worker0.npz", "run")
    assert len(expected) > 0
    for index in range(2):
        got = _weights(tmp_path / f"restarted-worker{index}.npz", "run")
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
