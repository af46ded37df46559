"""`tfls audit --strategy multi_worker`: two local workers give the audit one process of two
replicas gives (the same verdict, checks and per-example evidence), and only the chief writes."""

from __future__ import annotations

import json

import pytest

from tests.eval import test_cli
from tests.eval.test_multi_worker import TWO_CPUS, _env, _finish, _start_cluster, per_example

pytestmark = pytest.mark.slow
trained_model_file = test_cli.trained_model_file  # the fixture, shared


def _args(model, out, data_dir):
    return [
        "audit", "--model", str(model), "--dataset", "fashion_mnist", "--eps", "8/255",
        "--n", "40", "--budget", "quick", "--out", str(out), "--data-dir", str(data_dir),
        "--quiet",
    ]  # fmt: skip


def _checks(out):
    report = json.loads((out / "audit.json").read_text())
    return report["verdict"], [(c["id"], c["status"], c.get("numbers")) for c in report["checks"]]


def test_two_workers_audit_as_one_process_of_two_replicas(
    trained_model_file, shared_data_dir, tmp_path
):
    import subprocess
    import sys

    from tests.conftest import REPO

    cluster_out, mirrored_out = tmp_path / "cluster", tmp_path / "two"
    stdout = _finish(_start_cluster(_args(trained_model_file, cluster_out, shared_data_dir)))
    assert "worker 1 done (2 replicas in sync)" in stdout[1]
    mirrored = subprocess.run(
        [sys.executable, "-c", TWO_CPUS, *_args(trained_model_file, mirrored_out, shared_data_dir),
         "--strategy", "mirrored"],  # fmt: skip
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert mirrored.returncode == 0, mirrored.stderr[-3000:]
    verdict, checks_run = _checks(cluster_out)
    assert verdict and len(checks_run) >= 10
    assert (verdict, checks_run) == _checks(mirrored_out)
    evals = sorted(p.name for p in (cluster_out / "evals").iterdir())
    assert len(evals) >= 2 and evals == sorted(p.name for p in (mirrored_out / "evals").iterdir())
    for name in evals:
        assert per_example(cluster_out / "evals" / name) == per_example(
            mirrored_out / "evals" / name
        )
    checks = sorted(p.name for p in (cluster_out / "checks").iterdir())
    assert checks == sorted(p.name for p in (mirrored_out / "checks").iterdir())
