"""Start a detached process inside a lab endpoint (run through `nsenter` by `banwatch-lab run`).

With `--as NAME`, the program is first copied to `/tmp/banwatch-lab/bin/NAME` in the
endpoint, so the process carries that name everywhere a scanner looks (comm, exe, argv[0]).
Prints the new process's pid as the endpoint sees it, once the exec has succeeded; the
process is left running, adopted by the endpoint's init.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

BIN_DIR = "/tmp/banwatch-lab/bin"


def resolve(program: str, alias: str | None) -> str:
    found = shutil.which(program)
    if found is None:
        raise SystemExit(f"{program}: not found in the endpoint's PATH")
    if alias is None:
        return found
    os.makedirs(BIN_DIR, exist_ok=True)
    target = os.path.join(BIN_DIR, alias)
    # A copy renamed into place: the name may belong to a program still running from an earlier
    # `lab run`, which cannot be written over (ETXTBSY) but can be replaced.
    temporary = f"{target}.{os.getpid()}.tmp"
    shutil.copy2(found, temporary)
    os.replace(temporary, target)
    return target


def start_detached(executable: str, argv: list[str]) -> int:
    """Fork, start a new session and exec; report the exec's failure through a close-on-exec pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execv(executable, argv)
        except OSError as exc:
            os.write(write_end, str(exc).encode())
        os._exit(127)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        failure = pipe.read()
    if failure:
        os.waitpid(pid, 0)
        raise SystemExit(f"cannot start {executable}: {failure.decode(errors='replace')}")
    return pid


def main() -> int:
    parser = argparse.ArgumentParser(prog="banwatch_lab.spawn")
    parser.add_argument("--as", dest="alias", metavar="NAME")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    command = argv[cut + 1:]
    if not command:
        raise SystemExit("no command given")
    executable = resolve(command[0], args.alias)
    argv = [executable if args.alias else command[0], *command[1:]]
    print(start_detached(executable, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
