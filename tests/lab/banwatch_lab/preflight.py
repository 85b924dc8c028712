"""Can this user run the lab's isolated endpoints? Answered before anything changes.

Root can always. Anyone else needs what rootless containers need: user namespaces the kernel
grants to users, and a subordinate uid and gid range (/etc/subuid, /etc/subgid) for the
endpoints' other users (sshd's privilege separation, the collector's drop box). `make demo`
runs this file first, before its setup (so stdlib only, run as a script), and `banwatch-lab up`
asks the same question; either stops with one line naming what is missing.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import sys

CLONE_NEWUSER = 0x10000000
# The endpoints see the host's users and groups up to nogroup (65534): 65536 ids cover them all.
SUBORDINATE_IDS = 65536
SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"
EXIT_REFUSED = 2
ROOT_INSTEAD = "or run as root (sudo make demo)"
# (sysctl, the value that turns user namespaces off for users, what to set instead)
KERNEL_SWITCHES = (
    ("kernel.unprivileged_userns_clone", 0, "1"),
    ("user.max_user_namespaces", 0, "15000"),
    ("kernel.apparmor_restrict_unprivileged_userns", 1, "0"),
)


def sysctl(name: str) -> int | None:
    """The setting's value, or None where this kernel has no such setting."""
    try:
        with open("/proc/sys/" + name.replace(".", "/"), encoding="ascii") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def subordinate_range(path: str, user: str, uid: int) -> tuple[int, int] | None:
    """The first range of at least SUBORDINATE_IDS ids that `path` grants the user (by name or uid)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in (user, str(uid)):
            continue
        try:
            start, count = int(fields[1]), int(fields[2])
        except ValueError:
            continue
        if start > 0 and count >= SUBORDINATE_IDS:
            return start, SUBORDINATE_IDS
    return None


def user_namespace_refused() -> str | None:
    """Try it: a child process asks for a user namespace of its own; why the kernel said no."""
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if libc.unshare(CLONE_NEWUSER) == 0 else min(ctypes.get_errno(), 255) or 255)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else os.strerror(code)


def problem() -> str | None:
    """None when this user can run the isolated lab; otherwise one line saying what it needs."""
    if os.geteuid() == 0:
        return None
    for name, off, on in KERNEL_SWITCHES:
        if sysctl(name) == off:
            return (f"user namespaces are turned off for users ({name} = {off}): "
                    f"set it with 'sudo sysctl -w {name}={on}', {ROOT_INSTEAD}")
    refused = user_namespace_refused()
    if refused is not None:
        return f"this system refuses user namespaces to users ({refused}); {ROOT_INSTEAD}"
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid} has no user name, so no subordinate ids; {ROOT_INSTEAD}"
    for path in (SUBUID, SUBGID):
        if subordinate_range(path, user, uid) is None:
            return (f"{user} has no range of {SUBORDINATE_IDS} ids in {path}: add one with "
                    f"'sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}', {ROOT_INSTEAD}")
    return None


def main() -> int:
    found = problem()
    if found is None:
        return 0
    print(f"error: the fleet lab cannot isolate its endpoints: {found}", file=sys.stderr)
    return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
