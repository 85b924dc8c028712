"""Read a file someone named (a policy source, an inventory, a key, a signed policy): bounded, so
a wrong path to something huge is refused, not read into memory. `read_bounded` is the read;
`read_input_file` turns its failures into an error that says which file and what to do."""

from __future__ import annotations

import sys

from banwatch.core.errors import InputError

STDIN = "-"  # read standard input instead (how Ansible hands a policy over)
STDIN_NAME = "<stdin>"


class TooLarge(Exception):
    """The file holds more than the reader accepts."""


def read_bounded(path: str, max_bytes: int) -> bytes:
    """The bytes of `path` (`-`: standard input); OSError when it cannot be read, TooLarge past
    `max_bytes` (only one byte more is ever read)."""
    if path == STDIN:
        data = sys.stdin.buffer.read(max_bytes + 1)
    else:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"more than {max_bytes} bytes")
    return data


def read_input_file(path: str, max_bytes: int, too_large_fix: str) -> bytes:
    """`read_bounded`, for a file a person gave: InputError naming it, with the fix."""
    name = STDIN_NAME if path == STDIN else path
    try:
        return read_bounded(path, max_bytes)
    except FileNotFoundError:
        raise InputError.single(name, "file not found", "check the path, or create the file") from None
    except OSError as exc:
        raise InputError.single(name, f"cannot read: {exc.strerror}", "check the path and its permissions") from None
    except TooLarge:
        raise InputError.single(name, f"file is larger than {max_bytes} bytes", too_large_fix) from None
