"""MirroredStrategy over two logical CPU devices gives the same per-example results as one device.

Logical devices must be configured before TensorFlow initialises, hence the subprocess.
"""

import json
import subprocess
import sys
import textwrap

from tests.conftest import REPO
from tests.eval import helpers
from tfls.eval import evaluate

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    from tests.eval import helpers
    from tests.eval.test_mirrored import attacks_for
    from tfls.eval import evaluate

    with strategy.scope():
        model = helpers.tiny_model(seed=0)
    x, y = helpers.tiny_data(model, n=50, seed=3)
    report = evaluate(model, helpers.dataset(x, y, 16), attacks_for(model), out=sys.argv[1],
                      strategy=strategy)
    print(json.dumps({"replicas_in_sync": strategy.num_replicas_in_sync,
                      "replicas_seen": sorted(set(helpers.ReplicaRecordingFGSM.replicas))}))
    """
)


def attacks_for(model):
    from tfls.attacks import PGD

    return {
        "fgsm": helpers.ReplicaRecordingFGSM(model, eps=0.05),
        "pgd5": PGD(model, eps=0.05, steps=5, init="none"),
    }


def per_example(out):
    lines = (out / "batches.jsonl").read_text().splitlines()
    return [
        {k: r[k] for k in ("batch", "n", "digest", "clean", "robust", "attacked")}
        for r in map(json.loads, lines)
    ]


def test_mirrored_two_cpus_equals_one_device(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "mirrored")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts == {"replicas_in_sync": 2, "replicas_seen": [0, 1]}  # both replicas did work

    model = helpers.tiny_model(seed=0)
    x, y = helpers.tiny_data(model, n=50, seed=3)
    single = evaluate(model, helpers.dataset(x, y, 16), attacks_for(model), out=tmp_path / "single")

    mirrored = json.loads((tmp_path / "mirrored" / "report.json").read_text())
    assert mirrored["fingerprint"] == single.fingerprint  # same weights, attacks, data
    assert per_example(tmp_path / "mirrored") == per_example(tmp_path / "single")
    assert mirrored["clean_correct"] == single.clean_correct > 0
    assert mirrored["worst_case"] == single.worst_case
    assert {k: a["robust"] for k, a in mirrored["attacks"].items()} == {
        k: a.robust for k, a in single.attacks.items()
    }
