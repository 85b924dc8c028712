"""Benchmark helpers: best-of-N timing and a ratio against a floor measured in the same run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable


def best_of(function: Callable[[], object], repeat: int = 7) -> float:
    """The fastest of `repeat` runs, in seconds: the least disturbed by a noisy machine."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def timed(function: Callable[[], object]) -> float:
    """Seconds one run of `function` takes."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def verdict(ratio: float, target: float) -> str:
    return "ok" if ratio <= target else "OVER TARGET"


def line(name: str, measured: float, floor: float, target: float, unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1
    ratio = measured / floor
    return (f"{name}: {measured * scale:.1f} {unit} vs floor {floor * scale:.1f} {unit} "
            f"= {ratio:.2f}x (target <= {target}x) {verdict(ratio, target)}")


def import_seconds(*modules: str, repeat: int = 3) -> float:
    """What importing `modules` costs a fresh interpreter (best of `repeat`, in seconds): the part
    of a command's start that is ours, printed beside its memory because both grow with imports."""
    code = ("import time; started = time.perf_counter(); "
            + "; ".join(f"import {module}" for module in modules)
            + "; print(time.perf_counter() - started)")
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
               for _ in range(repeat))
