"""Fault injection: every bad model, file or folder fails in one line and leaves `--out` alone.

Each case runs over the CLI (exit code 2, one stderr line naming the value, the `--out` folder
byte-for-byte as before) or the Python API (one-line `ValueError`). Tiny models, 20 images.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import re
import shutil
import struct
from pathlib import Path

import keras
import numpy as np
import pytest

import tfls.attacks
from tfls.cli.main import main
from tfls.eval import evaluate
from tfls.eval.threat import ThreatModelViolation

IMAGE = (28, 28, 1)


def save_model(path, activation=None, *, nan=False, classes=10):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(IMAGE),
            keras.layers.Conv2D(2, 3, strides=4, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(classes, activation=activation),
        ]
    )
    if nan:
        kernel, bias = model.layers[-1].get_weights()
        model.layers[-1].set_weights([kernel * np.nan, bias])
    model.save(path)
    return path


def save_heads(path, outputs):
    """A model with several outputs (`list`, `dict`), a rank-3 output or a single score."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(IMAGE)
    flat = keras.layers.Flatten()(inputs)
    heads = {
        "list": lambda: [keras.layers.Dense(10)(flat), keras.layers.Dense(10)(flat)],
        "dict": lambda: {
            "logits": keras.layers.Dense(10)(flat),
            "aux": keras.layers.Dense(3)(flat),
        },
        "rank3": lambda: keras.layers.Reshape((2, 5))(keras.layers.Dense(10)(flat)),
        "one": lambda: keras.layers.Dense(1)(flat),
    }
    keras.Model(inputs, heads[outputs]()).save(path)
    return path


def bad_data(root: Path) -> dict:
    """Damaged datasets, 10 classes of 28x28 grey images (so the model fits them otherwise)."""
    from PIL import Image

    from tests.data.conftest import make_idx_dataset

    rng = np.random.default_rng(0)
    paths = {}
    folder = root / "folder"
    for c in range(10):
        (folder / "test" / f"c{c}").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(
                folder / "test" / f"c{c}" / f"{i}.png"
            )
    bad = folder / "test" / "c3" / "1.png"
    bad.write_bytes(bad.read_bytes()[:200])
    paths["truncated-png"], paths["folder"] = bad, folder
    for kind in ("truncated-gz", "huge-header"):
        make_idx_dataset(root / kind / "fashion-mnist", n_train=4, n_test=4)
        images = root / kind / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
        if kind == "truncated-gz":
            images.write_bytes(images.read_bytes()[:-40])
        else:
            header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 10**9, 28, 28)
            images.write_bytes(gzip.compress(header + bytes(4 * 784)))
        paths[kind] = root / kind
    (root / "garbage.npz").write_bytes(b"not an npz" * 20)
    np.savez(root / "wide.npz", x=rng.integers(0, 256, (20, 28, 28), np.uint8), y=np.arange(20))
    paths["garbage-npz"], paths["wide-npz"] = root / "garbage.npz", root / "wide.npz"
    (root / "data-file").write_text("a file\n")
    paths["data-file"] = root / "data-file"
    (root / "no-model").mkdir()
    paths["no-model"] = root / "no-model"
    return paths


def _raises(x):
    raise RuntimeError("boom in preprocess")


def _halves(x):
    return x[:, ::2, ::2, :]


