"""Read a file a person named (a policy source, an inventory, a key): bounded, so a wrong path
to something huge is refused, not read into memory; every failure says which file and what to do."""

from __future__ import annotations

import sys

from banwatch.errors import InputError

STDIN = "-"
STDIN_NAME = "<stdin>"


def read_input_file(path: str, max_bytes: int, too_large_fix: str) -> bytes:
    """The bytes of `path` (`-`: standard input); InputError when it cannot be read or holds
    more than `max_bytes`."""
    name = STDIN_NAME if path == STDIN else path
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError.single(name, "file not found", "check the path, or create the file") from None
    except OSError as exc:
        raise InputError.single(name, f"cannot read: {exc.strerror}", "check the path and its permissions") from None
    if len(data) > max_bytes:
        raise InputError.single(name, f"file is larger than {max_bytes} bytes", too_large_fix)
    return data
