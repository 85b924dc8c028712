"""The distinct executables behind running processes, with their SHA-256."""

from __future__ import annotations

from banwatch.device.sources import processes
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.exe_hash import HashCache
from banwatch.device.sources.observations import KIND_EXECUTABLE, Observation


def collect(ctx: SourceContext) -> list[Observation]:
    cache = ctx.hash_cache or HashCache()
    by_digest: dict[tuple[str, str], Observation] = {}
    lean = SourceContext(root=ctx.root, proc=ctx.proc, details=False)
    for proc in processes.collect(lean):
        digest = cache.for_process(proc.pid, proc.exe, ctx.proc)
        if digest is None or proc.exe is None:
            continue
        key = (digest, proc.exe)
        if key not in by_digest:
            by_digest[key] = Observation("executables", KIND_EXECUTABLE, proc.name, path=proc.exe,
                                         exe=proc.exe, sha256=digest, extra={"pids": []})
        by_digest[key].extra["pids"].append(proc.pid)
    return sorted(by_digest.values(), key=lambda obs: obs.path or "")
