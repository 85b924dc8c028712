"""PID 1 of a lab endpoint: build the endpoint's private view of the machine, run its sshd, reap.

`banwatch-lab up` starts this under `unshare --pid --mount --uts --ipc`, so every mount made
here is private to the endpoint and disappears with it. The view it builds:

- `/etc`, `/var`, `/opt`, `/root` and `/tmp` are copy-on-write overlays of the host's: the endpoint
  sees the host's files (Python, the dpkg database, system configuration) and its writes
  (its own `/etc/banwatch`, `/opt/banwatch`, `/var/lib/banwatch`, dpkg database, machine id,
  host keys, sshd configuration) land in its own upper layer, in memory;
- `/run` and `/dev/shm` are its own empty tmpfs; `/proc` shows only its processes;
- everything else, `/` included, is the host's, read-only (without root, `/` is the endpoint's
  own, read-only, the host's top-level entries in it: see below).

Started by a user without root (`isolation` "user"), it runs in a user namespace that maps that
user to root and a subordinate range to the other ids. The host's files keep their owners,
whom the namespace does not map: they read as nobody's, and nobody's files cannot be changed in
place even by the namespace's root. So each overlay's upper layer starts with a skeleton of the
host's directories (owned by the endpoint's root, so it can add, replace and remove files in
them) and its own copy of what is changed in place (the account and dpkg databases, their locks);
`/root` is a fresh tmpfs, the host's being unreadable. And the endpoint gets a `/` of its own, a
tmpfs owned by its root holding the host's top-level entries (bound read-only, or overlaid as
above), made its root with pivot_root: sshd refuses a chroot or an authorized keys file outside
the home unless every directory above it is root's, `/` included, and the host's is nobody's.

Then it runs `sshd -D` on the endpoint's own loopback address and reaps every orphan, as an
init does; SIGTERM stops sshd and ends the endpoint (the kernel kills what is left in it).

It starts 21 times for a 20-endpoint lab, so it imports little: no json, subprocess or socket.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import sys

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2

OVERLAID = ("/etc", "/var", "/opt", "/root", "/tmp")
ROOT, USER = "root", "user"  # who started the endpoint: root, or a user in a user namespace
USER_OVERLAID = ("/etc", "/var", "/opt", "/tmp")
# Fresh tmpfs: the host's /root is unreadable, so the endpoint's root starts with an empty home.
USER_FRESH = {"/root": "mode=0700", "/run": "mode=0755,size=64m"}
# Changed in place (or linked to a backup) by useradd, groupadd and dpkg: the endpoint's own copies.
USER_COPIED = ("/etc/passwd", "/etc/group", "/etc/passwd-", "/etc/group-", "/var/lib/dpkg/status")
USER_EMPTY = ("/etc/.pwd.lock", "/var/lib/dpkg/lock", "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/triggers/Lock")
# The host's shadow files are unreadable without root: the endpoint's list the same accounts, locked.
USER_SHADOWS = {"/etc/shadow": ("/etc/passwd", ":*:::::::\n"), "/etc/shadow-": ("/etc/passwd", ":*:::::::\n"),
                "/etc/gshadow": ("/etc/group", ":*::\n"), "/etc/gshadow-": ("/etc/group", ":*::\n")}
SCRATCH = "/run"  # holds the overlays' upper layers, then is covered by a fresh /run
# Without root: the endpoint's own `/`, built in the scratch tmpfs before pivot_root makes it the
# root; the host's top-level entries not named above are bound into it read-only (/dev writable).
NEW_ROOT = f"{SCRATCH}/root"
SCRATCH_SIZE = "4g"  # a ceiling, not an allocation
UPPER = f"{SCRATCH}/upper"  # an overlaid path's upper layer is UPPER + path
SSHD = "/usr/sbin/sshd"
DBUS_MACHINE_ID = "/var/lib/dbus/machine-id"
SPEC_FIELDS = ("name", "address", "machine_id", "host_key", "sshd_config", "authorized_keys", "isolation")

_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    def encode(value: str | None) -> bytes | None:
        return value.encode() if value is not None else None

    if _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {fstype or 'remount'} on {target}: {os.strerror(errno)}")


def read_files(spec: dict[str, str]) -> dict[str, bytes]:
    """The endpoint's SSH files, read before any mount can hide the lab directory (under /run, say)."""
    files = {}
    for key, source in (("host_key", spec["host_key"]), ("host_key_pub", spec["host_key"] + ".pub"),
                        ("sshd_config", spec["sshd_config"]), ("authorized_keys", spec["authorized_keys"])):
        with open(source, "rb") as handle:
            files[key] = handle.read()
    return files


