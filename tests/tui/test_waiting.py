"""The pilot helpers' bound: time the process did not run is not counted; a crashed app fails at once."""

from __future__ import annotations

import asyncio
import types

import pytest

from tests.tui.helpers import LEAP, POLL, _wait


def _app(exception=None):
    worker = types.SimpleNamespace(name="run_audit", state=types.SimpleNamespace(name="RUNNING"))
    return types.SimpleNamespace(_exception=exception, workers=[worker])


def _clock(monkeypatch, steps):
    """The loop's clock moves by the next of `steps` on each pause (then by POLL)."""
    loop = asyncio.get_running_loop()
    now = [loop.time()]
    steps = iter(steps)

    async def pause(_delay):
        now[0] += next(steps, POLL)
        await asyncio.sleep(0)

    monkeypatch.setattr(loop, "time", lambda: now[0])
    return pause


@pytest.mark.asyncio
async def test_a_leap_of_the_clock_is_not_counted_against_the_bound(monkeypatch):
    polls = []
    pause = _clock(monkeypatch, [10 * LEAP])  # the VM paused for 50 s, then ran again
    await _wait(_app(), lambda: polls.append(1) or len(polls) > 5, pause, what="x", timeout=1)
    assert len(polls) == 6


@pytest.mark.asyncio
async def test_slow_polls_do_count_and_the_timeout_names_the_workers(monkeypatch):
    pause = _clock(monkeypatch, [LEAP / 2] * 10)  # a loaded machine: every poll is slow
    with pytest.raises(
        AssertionError, match=r"timed out waiting for: x \(workers: run_audit RUNNING\)"
    ):
        await _wait(_app(), lambda: False, pause, what="x", timeout=LEAP)


@pytest.mark.asyncio
async def test_a_crashed_app_fails_with_its_error_not_a_timeout():
    error = RuntimeError("boom")
    with pytest.raises(AssertionError, match="the app failed while waiting for: x") as caught:
        await _wait(_app(error), lambda: False, asyncio.sleep, what="x", timeout=60)
    assert caught.value.__cause__ is error
