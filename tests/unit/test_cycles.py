"""core/cycles.py: the cycle collector is paused inside and as it was after, an error or not."""

from __future__ import annotations

import gc

import pytest

from banwatch.core.cycles import cycle_collector_paused


def test_paused_inside_and_on_again_after_even_when_the_job_fails():
    assert gc.isenabled()
    with cycle_collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()

    @cycle_collector_paused()
    def failing() -> None:
        assert not gc.isenabled()
        raise RuntimeError("the job failed")

    with pytest.raises(RuntimeError):
        failing()
    assert gc.isenabled()


def test_left_off_when_it_was_off():
    gc.disable()
    try:
        with cycle_collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
