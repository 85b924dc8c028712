"""The one rule for the host names banwatch accepts (docs/policy.md, "Host names").

An inventory host name becomes a file name on the control node (`<host>.policy.json`,
`devices/<host>.pub`, `ssh/<host>.pub`, `machine-ids/<host>`), a line in the collector's
`authorized_keys`, the key of a device in the fleet store and the name a device's report
claims. Ansible takes any string as a host name, and dynamic inventories (a CMDB, an MDM, a
directory) hand over names a device's user may choose, so banwatch accepts only what a DNS
name and a plain inventory name hold: 1 to MAX_LENGTH ASCII letters, digits, `-`, `_` and `.`,
starting and ending with a letter or digit, with no `..`. Nothing in such a name can leave a
folder, start a new line or a second field, or make a file name longer than NAME_MAX (255
bytes) with every suffix banwatch adds: the longest is write_atomic's temp file for a
policy, `.<host>.policy.json.XXXXXXXX.tmp`, 26 more.

Standard library only (and `errors`): the device's agent, the fleet side and the lab all use it.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable

from banwatch.core.errors import InputError, Problem

MAX_LENGTH = 200
RULE = (f"1 to {MAX_LENGTH} ASCII letters, digits, '-', '_' and '.', starting and ending with a letter "
        "or digit, with no '..'")
# The Ansible roles, playbooks/tasks/host_name.yml and the policy install plugin carry this same
# pattern (they cannot import banwatch); tests/unit/test_host_names_in_use.py holds them to it.
PATTERN = re.compile(rf"^(?!.*\.\.)[A-Za-z0-9](?:[A-Za-z0-9._-]{{0,{MAX_LENGTH - 2}}}[A-Za-z0-9])?\Z")
FIX = f"rename the host in the inventory: {RULE} (docs/policy.md, 'Host names')"

_ENDS = frozenset(string.ascii_letters + string.digits)
_ALLOWED = _ENDS | frozenset("-_.")
_SHOWN_LENGTH = 40
# What an Ansible inventory means by these: banwatch reads host names literally.
_HINTS = {
    "/": "a path separator",
    ":": "a port or an IPv6 address? name the host, and give those in ansible_port and ansible_host",
    "[": "a host range? list the hosts, or give what 'ansible-inventory --list' writes",
}


def problem(name: object) -> str | None:
    """Why `name` cannot be a banwatch host name, in a few words; None when it can."""
    if isinstance(name, str) and PATTERN.match(name):
        return None
    if not isinstance(name, str):
        return f"it is not text (read as {type(name).__name__}): quote it"
    if not name:
        return "it is empty"
    if len(name) > MAX_LENGTH:
        return f"it is {len(name)} characters long, over the limit of {MAX_LENGTH}"
    bad = next((char for char in name if char not in _ALLOWED), None)
    if bad is not None:
        return f"it holds {_char(bad)}"
    if name in (".", ".."):
        return f"'{name}' names a directory"
    if name[0] not in _ENDS:
        return f"it starts with '{name[0]}'"
    if name[-1] not in _ENDS:
        return f"it ends with '{name[-1]}'"
    return "it holds '..'"


def _char(char: str) -> str:
    if char in _HINTS:
        return f"'{char}' ({_HINTS[char]})"
    if char.isprintable() and not char.isspace():
        return f"{char!r}" if char.isascii() else f"{char!r} (U+{ord(char):04X}, not ASCII)"
    kind = "a line break" if len(f"a{char}b".splitlines()) > 1 else \
        "white space" if char.isspace() else "a control character"
    return f"U+{ord(char):04X} ({kind})"


def shown(name: object) -> str:
    """`name` for a message: quoted, escaped onto one line, a long one cut short."""
    if isinstance(name, str) and len(name) > _SHOWN_LENGTH:
        return f"{name[:_SHOWN_LENGTH]!r}… ({len(name)} characters)"
    return repr(name)


def name_problem(name: object, file: str, fix: str = FIX, *, line: int | None = None) -> Problem | None:
    """The problem to report when `name`, read from `file`, is outside the rule; None when it is a name."""
    why = problem(name)
    return None if why is None else Problem(file, line, f"host {shown(name)}", f"not a usable host name: {why}", fix)


def problems(names: Iterable[object], file: str, fix: str = FIX) -> list[Problem]:
    """The problem of each of `names` outside the rule: one regex match per name that follows it
    (an inventory may list 100,000), the reason worked out only for those that do not."""
    is_name = PATTERN.match
    return [found for name in names if not (isinstance(name, str) and is_name(name))
            if (found := name_problem(name, file, fix)) is not None]


def check(name: str, file: str, fix: str = FIX) -> str:
    """`name` when it follows the rule; otherwise InputError naming it, where it came from and the fix."""
    found = name_problem(name, file, fix)
    if found is not None:
        raise InputError([found])
    return name


def host_file(folder: str, name: str, suffix: str = "") -> str:
    """`folder/<name><suffix>`, for a name that is checked here again, whichever way it came:
    a path built from a host name never leaves `folder`."""
    return os.path.join(folder, check(name, folder) + suffix)