def build_filesystem(spec: dict[str, str]) -> None:
    files = read_files(spec)
    mount("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700,size={SCRATCH_SIZE}")
    if spec["isolation"] == USER:
        build_own_root()
    else:
        for top in OVERLAID:
            overlay(top, top)
        mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64m")
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for folder in ("/run/sshd", "/run/lock", "/etc/banwatch", "/opt/banwatch", "/var/lib/banwatch"):
        os.makedirs(folder, exist_ok=True)
    set_identity(spec)
    install_ssh_files(files)
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def overlay(top: str, target: str, *, own: bool = False) -> None:
    """The host's `top` on `target`, copy-on-write; with `own`, its upper layer starts with the
    endpoint's own directories and in-place files (own_upper_layer)."""
    upper, work = UPPER + top, f"{SCRATCH}/work{top}"
    os.makedirs(upper)
    os.makedirs(work)
    if own:
        own_upper_layer(top)
    mount("overlay", target, "overlay", 0, f"lowerdir={top},upperdir={upper},workdir={work}")


def build_own_root() -> None:
    """A `/` of the endpoint's root's own, the host's top-level entries in it, made the root."""
    os.makedirs(NEW_ROOT)
    mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for entry in os.scandir("/"):
        top, target = "/" + entry.name, NEW_ROOT + "/" + entry.name
        if entry.is_symlink():  # bin -> usr/bin and the like
            os.symlink(os.readlink(top), target)
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(target, entry.stat(follow_symlinks=False).st_mode & 0o7777)
            place_directory(top, target)
        elif entry.is_file(follow_symlinks=False):
            with open(target, "wb"):
                pass
            bind_read_only(top, target)
    os.chdir(NEW_ROOT)
    if _libc.pivot_root(b".", b".") != 0:  # the host's root is stacked on the new one: detach it
        raise OSError(ctypes.get_errno(), f"pivot_root: {os.strerror(ctypes.get_errno())}")
    if _libc.umount2(b".", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), f"detaching the host's root: {os.strerror(ctypes.get_errno())}")
    os.chdir("/")


def place_directory(top: str, target: str) -> None:
    """The host's directory `top` in the new root, as the endpoint sees it (see the module's doc)."""
    if top in USER_OVERLAID:
        overlay(top, target, own=True)
    elif top in USER_FRESH:
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, USER_FRESH[top])
    elif top == "/proc":
        mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    elif top == "/dev":  # writable: its devices (/dev/null) are opened for writing
        mount(top, target, None, MS_BIND | MS_REC)
    else:
        bind_read_only(top, target)


