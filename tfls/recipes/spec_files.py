"""Finding and reading a recipe spec file (`recipes/<name>.toml`); `load_spec` also validates it.

A spec is data (KerasHub-style presets): which models to train, which attacks to run at which ε,
how many test images, per scale (`smoke`, `cpu`, `paper`), and the paper's own numbers. Its
schema is checked in `tfls.recipes.schema`, one scale is resolved into a `Plan` by
`tfls.recipes.plan`, and the format is documented in `recipes/README.md`.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import TYPE_CHECKING

from tfls import _validation as v
from tfls.recipes.schema import RECIPES, validate_spec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as the `tomli` package
    import tomli as tomllib

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

SPECS_ENV = "TFLS_RECIPE_SPECS"
# The top-level `recipes/` folder ships as the package `tfls.recipes.specs` (pyproject.toml's
# `package-dir`); a source checkout keeps it at `<checkout>/recipes`.
SPECS_PACKAGE = "tfls.recipes.specs"


def spec_dir() -> Path | Traversable:
    """The folder of spec files: `$TFLS_RECIPE_SPECS`, else the installed package's, else a checkout's.

    An installed tfls (`pip install .`, a wheel) reads its specs with `importlib.resources` from
    `tfls/recipes/specs/`. In a source checkout (`PYTHONPATH`, or `pip install -e`, whose finder
    does not map a data folder into the package) that folder does not exist and `recipes/` beside
    `tfls/` is the same files. The checkout is found from this file, never from the working folder.
    """
    env = os.environ.get(SPECS_ENV)
    if env:
        return Path(env).expanduser()
    packaged = importlib.resources.files("tfls.recipes") / "specs"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "recipes"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"No recipe specs: neither the installed {packaged} nor a checkout's {checkout} exists; "
        f"reinstall tfls or set ${SPECS_ENV} to a folder of specs. Received: tfls={__file__!r}"
    )


def spec_path(name: str | os.PathLike) -> Path | Traversable:
    """`table4` → `<spec_dir>/table4.toml`; a path to a `.toml` file is taken as it is."""
    text = str(name)
    if text.endswith(".toml"):
        path = Path(text)
    else:
        v.check_choice(text, RECIPES, name="recipe")
        path = spec_dir() / f"{text}.toml"
    if not path.is_file():
        raise FileNotFoundError(
            f"Recipe spec {path} does not exist (spec folder: ${SPECS_ENV}, else the installed "
            f"{SPECS_PACKAGE} or a checkout's recipes/). Received: recipe={text!r}"
        )
    return path


def read_spec(name: str | os.PathLike) -> tuple[dict, Path | Traversable]:
    """The parsed TOML of spec `name` and its path, not yet validated (no TensorFlow needed)."""
    path = spec_path(name)
    try:
        with path.open("rb") as f:
            return tomllib.load(f), path
    except tomllib.TOMLDecodeError as e:
        raise ValueError(
            f"Recipe spec {path} is not valid TOML: {e}. Received: path={str(path)!r}"
        ) from None


def load_spec(name: str | os.PathLike) -> dict:
    """Reads and validates the spec `name` (a recipe name or a `.toml` path)."""
    raw, path = read_spec(name)
    return validate_spec(raw, source=str(path))
