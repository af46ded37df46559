"""`import tfls` is light: subpackages load on first attribute access, TensorFlow only with them."""

import subprocess
import sys

import pytest

import tfls
from tests.conftest import REPO

SUBPACKAGES = ("attacks", "data", "distribute", "eval", "models", "recipes", "training")


def run_python(code: str) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter from the repository root, so this checkout's tfls loads."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_import_tfls_loads_neither_tensorflow_keras_nor_textual():
    result = run_python(
        "import sys, tfls\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'textual') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_data_is_reachable_as_an_attribute_of_tfls():
    result = run_python(
        "import sys, tfls\n"
        "load = tfls.data.load\n"
        "assert tfls.data is sys.modules['tfls.data'], tfls.data\n"
        "print(load.__module__)\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith("tfls.data")


def test_attacks_pgd_is_reachable_as_an_attribute_of_tfls():
    result = run_python("import tfls\nprint(tfls.attacks.PGD.__module__)\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "tfls.attacks.pgd"


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_subpackage_is_public_and_resolves(name):
    assert name in tfls.__all__
    assert name in dir(tfls)
    assert getattr(tfls, name) is sys.modules[f"tfls.{name}"]


def test_star_import_gives_exactly_all():
    namespace = {}
    exec("from tfls import *", namespace)  # noqa: S102  (the star import is what is tested)
    assert set(namespace) - {"__builtins__"} == set(tfls.__all__)


def test_unknown_attribute_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'tfls' has no attribute 'not_a_subpackage'"):
        tfls.not_a_subpackage  # noqa: B018


def test_tfls_model_loader_registers_custom_layers_itself(tmp_path):
    # A fresh process that never imports tfls.models: the loader has to, before deserialising.
    tfls.models.build("small-cnn", num_classes=10, input_shape=(16, 16, 3), seed=0).save(
        tmp_path / "model.keras"
    )
    result = run_python(
        "from tfls.cli.eval import load_model\n"
        f"model, _ = load_model({str(tmp_path / 'model.keras')!r})\n"
        "print([type(layer).__name__ for layer in model.layers])\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'Standardize'" in result.stdout