def bind_read_only(source: str, target: str) -> None:
    """`source` (and what is mounted under it) seen at `target`, read-only at its top."""
    mount(source, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def own_upper_layer(top: str) -> None:
    """Before `top` is overlaid: its directories (same modes) and its in-place files, the endpoint's own."""
    copy_directories(top, os.stat(top).st_dev)
    inside = top + "/"
    for path in USER_COPIED:
        if path.startswith(inside) and os.path.isfile(path):
            with open(path, "rb") as handle:
                write(UPPER + path, handle.read(), os.stat(path).st_mode & 0o777)
    for path in USER_EMPTY:
        if path.startswith(inside) and os.path.isdir(os.path.dirname(path)):
            write(UPPER + path, b"", 0o600)
    for path, (accounts, entry) in USER_SHADOWS.items():
        if path.startswith(inside) and os.path.exists(path):
            with open(accounts, encoding="utf-8") as handle:
                names = [line.split(":", 1)[0] for line in handle if ":" in line]
            write(UPPER + path, "".join(name + entry for name in names), 0o640)


def copy_directories(folder: str, device: int) -> None:
    """`folder` and the directories under it on the same file system (not symlinks), as empty
    directories of the same modes in the upper layer; unreadable ones stay empty, and one that
    vanishes meanwhile (the host's /tmp changes as it is read) is left out."""
    try:
        mode = os.stat(folder).st_mode & 0o7777
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    except PermissionError:
        entries = []
    os.makedirs(UPPER + folder, exist_ok=True)
    os.chmod(UPPER + folder, mode)
    for entry in entries:
        try:
            below = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_dev == device
        except FileNotFoundError:
            continue
        if below:
            copy_directories(entry.path, device)


def set_identity(spec: dict[str, str]) -> None:
    name = spec["name"].encode()
    if _libc.sethostname(name, len(name)) != 0:
        raise OSError(ctypes.get_errno(), "sethostname")
    write("/etc/hostname", spec["name"] + "\n", 0o644)
    write("/etc/machine-id", spec["machine_id"] + "\n", 0o444)
    if os.path.lexists(DBUS_MACHINE_ID):  # D-Bus's copy, which some tools (Ansible's facts) read first
        os.unlink(DBUS_MACHINE_ID)
        os.symlink("/etc/machine-id", DBUS_MACHINE_ID)
    with open("/etc/hosts", "rb") as handle:
        hosts = handle.read()
    write("/etc/hosts", hosts + f"{spec['address']}\t{spec['name']}\n".encode(), 0o644)


def install_ssh_files(files: dict[str, bytes]) -> None:
    """The endpoint's own /etc/ssh (host key, config) and root's authorized key, as on a device."""
    for name in os.listdir("/etc/ssh"):
        if name.startswith("ssh_host_"):
            os.unlink(os.path.join("/etc/ssh", name))
    write("/etc/ssh/ssh_host_ed25519_key", files["host_key"], 0o600)
    write("/etc/ssh/ssh_host_ed25519_key.pub", files["host_key_pub"], 0o644)
    write("/etc/ssh/sshd_config", files["sshd_config"], 0o644)
    ssh_dir = os.path.join(pwd.getpwnam("root").pw_dir, ".ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    write(os.path.join(ssh_dir, "authorized_keys"), files["authorized_keys"], 0o600)


def write(path: str, content: str | bytes, mode: int) -> None:
    """A new file renamed into place: a host file the endpoint cannot write (nobody's, in a user
    namespace) it can still replace."""
    data = content.encode() if isinstance(content, str) else content
    temporary = f"{path}.banwatch-lab.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def run(spec: dict[str, str]) -> int:
    build_filesystem(spec)
    sshd = os.fork()
    if sshd == 0:
        os.execv(SSHD, [SSHD, "-D", "-e"])

    def stop(_signum: int, _frame: object) -> None:
        os.kill(sshd, signal.SIGTERM)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        pid, status = os.wait()  # reap orphans too: this process is the endpoint's init
        if pid == sshd:
            sys.stderr.write(f"sshd exited ({os.waitstatus_to_exitcode(status)})\n")
            return 1


def main() -> int:
    """argv: name, address, machine id, host key, sshd config, authorized keys, isolation (see SPEC_FIELDS)."""
    if len(sys.argv) != len(SPEC_FIELDS) + 1:
        sys.stderr.write(f"usage: endpoint.py {' '.join(f.upper() for f in SPEC_FIELDS)}\n")
        return 2
    return run(dict(zip(SPEC_FIELDS, sys.argv[1:])))


if __name__ == "__main__":
    sys.exit(main())
