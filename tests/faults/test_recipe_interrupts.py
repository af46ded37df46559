"""A recipe (`python -m tfls.recipes.table2 --scale smoke`) interrupted while it trains its
models: one line, the model cache keeps what finished, and the same command then gives the
numbers of an uninterrupted run. Default suite: SIGTERM; `-m slow`: SIGINT and SIGKILL too.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.faults import harness

MODULE = "tfls.recipes.table2"
CASES = [
    pytest.param("SIGTERM", id="SIGTERM"),
    pytest.param("SIGINT", id="SIGINT", marks=pytest.mark.slow),
    pytest.param("SIGKILL", id="SIGKILL", marks=pytest.mark.slow),
]


def recipe_args(out, cache, data_dir):
    return ["--scale", "smoke", "--out", out, "--cache", cache, "--data-dir", data_dir]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shared_data_dir):
    root = tmp_path_factory.mktemp("recipe-reference")
    args = recipe_args(root / "out", root / "cache", shared_data_dir)
    done = harness.run(args, cwd=root, module=MODULE)
    assert done.code == 0, done.stderr[-3000:]
    return json.loads((root / "out" / "results.json").read_text())["measures"]


def started_models(cache):
    return sum(1 for entry in cache.glob("*/config.json"))


@pytest.mark.parametrize("name", CASES)
def test_interrupted_recipe_resumes_to_the_same_numbers(name, reference, shared_data_dir, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = recipe_args("out", "cache", shared_data_dir)  # relative, as a user types them
    k, delay = harness.point(f"recipe-{name}", 1, delay=0.2)
    sig = harness.SIGNALS[name]
    outcome = harness.interrupt(
        args,
        cwd=tmp_path,
        ready=lambda: started_models(cache) >= k + 1,
        sig=sig,
        delay=delay,
        module=MODULE,
    )
    if sig == signal.SIGKILL:
        assert outcome.code == -signal.SIGKILL
    else:
        assert outcome.code == 130, outcome.stderr[-3000:]
        outcome.one_line(f"python -m {MODULE}: interrupted; ")
    assert not (out / "results.json").exists()
    rerun = harness.run(args, cwd=tmp_path, module=MODULE)
    assert rerun.code == 0, rerun.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["measures"] == reference
