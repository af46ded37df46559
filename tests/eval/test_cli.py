"""`tfls eval`: bad input fails before any work; SIGKILL then the same command equals one run."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest

from tests.conftest import REPO
from tests.tiny_models import tiny_conv
from tfls.cli.main import main


def save_model(path, input_shape=(28, 28, 1), num_classes=10):
    model = tiny_conv(input_shape, num_classes, seed=0, filters=4, strides=2)
    model.save(path)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("model") / "tiny.keras")


@pytest.fixture(scope="module")
def trained_model_file(tmp_path_factory, shared_data_dir):
    """A few Adam steps on 1,000 training images: most test images are then attacked."""
    import tfls.data

    path = save_model(tmp_path_factory.mktemp("model") / "trained.keras")
    model = keras.models.load_model(path)
    x, y = tfls.data.load_arrays("fashion_mnist", "train", data_dir=shared_data_dir, limit=1000)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=50, epochs=2, verbose=0)
    model.save(path)
    return path


def eval_args(model, out, data_dir, *extra, attacks="fgsm,pgd10", n="40"):
    return [
        "eval",
        "--model",
        str(model),
        "--dataset",
        "fashion_mnist",
        "--attacks",
        attacks,
        "--eps",
        "8/255",
        "--n",
        n,
        "--seed",
        "0",
        "--out",
        str(out),
        "--batch-size",
        "10",
        "--data-dir",
        str(data_dir),
        "--quiet",
        *extra,
    ]


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_writes_the_three_reports(trained_model_file, shared_data_dir, tmp_path, capsys):
    model_file = trained_model_file
    out = tmp_path / "ev"
    code, stdout, _ = run_cli(eval_args(model_file, out, shared_data_dir, n="30"), capsys)
    assert code == 0
    assert "| **worst-case** |" in stdout
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 30 and report["complete"]
    assert report["clean_correct"] >= 15  # trained: the attacks have work to do
    assert report["eps"] == pytest.approx(8 / 255)
    assert report["meta"]["dataset"] == "fashion_mnist" and report["meta"]["seed"] == 0
    assert set(report["attacks"]) == {"fgsm", "pgd10"}
    assert report["attacks"]["pgd10"]["config"]["seed"] == 0
    assert (out / "report.md").exists() and (out / "report.csv").exists()
    # The same command again resumes: nothing left to do, same numbers.
    before = (out / "batches.jsonl").read_text()
    code, _, _ = run_cli(eval_args(model_file, out, shared_data_dir, n="30"), capsys)
    assert code == 0 and (out / "batches.jsonl").read_text() == before
    assert json.loads((out / "report.json").read_text())["worst_case"] == report["worst_case"]
    # A different ε on the same folder is refused, naming what changed.
    args = eval_args(model_file, out, shared_data_dir, n="30")
    args[args.index("--eps") + 1] = "4/255"
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "different evaluation" in err and "eps" in err


def error_of(args, capsys, out):
    code, stdout, err = run_cli(args, capsys)
    assert code == 2, (stdout, err)
    assert not out.exists(), "an error before any work must not create the output folder"
    assert err.startswith("tfls eval: error: ") and "Traceback" not in err
    return err


def test_unknown_attack_lists_the_valid_ones(model_file, tmp_path, capsys):
    import tfls.attacks

    out = tmp_path / "ev"
    err = error_of(eval_args(model_file, out, tmp_path, attacks="pgd20,nope"), capsys, out)
    assert "Unknown attack 'nope'" in err
    assert all(name in err for name in tfls.attacks.PRESETS)


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--eps", "8/0", "Could not read ε"),
        ("--eps", "8", "larger than the whole [0, 1] input range"),
        ("--n", "0", "Received: n=0"),
        ("--batch-size", "0", "Received: batch_size=0"),
        ("--dataset", "imagenet", "No built-in dataset or existing path is called 'imagenet'"),
        ("--input-range", "5,1", "Received: input_range='5,1'"),
        ("--preprocess", "keras.nothing.here", "Received: preprocess='keras.nothing.here'"),
        ("--image-size", "224", "Received: image_size='224'"),
        ("--batch-size", "many", "Received: batch_size='many'"),
        ("--norm", "l3", "Unknown norm 'l3'"),
    ],
)
def test_bad_arguments(model_file, tmp_path, capsys, flag, value, message):
    out = tmp_path / "ev"
    args = eval_args(model_file, out, tmp_path)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    assert message in error_of(args, capsys, out)


def test_paths_that_are_not_keras_models(tmp_path, capsys):
    out = tmp_path / "ev"
    missing = tmp_path / "missing.keras"
    assert "No model at" in error_of(eval_args(missing, out, tmp_path), capsys, out)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "is not a Keras model" in error_of(eval_args(text, out, tmp_path), capsys, out)
    fake = tmp_path / "fake.keras"
    fake.write_text("not a zip")
    assert "not a readable Keras model" in error_of(eval_args(fake, out, tmp_path), capsys, out)
    folder = tmp_path / "run"
    folder.mkdir()
    assert "missing" in error_of(eval_args(folder, out, tmp_path), capsys, out)


def test_dataset_missing_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TFLS_TFDS_DOWNLOAD", "0")  # never download in tests
    monkeypatch.delenv("TFLS_DATA_DIR", raising=False)
    model = save_model(tmp_path / "c100.keras", input_shape=(32, 32, 3), num_classes=100)
    out = tmp_path / "ev"
    empty = tmp_path / "empty"
    empty.mkdir()
    args = eval_args(model, out, empty)
    args[args.index("--dataset") + 1] = "cifar100"
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "cifar100" in err and not out.exists()


def test_n_larger_than_the_split(model_file, shared_data_dir, tmp_path, capsys):
    out = tmp_path / "ev"
    err = error_of(eval_args(model_file, out, shared_data_dir, n="20000"), capsys, out)
    assert "--n is larger than the fashion_mnist test split" in err and "Received: n=20000" in err


def test_model_that_does_not_fit_the_dataset(tmp_path, shared_data_dir, capsys):
    model = save_model(tmp_path / "c10.keras", input_shape=(32, 32, 3))
    out = tmp_path / "ev"
    assert "takes inputs of shape (32, 32, 3)" in error_of(
        eval_args(model, out, shared_data_dir), capsys, out
    )


def records(out):
    lines = (out / "batches.jsonl").read_text().splitlines()
    return [
        {k: r[k] for k in ("batch", "digest", "clean", "robust", "attacked")}
        for r in map(json.loads, lines)
    ]


def sigkill_cli_when(args, ready, *, what, timeout=180):
    """Runs `tfls <args>` in a subprocess and SIGKILLs it as soon as `ready()` is true.

    Fails if the command finishes before it could be killed (the kill would prove nothing).
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfls.cli.main", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ready():
                break
            time.sleep(0.005)
        assert proc.poll() is None, (
            f"the {what} finished before it could be killed: " + proc.stderr.read().decode()[-2000:]
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_then_same_command_equals_uninterrupted_run(
    trained_model_file, shared_data_dir, tmp_path, capsys
):
    model_file = trained_model_file
    killed = tmp_path / "killed"
    args = eval_args(model_file, killed, shared_data_dir, n="400", attacks="pgd10,fgsm")
    batches = killed / "batches.jsonl"
    sigkill_cli_when(
        args, lambda: batches.exists() and batches.read_text().count("\n") >= 3, what="evaluation"
    )
    assert not (killed / "report.json").exists()
    done = batches.read_bytes()
    finished = done[: done.rfind(b"\n") + 1]  # a torn last line, if any, is redone
    assert 3 <= finished.count(b"\n") < 40

    assert run_cli(args, capsys)[0] == 0  # the same command resumes
    assert batches.read_bytes().startswith(finished), "finished batches must not be redone"

    straight = tmp_path / "straight"
    assert (
        run_cli(
            eval_args(model_file, straight, shared_data_dir, n="400", attacks="pgd10,fgsm"), capsys
        )[0]
        == 0
    )
    assert records(killed) == records(straight)
    a, b = (json.loads((d / "report.json").read_text()) for d in (killed, straight))
    for key in ("images", "batches", "clean_correct", "worst_case", "fingerprint"):
        assert a[key] == b[key], key
    for name in ("pgd10", "fgsm"):
        for key in ("robust", "attacked", "cumulative_robust"):
            assert a["attacks"][name][key] == b["attacks"][name][key]
    assert a["meta"] != {} and a["meta"]["model"] == b["meta"]["model"]


@pytest.mark.slow  # ~30 s: three evaluations, one of them in a subprocess
def test_sigkill_during_a_pooled_attack_loses_at_most_that_pool(
    trained_model_file, shared_data_dir, tmp_path, capsys
):
    """`--schedule attack-major`: killed inside the second attack, the same command redoes no
    finished step and ends where an uninterrupted attack-major run ends."""
    extra = ("--schedule", "attack-major", "--pool-size", "60", "--sequential")
    killed = tmp_path / "killed"
    args = eval_args(trained_model_file, killed, shared_data_dir, *extra, n="300")
    pending = killed / "pending.jsonl"

    def in_second_attack():
        return pending.exists() and '"attack": "pgd10"' in pending.read_text()

    sigkill_cli_when(args, in_second_attack, what="attack-major evaluation")
    assert not (killed / "report.json").exists()
    done = pending.read_bytes()
    finished = done[: done.rfind(b"\n") + 1]
    code, _, err = run_cli(args, capsys)  # the same command resumes
    assert code == 0, err
    assert pending.read_bytes().startswith(finished), "finished steps must not be redone"
    steps = [json.loads(line) for line in pending.read_text().splitlines()]
    pairs = [(s["attack"], b["batch"]) for s in steps if "attack" in s for b in s["batches"]]
    assert len(pairs) == len(set(pairs)) == 2 * 30, "a finished pool was redone"

    straight = tmp_path / "straight"
    args = eval_args(trained_model_file, straight, shared_data_dir, *extra, n="300")
    assert run_cli(args, capsys)[0] == 0
    assert records(killed) == records(straight)


def test_mixed_norms_and_transfer_without_source(model_file, tmp_path, capsys):
    out = tmp_path / "ev"
    err = error_of(eval_args(model_file, out, tmp_path, attacks="pgd20,cw-l2"), capsys, out)
    assert "different norms" in err and "cw-l2 (l2)" in err
    err = error_of(eval_args(model_file, out, tmp_path, attacks="transfer-fgsm"), capsys, out)
    assert "--source" in err


def test_transfer_preset_with_source(
    trained_model_file, model_file, shared_data_dir, tmp_path, capsys
):
    out = tmp_path / "ev"
    args = eval_args(
        trained_model_file,
        out,
        shared_data_dir,
        "--source",
        str(model_file),
        attacks="transfer-fgsm,fgsm",
        n="20",
    )
    assert run_cli(args, capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["source"] == str(model_file.resolve())
    assert report["attacks"]["transfer-fgsm"]["config"]["source_model"].startswith("<model ")


def test_run_folder_supplies_the_dataset(model_file, shared_data_dir, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_file, run / "model.keras")
    (run / "run.json").write_text(json.dumps({"dataset": "fashion_mnist", "eps": 0.1}))
    out = tmp_path / "ev"
    args = eval_args(run, out, shared_data_dir, attacks="fgsm", n="10")
    del args[args.index("--dataset") : args.index("--dataset") + 2]
    assert run_cli(args, capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["dataset"] == "fashion_mnist" and report["images"] == 10


def test_two_evaluations_on_one_out_at_once(trained_model_file, shared_data_dir, tmp_path, capsys):
    """Two processes start on one --out: one is refused with one line (or, if it comes second,
    resumes the finished run); the final report equals a single run's."""
    shared = tmp_path / "shared"
    args = eval_args(trained_model_file, shared, shared_data_dir, n="60", attacks="fgsm,pgd10")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tfls.cli.main", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0, results
    for code, err in results:
        if code != 0:
            assert code == 2, results
            lines = [line for line in err.splitlines() if line.startswith("tfls eval")]
            assert lines == [
                f"tfls eval: error: Another evaluation is writing to {str(shared)!r}; wait for it "
                f"to finish or use another output folder. Received: out={str(shared)!r}"
            ], err
            assert "Traceback" not in err
    single = tmp_path / "single"
    code, _, _ = run_cli(
        eval_args(trained_model_file, single, shared_data_dir, n="60", attacks="fgsm,pgd10"),
        capsys,
    )
    assert code == 0
    assert records(shared) == records(single)
    assert len(records(shared)) == 6  # no batch written twice, none interleaved
    a, b = (json.loads((d / "report.json").read_text()) for d in (shared, single))
    for key in ("images", "batches", "clean_correct", "worst_case", "fingerprint"):
        assert a[key] == b[key], key
    for name in ("fgsm", "pgd10"):
        for key in ("robust", "attacked", "cumulative_robust", "nonfinite"):
            assert a["attacks"][name][key] == b["attacks"][name][key]


@pytest.fixture(scope="module")
def defended_files(trained_model_file, tmp_path_factory):
    """The trained tiny model behind input noise (random) and behind 4-level quantisation."""
    import tfls.models

    root = tmp_path_factory.mktemp("defended")
    base = keras.models.load_model(trained_model_file)
    noisy, squeezed = root / "noisy.keras", root / "squeezed.keras"
    tfls.models.defend(base, noise=0.2).save(noisy)
    tfls.models.defend(base, levels=4).save(squeezed)
    return noisy, squeezed


def test_eot_bpda_and_draws_from_the_command_line(
    defended_files, shared_data_dir, tmp_path, capsys
):
    noisy, squeezed = defended_files
    code, out, err = run_cli(
        eval_args(noisy, tmp_path / "noisy", shared_data_dir, "--eot", "3", attacks="pgd10"), capsys
    )
    assert code == 0, err
    assert "random at inference: every point was scored over 20 draws" in out
    report = json.loads((tmp_path / "noisy" / "report.json").read_text())
    assert report["draws"] == 20 and report["attacks"]["pgd10"]["config"]["eot"] == 3

    args = eval_args(squeezed, tmp_path / "sq", shared_data_dir, "--bpda", "auto", attacks="pgd10")
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "tfls eval: --bpda auto: straight-through at quantize" in err
    report = json.loads((tmp_path / "sq" / "report.json").read_text())
    assert report["draws"] == 1 and report["attacks"]["pgd10"]["config"]["bpda"] == ["quantize"]
    plain = eval_args(squeezed, tmp_path / "sq-plain", shared_data_dir, attacks="pgd10")
    assert run_cli(plain, capsys)[0] == 0
    plain_report = json.loads((tmp_path / "sq-plain" / "report.json").read_text())
    assert report["worst_case"] < plain_report["worst_case"]  # BPDA breaks what PGD cannot


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--eot", "0"], "eot=0"),
        (["--draws", "0"], "draws=0"),
        (["--bpda", "nosuch"], "has no layer 'nosuch'"),
    ],
)
def test_bad_adaptive_flags_are_one_line(
    defended_files, shared_data_dir, tmp_path, capsys, extra, match
):
    out = tmp_path / "ev"
    code, _, err = run_cli(eval_args(defended_files[1], out, shared_data_dir, *extra), capsys)
    lines = [line for line in err.splitlines() if line.startswith("tfls eval")]
    assert code == 2 and len(lines) == 1 and match in lines[0], err
    assert not out.exists()
