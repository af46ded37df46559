"""Runs tfls commands in subprocesses and interrupts them at seeded random points.

A *point* is "after the k-th durable thing" (a checkpoint, a batch line, a check file) plus a
random delay: the kill lands anywhere from before the first durable write to the middle of the
run, on any machine speed, and the same seed gives the same plan.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


@dataclass
class Outcome:
    """How a command ended: its exit code (negative: killed by that signal) and stderr."""

    code: int
    stderr: str

    @property
    def tfls_lines(self) -> list[str]:
        """The lines tfls itself printed to stderr (TensorFlow's start-up lines left out)."""
        ours = ("tfls ", "python -m tfls.")
        return [line for line in self.stderr.splitlines() if line.startswith(ours)]

    def one_line(self, prefix: str) -> str:
        """The single tfls line, which must start with `prefix`; no traceback anywhere."""
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        lines = self.tfls_lines
        assert len(lines) == 1 and lines[0].startswith(prefix), self.stderr[-3000:]
        return lines[0]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}


def command(args, module: str = "tfls.cli.main") -> list[str]:
    """`python -m <module> <args>`: `tfls <args>` by default."""
    return [sys.executable, "-m", module, *map(str, args)]


def run(args, *, cwd: Path, timeout: float = 600, module: str = "tfls.cli.main") -> Outcome:
    """Runs `tfls <args>` (or `python -m <module> <args>`) to its end."""
    done = subprocess.run(
        command(args, module), cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout
    )
    return Outcome(done.returncode, done.stderr)


def interrupt(
    args,
    *,
    cwd: Path,
    ready: Callable[[], bool],
    sig: int,
    delay: float,
    timeout: float = 300,
    module: str = "tfls.cli.main",
) -> Outcome:
    """Runs `tfls <args>`, waits for `ready()`, then `delay` seconds, then sends `sig`.

    Fails if the command ends before the signal is sent: the interruption would prove nothing.
    """
    proc = subprocess.Popen(
        command(args, module),
        cwd=cwd,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not ready():
            assert time.monotonic() < deadline, "the point to interrupt at never came"
            time.sleep(0.005)
        time.sleep(delay)
        assert proc.poll() is None, (
            "the command ended before it could be interrupted: "
            + proc.stderr.read().decode()[-2000:]
        )
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Outcome(proc.returncode, err.decode())


def point(seed: str, most: int, *, delay: float = 0.15) -> tuple[int, float]:
    """A seeded random point: `(k, seconds)`, k in [0, most], seconds in [0, delay)."""
    rng = random.Random(seed)
    return rng.randint(0, most), rng.uniform(0, delay)


def snapshot(root: Path, *, skip: Path | None = None) -> dict[str, str]:
    """Every file and folder under `root` (but `skip`) with the SHA-256 of each file."""
    found = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        rel = str(path.relative_to(root))
        found[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def lines(path: Path) -> int:
    """Complete lines in `path` (0 when it does not exist)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
