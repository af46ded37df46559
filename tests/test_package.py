"""The package: `import tfls` is light (subpackages and TensorFlow load on first use), the optional
libraries stay unimported, and a built wheel (or an editable install) runs outside the checkout."""

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tfls
from tests.conftest import REPO
from tfls.recipes.spec_files import tomllib

# What a build needs from the checkout (pyproject.toml's packages, package-dir and readme); copied
# into a temporary folder so setuptools' `build/` and `*.egg-info` never land in the repository.
SOURCES = ("pyproject.toml", "README.md", "tfls", "tui", "recipes")
# Installed by the project's dependencies, needed only by the feature that uses them.
OPTIONAL = ("cleverhans", "matplotlib", "textual")

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


def test_pyproject_lists_every_package_folder_and_ships_the_specs():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == tfls.__version__  # `tfls --version` reads the former
    config = pyproject["tool"]
    folders = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("tfls", "tui")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert set(config["setuptools"]["packages"]) == folders | {"tfls.recipes.specs"}
    assert config["setuptools"]["package-dir"] == {"tfls.recipes.specs": "recipes"}
    assert "*.toml" in config["setuptools"]["package-data"]["tfls.recipes.specs"]


def test_library_imports_without_the_optional_libraries():
    # Blocked (as if not installed): `import matplotlib` raises ImportError, as Keras expects.
    blocked = run_python(
        "import sys\n"
        f"for name in {OPTIONAL!r}:\n"
        "    sys.modules[name] = None\n"
        "import tfls, tfls.attacks, tfls.eval\n"
        "tfls.attacks.PGD, tfls.eval.evaluate\n"
    )
    assert blocked.returncode == 0, blocked.stderr[-2000:]
    # Installed: none is imported by a tfls module (Keras itself imports matplotlib when present,
    # for its plotting utilities, so the check is on who asks, not on sys.modules).
    importers = run_python(
        "import sys\n"
        "class Watch:\n"
        "    seen = []\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name in {OPTIONAL!r}:\n"
        "            frame = sys._getframe(1)\n"
        "            while frame.f_code.co_filename.startswith('<frozen'):\n"
        "                frame = frame.f_back\n"
        "            self.seen.append((name, frame.f_globals.get('__name__')))\n"
        "sys.meta_path.insert(0, Watch())\n"
        "import tfls, tfls.attacks, tfls.eval\n"
        "print(sorted(n for n in ('cleverhans', 'textual') if n in sys.modules))\n"
        "print(sorted({who for _, who in Watch.seen if who.split('.')[0] in ('tfls', 'tui')}))\n"
    )
    assert importers.returncode == 0, importers.stderr[-2000:]
    assert importers.stdout.split("\n")[:2] == ["[]", "[]"]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The checkout's build inputs in a temporary folder: builds write there, not into the repo."""
    src = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, src / name)
    return src


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def build(source: Path, out: Path, *, editable: bool = False) -> Path:
    """The wheel of `source` (`pip wheel`), or its editable wheel (setuptools' PEP 660 hook).

    This environment's setuptools builds (the `dev` extra has it), so nothing is downloaded.
    """
    out.mkdir()
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("no setuptools here to build with, and this test downloads nothing")
    if editable:
        hook = (
            "import sys; from setuptools import build_meta; build_meta.build_editable(sys.argv[1])"
        )
        run([sys.executable, "-c", hook, str(out)], cwd=source)
    else:
        pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        run([*pip, "--wheel-dir", str(out), str(source)])
    (wheel,) = out.glob("tfls-*.whl")
    return wheel


