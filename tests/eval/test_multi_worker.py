"""`tfls eval --strategy multi_worker`: two local worker processes equal one process, and a kill
of a worker or of the chief resumes, with the cluster restarted by the same command, to the same
per-example outcomes.

One process with the same number of replicas (two logical CPUs, `--strategy mirrored`) cuts every
batch into the same two shards, so its random starts are the cluster's, bit for bit. FGSM is
deterministic: its column also equals a one-device run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from tests.eval import test_cli
from tests.eval.test_cli import eval_args
from tests.ports import free_ports

pytestmark = pytest.mark.slow
trained_model_file = test_cli.trained_model_file  # the fixture, shared

ATTACKS = "fgsm,pgd10"
TWO_CPUS = (
    "import sys, tensorflow as tf\n"
    "cpu = tf.config.list_physical_devices('CPU')[0]\n"
    "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
    "from tfls.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _env(**extra):
    return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def _start_cluster(args):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tfls.cli.main", *args, "--strategy", "multi_worker"],
            cwd=REPO,
            env=_env(
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]


def _finish(procs, timeout=400):
    try:
        outputs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        _kill(procs)
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    return [out for out, _ in outputs]


def _kill(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)


def per_example(out):
    return [
        {k: r[k] for k in ("batch", "n", "digest", "clean", "robust", "attacked")}
        for r in map(json.loads, (out / "batches.jsonl").read_text().splitlines())
    ]


def _args(model, out, data_dir, n):
    return eval_args(model, out, data_dir, attacks=ATTACKS, n=str(n))


def test_two_workers_equal_one_process_of_two_replicas(
    trained_model_file, shared_data_dir, tmp_path
):
    cluster_out, mirrored_out, single_out = tmp_path / "cluster", tmp_path / "two", tmp_path / "one"
    stdout = _finish(_start_cluster(_args(trained_model_file, cluster_out, shared_data_dir, 60)))
    assert "worker 1 done (2 replicas in sync); the chief wrote" in stdout[1]
    assert "wrote" in stdout[0] and "worst case" in stdout[0].lower()
    mirrored = subprocess.run(
        [sys.executable, "-c", TWO_CPUS, *_args(trained_model_file, mirrored_out, shared_data_dir, 60),
         "--strategy", "mirrored"],  # fmt: skip
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert mirrored.returncode == 0, mirrored.stderr[-3000:]
    single = subprocess.run(
        [sys.executable, "-m", "tfls.cli.main", *_args(trained_model_file, single_out, shared_data_dir, 60)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]

    ours = per_example(cluster_out)
    assert len(ours) == 6 and all(r["n"] == 10 for r in ours)
    assert ours == per_example(mirrored_out)
    report = json.loads((cluster_out / "report.json").read_text())
    two = json.loads((mirrored_out / "report.json").read_text())
    one = json.loads((single_out / "report.json").read_text())
    assert report["fingerprint"] == two["fingerprint"] == one["fingerprint"]
    assert report["worst_case"] == two["worst_case"]
    assert 0 < report["attacks"]["fgsm"]["robust"] < report["clean_correct"]
    # The deterministic attack does not depend on the sharding at all.
    assert [r["robust"]["fgsm"] for r in ours] == [
        r["robust"]["fgsm"] for r in per_example(single_out)
    ]
    assert report["clean_correct"] == one["clean_correct"]
    # Only the chief wrote: no second lock, report or temporary next to the store.
    assert sorted(p.name for p in cluster_out.iterdir() if not p.name.startswith(".")) == [
        "batches.jsonl", "fingerprint.json", "report.csv", "report.json", "report.md",
    ]  # fmt: skip


@pytest.mark.parametrize("victim", [1, 0], ids=["worker", "chief"])
def test_a_killed_worker_resumes_to_the_same_outcomes(
    victim, trained_model_file, shared_data_dir, tmp_path
):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _finish(_start_cluster(_args(trained_model_file, whole, shared_data_dir, 200)))
    procs = _start_cluster(_args(trained_model_file, killed, shared_data_dir, 200))
    batches = killed / "batches.jsonl"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            if batches.exists() and batches.read_text().count("\n") >= 3:
                break
            time.sleep(0.01)
        assert all(p.poll() is None for p in procs), "the run ended before it could be killed"
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(timeout=30)
    finally:
        _kill(procs)  # the cluster is restarted whole, as a scheduler requeues a job
    done = batches.read_text().count("\n")
    assert 3 <= done < 20
    _finish(_start_cluster(_args(trained_model_file, killed, shared_data_dir, 200)))
    assert per_example(killed) == per_example(whole)
    ours, theirs = (json.loads((f / "report.json").read_text()) for f in (killed, whole))
    assert ours["worst_case"] == theirs["worst_case"] and ours["complete"]