def _to_int(x):
    return keras.ops.cast(x, "int32")


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_data_dir):
    """Models (good, NaN, softmax, sigmoid, corrupt) and a finished evaluation to protect."""
    root = tmp_path_factory.mktemp("faults")
    paths = {
        "good": save_model(root / "good.keras"),
        "nan": save_model(root / "nan.keras", nan=True),
        "softmax": save_model(root / "softmax.keras", "softmax"),
        "sigmoid": save_model(root / "sigmoid.keras", "sigmoid"),
        "corrupt": root / "corrupt.keras",
        "runfolder": root / "run",
        "finished": root / "finished",
        "data": shared_data_dir,
    }
    for key, outputs in (("multi", "list"), ("dict", "dict"), ("rank3", "rank3"), ("one", "one")):
        paths[key] = save_heads(root / f"{key}.keras", outputs)
    paths["five"] = save_model(root / "five.keras", classes=5)
    paths.update(bad_data(root / "data"))
    paths["corrupt"].write_bytes(b"not a zip archive\n" * 8)
    paths["runfolder"].mkdir()
    shutil.copy(paths["corrupt"], paths["runfolder"] / "model.keras")
    (paths["runfolder"] / "run.json").write_text(json.dumps({"dataset": "fashion_mnist"}))
    assert main(cli_args(paths["good"], paths["finished"], shared_data_dir)) == 0
    return paths