def install_in_fresh_venv(wheel: Path, root: Path) -> Path:
    """`wheel` installed in a new virtual environment that also sees this one's packages.

    `python -m venv --system-site-packages` from inside a venv gives the *base* interpreter's
    packages, not this one's (TensorFlow). A `.pth` naming this environment's site-packages gives
    them; as a plain path entry it runs none of their `.pth` files (so not the editable finder of
    another tfls). It is written after the install, so pip sees an empty environment.
    """
    run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    python = root / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    run([*pip, "--no-index", str(wheel)])
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    Path(purelib.stdout.strip(), "_tfls_test_parent.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    return Path(purelib.stdout.strip())


def run_installed(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command of `venv`, from `cwd`, with nothing pointing at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TFLS_RECIPE_SPECS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


# Every spec, loaded and validated, and every tfls/tui module from `prefix` (nothing from the
# checkout, nor from another install through its editable finder).
LIST_SPECS = """
import sys, tfls.recipes.spec_files as s, tui.app
from pathlib import Path
from tfls.recipes import RECIPES
prefix = sys.argv[1]
for name in RECIPES:
    print(name, s.load_spec(name)["recipe"], s.spec_path(name))
css = Path(tui.app.__file__).with_name(tui.app.TflsApp.CSS_PATH)
assert css.is_file(), css
print("css", css)
outside = sorted(
    n for n, m in sys.modules.items()
    if n.split(".")[0] in ("tfls", "tui") and getattr(m, "__file__", None)
    and not m.__file__.startswith(prefix)
)
print("outside", outside)
"""


def check_installed(venv: Path, work: Path, *, specs_in: Path, modules_in: Path) -> dict:
    """The four commands of an installed tfls, from `work`; returns their outputs by name."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    version = version["project"]["version"]
    out = {"version": run_installed(venv, "tfls", "--version", cwd=work).stdout}
    assert out["version"].strip() == f"tfls {version}"
    plan = ("python", "-m", "tfls.recipes.table5", "--scale", "smoke", "--plan")
    out["plan"] = run_installed(venv, *plan, cwd=work).stdout
    assert "table5 (Table 5) at scale smoke — PLAN" in out["plan"]
    assert "Nothing was trained or evaluated (--plan)" in out["plan"]
    specs = run_installed(venv, "python", "-c", LIST_SPECS, str(modules_in), cwd=work)
    out["specs"] = specs.stdout
    lines = out["specs"].splitlines()
    on_disk = sorted(p.stem for p in (REPO / "recipes").glob("*.toml"))
    assert sorted(line.split()[0] for line in lines[: len(on_disk)]) == on_disk
    for line in lines[: len(on_disk)]:
        name, recipe, path = line.split()
        assert recipe == name and Path(path) == specs_in / f"{name}.toml", line
    assert lines[-1] == "outside []", lines[-1]
    out["tui"] = run_installed(venv, "tfls-tui", "--help", cwd=work).stdout
    assert out["tui"].startswith("usage: tfls-tui")
    # --plan writes the recipe's cells and nothing else; --help writes nothing
    written = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file())
    assert written == [
        "runs/recipes-out/table5-smoke/cells.json", "runs/recipes-out/table5-smoke/cells.txt",
    ], written  # fmt: skip
    return out


def test_built_wheel_installs_and_runs_outside_the_checkout(source_copy, tmp_path):
    wheel = build(source_copy, tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in [*(REPO / "tfls").rglob("*.py"), *(REPO / "tui").rglob("*.py")]:
        assert path.relative_to(REPO).as_posix() in names, path
    for path in (REPO / "recipes").iterdir():
        assert f"tfls/recipes/specs/{path.name}" in names, path
    assert "tui/app.tcss" in names and "tfls/py.typed" in names

    site_packages = install_in_fresh_venv(wheel, tmp_path / "venv")
    work = tmp_path / "elsewhere"
    work.mkdir()
    specs = site_packages / "tfls" / "recipes" / "specs"
    check_installed(tmp_path / "venv", work, specs_in=specs, modules_in=site_packages)


def test_editable_install_reads_the_checkouts_specs(source_copy, tmp_path):
    wheel = build(source_copy, tmp_path / "dist", editable=True)
    install_in_fresh_venv(wheel, tmp_path / "venv")
    work = tmp_path / "elsewhere"
    work.mkdir()
    specs = source_copy / "recipes"
    out = check_installed(tmp_path / "venv", work, specs_in=specs, modules_in=source_copy)
    assert f"css {source_copy / 'tui' / 'app.tcss'}" in out["specs"]
