"""Two writers at once, and evaluation stores edited, truncated, merged or copied from another
run: the second writer is refused in one line, a damaged or foreign record is never scored (one
warning line, then recomputed), and what is reported equals an untouched run.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import pytest

from tests.faults import harness
from tests.faults.conftest import eval_args, records, report_numbers
from tfls.cli.main import main

N = 200


def cli(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("tfls ")], err


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model_file, shared_data_dir):
    root = tmp_path_factory.mktemp("stores-reference")
    assert main([str(a) for a in eval_args(model_file, root / "ev", shared_data_dir, n=N)]) == 0
    other = root / "other"  # another evaluation of the same model and images (another ε)
    args = eval_args(model_file, other, shared_data_dir, n=N, eps="4/255")
    assert main([str(a) for a in args]) == 0
    return root / "ev", other, records(root / "ev"), report_numbers(root / "ev")


def damaged_copy(reference, tmp_path, change):
    """A copy of the finished reference evaluation, its report removed, `change`d."""
    out = tmp_path / "ev"
    shutil.copytree(reference[0], out)
    for name in ("report.json", "report.md", "report.csv"):
        (out / name).unlink()
    path = out / "batches.jsonl"
    lines = path.read_text().splitlines()
    path.write_text(change(lines, reference[1]))
    return out


def flip_a_bit(lines, other):
    r = json.loads(lines[2])
    r["clean"] = ("0" if r["clean"][0] == "1" else "1") + r["clean"][1:]
    r["robust"] = {k: "0" + v[1:] for k, v in r["robust"].items()}
    lines[2] = json.dumps(r)
    return "\n".join(lines) + "\n"


def drop_checksum(lines, other):
    r = json.loads(lines[4])
    del r["checksum"]
    lines[4] = json.dumps(r)
    return "\n".join(lines) + "\n"


def merge_other(lines, other):
    theirs = (other / "batches.jsonl").read_text().splitlines()
    return "\n".join([*lines[:5], theirs[5], *lines[6:]]) + "\n"


def truncate_mid_line(lines, other):
    text = "\n".join(lines[:9]) + "\n"
    return text + lines[9][: len(lines[9]) // 2]


STORE_CASES = {
    "edited": (flip_a_bit, r"line 3 fails its checksum"),
    "checksum-removed": (drop_checksum, r"line 5 has no checksum"),
    "merged": (merge_other, r"line 6 belongs to another evaluation"),
    "truncated": (truncate_mid_line, None),  # a kill's damage: recomputed silently
}


@pytest.mark.parametrize("case", STORE_CASES)
def test_a_damaged_store_is_recomputed_never_scored(
    case, reference, model_file, shared_data_dir, tmp_path, capsys
):
    change, warning = STORE_CASES[case]
    out = damaged_copy(reference, tmp_path, change)
    code, lines, err = cli(eval_args(model_file, out, shared_data_dir, n=N), capsys)
    assert code == 0, err
    if warning is None:
        assert lines == [], err
    else:
        assert len(lines) == 1 and lines[0].startswith("tfls eval: warning: "), err
        assert __import__("re").search(warning, lines[0]), lines[0]
    assert (records(out), report_numbers(out)) == reference[2:]


def test_a_store_of_the_first_format_is_recomputed_saying_so(
    reference, model_file, shared_data_dir, tmp_path, capsys
):
    out = damaged_copy(reference, tmp_path, lambda lines, other: "\n".join(lines) + "\n")
    fingerprint = json.loads((out / "fingerprint.json").read_text())
    del fingerprint["format"]
    (out / "fingerprint.json").write_text(json.dumps(fingerprint))
    code, lines, err = cli(eval_args(model_file, out, shared_data_dir, n=N), capsys)
    assert code == 0 and len(lines) == 1 and "store format 1" in lines[0], err
    assert (records(out), report_numbers(out)) == reference[2:]


def test_a_store_copied_from_another_run_is_refused_and_left_alone(
    reference, model_file, shared_data_dir, tmp_path, capsys
):
    out = tmp_path / "ev"
    shutil.copytree(reference[1], out)  # the ε = 4/255 evaluation, as the ε = 8/255 one's --out
    before = harness.snapshot(out)
    code, lines, err = cli(eval_args(model_file, out, shared_data_dir, n=N), capsys)
    assert code == 2 and len(lines) == 1, err
    assert "holds results of a different evaluation" in lines[0] and "eps" in lines[0], lines[0]
    assert harness.snapshot(out) == before


def start(args, cwd):
    return subprocess.Popen(
        harness.command(args),
        cwd=cwd,
        env=harness.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(proc, ready, timeout=300):
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_second_eval_on_the_same_folder_is_refused(
    reference, model_file, shared_data_dir, tmp_path
):
    out = tmp_path / "ev"
    args = eval_args(model_file, out, shared_data_dir, n=N)
    first = start(args, tmp_path)
    wait_until(first, lambda: harness.lines(out / "batches.jsonl") >= 1)
    first.send_signal(signal.SIGSTOP)  # held mid-run, lock and all, while the others try
    try:
        for extra in ([], ["--overwrite"]):
            second = harness.run(args + extra, cwd=tmp_path)
            assert second.code == 2, second.stderr[-2000:]
            assert "Another evaluation is writing to" in second.one_line("tfls eval: error: ")
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    first.stderr.close()
    assert records(out)[: len(reference[2])] == reference[2]
    assert (out / "report.json").is_file()


def test_a_second_train_on_the_same_folder_is_refused(shared_data_dir, tmp_path):
    out = tmp_path / "run"
    args = [
        "train", "--dataset", "fashion_mnist", "--model", "cnn4", "--epochs", 2, "--limit",
        256, "--batch-size", 64, "--quiet", "--out", out, "--data-dir", shared_data_dir,
    ]  # fmt: skip
    first = start(args, tmp_path)
    wait_until(first, lambda: (out / "config.json").exists())
    first.send_signal(signal.SIGSTOP)
    try:
        for extra in ([], ["--overwrite"], ["--resume"]):
            second = harness.run(args + extra, cwd=tmp_path)
            assert second.code == 2, second.stderr[-2000:]
            assert "Another tfls train is writing to" in second.one_line("tfls train: error: ")
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    first.stderr.close()
    assert json.loads((out / "run.json").read_text())["epochs"] == 2
