"""Finding and reading a recipe spec file (`recipes/<name>.toml`); `load_spec` also validates it.

A spec is data (KerasHub-style presets): which models to train, which attacks to run at which ε,
how many test images, per scale (`smoke`, `cpu`, `paper`), and the paper's own numbers. Its
schema is checked in `tfls.recipes.schema`, one scale is resolved into a `Plan` by
`tfls.recipes.plan`, and the format is documented in `recipes/README.md`.
"""

from __future__ import annotations

import os
from pathlib import Path

from tfls import _validation as v
from tfls.recipes.schema import RECIPES, validate_spec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as the `tomli` package
    import tomli as tomllib

SPECS_ENV = "TFLS_RECIPE_SPECS"


def spec_dir() -> Path:
    """The folder of spec files: `$TFLS_RECIPE_SPECS`, else `<repo>/recipes`."""
    env = os.environ.get(SPECS_ENV)
    if env:
        return Path(env).expanduser()
    import tfls

    return Path(tfls.__file__).resolve().parents[1] / "recipes"


def spec_path(name: str | os.PathLike) -> Path:
    """`table4` → `<spec_dir>/table4.toml`; a path to a `.toml` file is taken as it is."""
    text = str(name)
    if text.endswith(".toml"):
        path = Path(text)
    else:
        v.check_choice(text, RECIPES, name="recipe")
        path = spec_dir() / f"{text}.toml"
    if not path.is_file():
        raise FileNotFoundError(
            f"Recipe spec {path} does not exist (spec folder: ${SPECS_ENV} or <repo>/recipes). "
            f"Received: recipe={text!r}"
        )
    return path


def read_spec(name: str | os.PathLike) -> tuple[dict, Path]:
    """The parsed TOML of spec `name` and its path, not yet validated (no TensorFlow needed)."""
    path = spec_path(name)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f), path
    except tomllib.TOMLDecodeError as e:
        raise ValueError(
            f"Recipe spec {path} is not valid TOML: {e}. Received: path={str(path)!r}"
        ) from None


def load_spec(name: str | os.PathLike) -> dict:
    """Reads and validates the spec `name` (a recipe name or a `.toml` path)."""
    raw, path = read_spec(name)
    return validate_spec(raw, source=str(path))