def cli_args(model, out, data_dir, *extra, attacks="fgsm", eps="8/255", n="20"):
    return [
        "eval",
        "--model",
        str(model),
        "--dataset",
        "fashion_mnist",
        "--attacks",
        attacks,
        "--eps",
        eps,
        "--n",
        n,
        "--batch-size",
        "10",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def folder_hash(path: Path) -> str | None:
    """Names and bytes of every file under `path` (None if it does not exist)."""
    if not path.exists():
        return None
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def prepare_out(kind, files, tmp_path) -> Path:
    """`absent`: no folder; `finished`: a copy of a finished evaluation; others: damaged copies."""
    out = tmp_path / "out"
    if kind == "absent":
        return out
    shutil.copytree(files["finished"], out)
    if kind == "foreign":
        (out / "notes.txt").write_text("my notes\n")
    elif kind == "empty-fingerprint":
        (out / "fingerprint.json").write_text("")
    return out


# (case id, model, out kind, extra args / overrides, regex the one line must match)
CLI_CASES = [
    ("nan-model", "nan", "absent", {}, r"non-finite logits .*for 10 of 10 images.*nan\.keras"),
    ("nan-model-overwrite", "nan", "finished", {"extra": ["--overwrite"]}, r"non-finite logits"),
    ("nan-model-pgd20", "nan", "absent", {"attacks": "pgd20"}, r"non-finite logits"),
    ("softmax-model", "softmax", "absent", {}, r"outputs probabilities \(every row"),
    ("softmax-overwrite", "softmax", "finished", {"extra": ["--overwrite"]}, r"probabilities"),
    ("sigmoid-model", "sigmoid", "absent", {}, r"outputs probabilities .*sigmoid"),
    (
        "corrupt-keras",
        "corrupt",
        "absent",
        {},
        r"corrupt\.keras' is not a readable Keras model: the file exists",
    ),
    (
        "corrupt-run-folder",
        "runfolder",
        "absent",
        {},
        r"model\.keras' is not a readable Keras model: the file exists",
    ),
    ("foreign-out", "good", "foreign", {}, r"not an evaluation's \(notes\.txt\)"),
    ("empty-fingerprint", "good", "empty-fingerprint", {}, r"fingerprint\.json' is unreadable"),
    # Already handled before this module existed; kept so that they stay handled.
    ("different-eps", "good", "finished", {"eps": "4/255"}, r"different evaluation.*eps"),
    ("negative-eps", "good", "finished", {"eps": "-1"}, r"Received: eps=-1"),
    ("unknown-attack", "good", "finished", {"attacks": "pgd7x"}, r"pgd7x"),
    ("zero-n", "good", "absent", {"n": "0"}, r"Received: n=0"),
    ("missing-model", "missing", "finished", {}, r"No model at .*missing\.keras"),
    ("out-is-a-file", "good", "file", {}, r"--out must be a folder"),
    # Models that are not one (batch, classes) logits output, refused before any data is read.
    (
        "multi-output",
        "multi",
        "absent",
        {},
        r"multi\.keras` has 2 outputs \(\(None, 10\), \(None, 10\)\)",
    ),
    ("dict-output", "dict", "absent", {}, r"dict\.keras` outputs a dict of 2 tensors \('logits'"),
    ("rank3-output", "rank3", "absent", {}, r"Received output shape \(None, 2, 5\)"),
    ("one-output", "one", "absent", {}, r"one\.keras` outputs 1 value per image"),
    ("no-model-in-folder", "no-model", "absent", {}, r"neither a tfls run folder .* nor a "),
    ("fewer-classes", "five", "absent", {}, r"outputs 5 classes but fashion_mnist has 10"),
    # A --preprocess function that breaks: called once on one image when the model is wrapped.
    (
        "preprocess-raises",
        "good",
        "absent",
        {"extra": ["--preprocess", f"{__name__}._raises"]},
        r"_raises' fails on a \(1, 28, 28, 1\) float32 batch .*RuntimeError: boom in preprocess",
    ),
    (
        "preprocess-shape",
        "good",
        "absent",
        {"extra": ["--preprocess", f"{__name__}._halves"]},
        r"_halves\(x\)` must have shape \(batch, 28, 28, 1\).*shape=\(1, 14, 14, 1\)",
    ),
    (
        "preprocess-int",
        "good",
        "absent",
        {"extra": ["--preprocess", f"{__name__}._to_int"]},
        r"_to_int' must return floating-point images .*int32",
    ),
    (
        "preprocess-not-callable",
        "good",
        "absent",
        {"extra": ["--preprocess", f"{__name__}.IMAGE"]},
        r"must name a callable; .*IMAGE' is a tuple",
    ),
    # Damaged data: the file and its defect, before a batch is attacked.
    (
        "truncated-png",
        "good",
        "absent",
        {"dataset": "folder"},
        r"Image file .*c3/1\.png is truncated: its PNG data ends after 200 bytes",
    ),
    (
        "truncated-idx-gz",
        "good",
        "absent",
        {"data_dir": "truncated-gz"},
        r"IDX file is truncated: its gzip stream ends .*t10k-images-idx3-ubyte\.gz",
    ),
    (
        "huge-idx-header",
        "good",
        "absent",
        {"data_dir": "huge-header"},
        r"header promises shape \(1000000000, 28, 28\) .*t10k-images-idx3-ubyte\.gz",
    ),
    (
        "garbage-npz",
        "good",
        "absent",
        {"dataset": "garbage-npz"},
        r"garbage\.npz is not a readable \.npz file \(its bytes are neither",
    ),
    (
        "npz-labels-beyond-the-model",
        "good",
        "absent",
        {"dataset": "wide-npz"},
        r"outputs 10 classes but .*wide\.npz has 20 \(labels up to 19 are out of range",
    ),
    (
        "data-dir-is-a-file",
        "good",
        "absent",
        {"data_dir": "data-file"},
        r"Data directory is a file, not a folder",
    ),
    # --source is checked against the data as --model is.
    (
        "source-multi-output",
        "good",
        "absent",
        {"attacks": "transfer-fgsm", "source": "multi"},
        r"multi\.keras` has 2 outputs",
    ),
    (
        "source-fewer-classes",
        "good",
        "absent",
        {"attacks": "transfer-fgsm", "source": "five"},
        r"--source outputs 5 classes but fashion_mnist has 10",
    ),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_fault(case, files, tmp_path, capsys):
    _, model_key, out_kind, options, pattern = case
    model = files.get(model_key, tmp_path / "missing.keras")
    if out_kind == "file":
        out = tmp_path / "out"
        out.write_text("a file\n")
    else:
        out = prepare_out(out_kind, files, tmp_path)
    before = out.read_bytes() if out.is_file() else folder_hash(out)
    extra = list(options.get("extra", []))
    if "dataset" in options:
        extra += ["--dataset", str(files[options["dataset"]])]
    if "source" in options:
        extra += ["--source", str(files[options["source"]])]
    data_dir = files[options.get("data_dir", "data")]
    args = cli_args(
        model,
        out,
        data_dir,
        *extra,
        **{k: options[k] for k in ("attacks", "eps", "n") if k in options},
    )
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfls eval: error: "), err
    assert __import__("re").search(pattern, lines[0]), lines[0]
    after = out.read_bytes() if out.is_file() else folder_hash(out)
    assert after == before, "a failed run must leave --out as it found it"


def test_cli_threat_model_violation_is_one_line(files, tmp_path, capsys, monkeypatch):
    def violate(*args, **kwargs):
        raise ThreatModelViolation("Attack 'fgsm' returned non-finite values at 3 of 10 points.")

    monkeypatch.setattr("tfls.eval.evaluate", violate)
    out = tmp_path / "out"
    code = main(cli_args(files["good"], out, files["data"]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["tfls eval: error: Attack 'fgsm' returned non-finite values at 3 of 10 points."]


def test_cli_full_disk_while_writing_the_report_keeps_the_previous_one(
    files, tmp_path, capsys, monkeypatch
):
    out = prepare_out("finished", files, tmp_path)
    before = folder_hash(out)

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    code = main(cli_args(files["good"], out, files["data"]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "Could not write" in err[0] and "report.json" in err[0] and "No space" in err[0]
    assert folder_hash(out) == before  # the previous report, and no temporary file left over


def test_cli_damaged_store_is_recovered_in_one_warning_line(files, tmp_path, capsys):
    out = prepare_out("finished", files, tmp_path)
    lines = (out / "batches.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    record["robust"]["fgsm"] = record["clean"]  # "every clean point survived": an edit
    (out / "batches.jsonl").write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    assert main(cli_args(files["good"], out, files["data"])) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfls eval: warning: "), err
    assert "line 2 fails its checksum" in err[0] and "kept the 1 batch" in err[0]
    finished = json.loads((files["finished"] / "report.json").read_text())
    recovered = json.loads((out / "report.json").read_text())
    assert recovered["worst_case"] == finished["worst_case"]
    assert (out / "batches.jsonl").read_text().splitlines()[0] == lines[0]


# ------------------------------------------------------------------------------------------
# Python API


@pytest.fixture(scope="module")
def good_model(files):
    return keras.models.load_model(files["good"])


def batch(n=4, shape=IMAGE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), np.zeros(n, np.int32)


def one_line_value_error(call, pattern):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    assert __import__("re").search(pattern, message), message


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1), (4, 28, 28), (4, 14, 14, 1)])
def test_api_bad_input_shape_before_and_after_a_good_call(good_model, shape):
    attack = tfls.attacks.get("pgd20", good_model, eps=0.1)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    y = np.zeros(shape[0] if len(shape) == 4 else 1, np.int32)
    pattern = rf"\(batch, 28, 28, 1\).*Received: x\.shape={__import__('re').escape(str(shape))}"
    one_line_value_error(lambda: attack(x, y), pattern)
    attack(*batch())  # a good call in between must not change the answer
    one_line_value_error(lambda: attack(x, y), pattern)


@pytest.mark.parametrize(
    "key,pattern",
    [("nan", r"non-finite logits .*for \d+ of \d+ images"), ("sigmoid", r"sigmoid")],
)
def test_api_broken_model_in_attack_and_evaluate(files, tmp_path, key, pattern):
    model = keras.models.load_model(files[key])
    x, y = batch(10)
    attack = tfls.attacks.get("fgsm", model, eps=0.1)
    one_line_value_error(lambda: attack(x, y), pattern)
    out = tmp_path / "out"
    one_line_value_error(lambda: evaluate(model, [(x, y)], {"fgsm": attack}, out=out), pattern)
    assert not out.exists()


def test_full_disk_keeps_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    from tfls import io

    path = tmp_path / "report.json"
    io.atomic_write_json(path, {"version": 1})

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match=r"Could not write .*report\.json.*No space left"):
        io.atomic_write_json(path, {"version": 2})
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_cli_outputs_probs_on_a_logits_model_is_refused_naming_the_check(files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(cli_args(files["good"], out, files["data"], "--outputs", "probs"))
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2, lines
    errors = [line for line in lines if line.startswith("tfls eval: error: ")]
    # One line: the wrapper checks the outputs before it would warn about saturated ones.
    assert len(errors) == 1 and len(lines) == 1, lines
    assert re.search(
        r"good\.keras` is wrapped with --outputs probs .* does not output probabilities: the check "
        r"that every output lies in \[0, 1\] and every row sums to 1 .* fails",
        errors[0],
    ), errors[0]
    assert not out.exists()


# ------------------------------------------------------------------------------------------
# Python API: the same faults through tfls.eval.evaluate


class CountingAttack:
    """An attack that returns its inputs and counts its calls (so 'before any attack' is seen)."""

    eps, norm = 0.1, "linf"

    def __init__(self):
        self.calls = 0

    def __call__(self, x, y):
        self.calls += 1
        return x


@pytest.mark.parametrize(
    "key, pattern",
    [
        ("multi", r"has 2 outputs \(\(None, 10\), \(None, 10\)\)"),
        ("dict", r"outputs a dict of 2 tensors"),
        ("rank3", r"Received output shape \(None, 2, 5\)"),
    ],
)
def test_api_evaluate_refuses_a_model_without_one_logits_output(files, tmp_path, key, pattern):
    model = keras.models.load_model(files[key])
    attack = CountingAttack()
    out = tmp_path / "out"
    one_line_value_error(lambda: evaluate(model, batch(10), {"a": attack}, out=out), pattern)
    assert attack.calls == 0 and not out.exists()


def test_api_labels_beyond_the_model_in_a_later_batch_are_refused_before_any_attack(good_model):
    x, y = batch(150)
    y[120] = 12  # in the second batch of 100
    attack = CountingAttack()
    one_line_value_error(
        lambda: evaluate(good_model, (x, y), {"a": attack}),
        r"Labels must lie in \[0, 10\)\. Received: labels in \[0, 12\]",
    )
    assert attack.calls == 0


@pytest.mark.parametrize(
    "dataset, pattern",
    [
        ((np.zeros((0, *IMAGE), np.float32), np.zeros(0, np.int32)), r"`dataset` is empty"),
        ([], r"`dataset` is empty"),
        (
            (np.zeros((4, 14, 14, 1), np.float32), np.zeros(4, np.int32)),
            r"must have shape \(batch, 28, 28, 1\) .*Received: x\.shape=\(4, 14, 14, 1\)",
        ),
        (
            (np.zeros((4, *IMAGE), np.float32), np.eye(10, dtype=np.float32)[:4]),
            r"1-D vector of integer class indices \(not one-hot.*y\.shape=\(4, 10\)",
        ),
    ],
    ids=["empty-arrays", "empty-list", "wrong-image-shape", "one-hot-labels"],
)
def test_api_evaluate_bad_data_is_one_line(good_model, tmp_path, dataset, pattern):
    out = tmp_path / "out"
    one_line_value_error(
        lambda: evaluate(good_model, dataset, {"a": CountingAttack()}, out=out), pattern
    )
    assert not out.exists()


def test_api_outputs_probs_on_a_logits_model(good_model):
    from tfls.models import wrap

    one_line_value_error(
        lambda: wrap(good_model, outputs="probs"),
        r"is wrapped with --outputs probs .*does not output probabilities",
    )


def test_api_a_damaged_file_inside_a_pipeline_is_one_line(good_model, files, monkeypatch):
    """Damage only decoding finds fails in one line naming the batch, not as a TF trace (the
    check that finds this truncated file before any batch is turned off here)."""
    import tfls.data
    from tfls.data import folder_source

    monkeypatch.setattr(folder_source, "check_files", lambda paths: None)
    ds = tfls.data.load(str(files["folder"]), "test", batch_size=4)
    one_line_value_error(
        lambda: evaluate(good_model, ds, {"a": CountingAttack()}),
        r"Reading batch 3 of `dataset` failed: Invalid PNG data.*Received: batch=3",
    )
