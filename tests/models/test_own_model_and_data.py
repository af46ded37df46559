"""Bring your own model and data, through `tfls eval`: a keras.applications softmax model on an
image folder, a SavedModel on an `.npz`, and a TFDS dataset prepared offline. Each test checks
the adversarial points the evaluator saw: in [0, 1] and in the ε-ball around the data's own
pixels, i.e. before the wrapper's rescale and preprocessing."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tests.tiny_models import tiny_conv
from tfls.cli.main import main

EPS = 8 / 255


@pytest.fixture
def adversarial_points(monkeypatch):
    """Every `(attack name, x, x_adv)` the evaluator checks, recorded on the way."""
    from tfls.eval import scoring as ev  # `craft` looks `check_threat_model` up there

    seen = []
    real = ev.check_threat_model

    def spy(name, attack, x, x_adv, **kwargs):
        seen.append((name, np.array(x), np.array(x_adv)))
        return real(name, attack, x, x_adv, **kwargs)

    monkeypatch.setattr(ev, "check_threat_model", spy)
    return seen


def assert_pixel_space_ball(seen, attacks, eps=EPS):
    assert sorted({name for name, _, _ in seen}) == sorted(attacks), "no point was attacked"
    moved = 0.0
    for _, x, x_adv in seen:
        # x is the data's own 8-bit pixels scaled to [0, 1], not the model's preprocessed input.
        np.testing.assert_allclose(x * 255, np.round(x * 255), atol=1e-3)
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
        assert np.abs(x_adv.astype(np.float64) - x).max() <= eps * (1 + 1e-5) + 1e-6
        moved = max(moved, float(np.abs(x_adv.astype(np.float64) - x).max()))
    assert moved > eps / 2  # the attacks did move the points (the ball check could fail)


def eval_cli(capsys, model, dataset, out, *extra, attacks="pgd20", n=None):
    args = ["eval", "--model", str(model), "--dataset", str(dataset), "--attacks", attacks]
    args += ["--eps", "8/255", "--out", str(out), "--quiet", *extra]
    if n is not None:
        args += ["--n", str(n)]
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def labelled_by(model, x_uint8, *, input_range=(0, 1)):
    lo, hi = input_range
    x = x_uint8.astype(np.float32) / 255.0 * (hi - lo) + lo
    return np.argmax(np.asarray(model(x)), -1)


def write_mobilenet_fixture(root, *, n=10, classes=5, size=64):
    """A random-weight MobileNetV3Small (softmax, [0, 255] inputs) saved to `.keras`, and a
    `classes`-class image folder `root/data/test/<class>/*.png`.

    Each image goes to the class the model predicts for it (so every image is attacked), and
    every class gets at least one image.
    """
    from PIL import Image

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(size, size, 3), classes=classes
    )
    model.save(root / "mobilenet.keras")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = list(labelled_by(model, x, input_range=(0, 255)))
    for missing in sorted(set(range(classes)) - set(labels)):
        labels[labels.index(max(labels, key=labels.count))] = missing
    for i, (image, label) in enumerate(zip(x, labels)):
        folder = root / "data" / "test" / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return root / "mobilenet.keras", root / "data"


@pytest.mark.slow  # MobileNetV3 traced for PGD-20 and APGD-CE: ~1 min on two shared cores
def test_keras_applications_softmax_model_on_an_image_folder(tmp_path, capsys, adversarial_points):
    model, folder = write_mobilenet_fixture(tmp_path)
    code, out, err = eval_cli(
        capsys,
        model,
        folder,
        tmp_path / "ev",
        "--input-range",
        "0,255",
        "--outputs",
        "probs",
        "--preprocess",
        "keras.applications.mobilenet_v3.preprocess_input",
        attacks="pgd20,apgd-ce",
    )
    assert code == 0, err
    assert "warning: --outputs probs" in err
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["images"] == 10 and report["model"]["wrapper"]["outputs"] == "probs"
    assert_pixel_space_ball(adversarial_points, ["pgd20", "apgd-ce"])
    # Without --outputs probs the softmax model is refused, naming the option.
    code, _, err = eval_cli(capsys, model, folder, tmp_path / "ev2", "--input-range", "0,255")
    assert code == 2 and "--outputs probs" in err and len(err.strip().splitlines()) == 1


def test_saved_model_on_an_npz(tmp_path, capsys, adversarial_points):
    conv = tiny_conv((8, 8, 3), 4, seed=0, filters=4)
    conv.export(tmp_path / "saved", verbose=False)
    x = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "data.npz", x=x, y=labelled_by(conv, x))
    code, out, err = eval_cli(
        capsys, tmp_path / "saved", tmp_path / "data.npz", tmp_path / "ev", "--batch-size", "auto"
    )
    assert code == 0, err
    assert "| pgd20 |" in out and "100.0%" in out  # every point is clean-correct
    assert_pixel_space_ball(adversarial_points, ["pgd20"])
    # Labels beyond the model's classes, and a signature it does not have: one line each.
    np.savez(tmp_path / "wide.npz", x=x, y=np.arange(8) % 6)
    code, _, err = eval_cli(capsys, tmp_path / "saved", tmp_path / "wide.npz", tmp_path / "e2")
    assert code == 2 and "outputs 4 classes" in err and "has 6" in err
    code, _, err = eval_cli(
        capsys, tmp_path / "saved", tmp_path / "data.npz", tmp_path / "e3", "--signature", "x"
    )
    assert code == 2 and "signatures: serve, serving_default" in err


def test_tfds_dataset_prepared_offline(tmp_path, capsys, adversarial_points, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    import tensorflow as tf

    monkeypatch.setenv("TFLS_TFDS_DOWNLOAD", "0")  # never download in tests
    conv = tiny_conv((8, 8, 3), 3, seed=1, filters=4)
    conv.save(tmp_path / "conv.keras")
    x = np.random.default_rng(1).integers(0, 256, (8, 8, 8, 3), dtype=np.uint8)
    y = labelled_by(conv, x).astype(np.int64)
    features = tfds.features.FeaturesDict(
        {
            "image": tfds.features.Image(shape=(8, 8, 3)),
            "label": tfds.features.ClassLabel(num_classes=3),
        }
    )
    tfds.dataset_builders.store_as_tfds_dataset(
        name="tiny_shapes",
        version="1.0.0",
        features=features,
        split_datasets={"test": tf.data.Dataset.from_tensor_slices({"image": x, "label": y})},
        data_dir=tmp_path / "tfds",
        disable_shuffling=True,
    )
    code, out, err = eval_cli(
        capsys,
        tmp_path / "conv.keras",
        "tfds:tiny_shapes",
        tmp_path / "ev",
        "--data-dir",
        str(tmp_path / "tfds"),
        "--split",
        "test[:6]",
    )
    assert code == 0, err
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["images"] == 6 and report["meta"]["dataset"] == "tfds:tiny_shapes"
    assert_pixel_space_ball(adversarial_points, ["pgd20"])


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--input-range", "5,1"], "Received: input_range='5,1'"),
        (["--preprocess", "nowhere.fn"], "Received: preprocess='nowhere.fn'"),
        (["--image-size", "0,4"], "Received: image_size=(0, 4)"),
        (["--batch-size", "auto", "--dataset", "no/such/folder"], "no/such/folder"),
    ],
)
def test_audit_takes_the_same_options(tmp_path, capsys, extra, match):
    args = ["audit", "--model", str(tmp_path / "m.keras"), "--dataset", "fashion_mnist"]
    code = main([*args, "--eps", "0.03", "--out", str(tmp_path / "a"), "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "a").exists()
