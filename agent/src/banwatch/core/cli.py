"""What both command-line tools share: turning user mistakes into exit code 2, not tracebacks."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from banwatch import __version__
from banwatch.core.errors import InputError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2

Handler = Callable[[argparse.Namespace], int]


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parse_with_trailing_command(parser, list(sys.argv[1:] if argv is None else argv))
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    try:
        return handler(args)
    except InputError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def parse_with_trailing_command(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Everything after the first `--` is a command to run, kept whole (`lab run HOST -- CMD…`);
    only subcommands that default `trailing_command` accept one."""
    trailing = None
    if "--" in argv:
        cut = argv.index("--")
        argv, trailing = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if trailing is not None:
        if not hasattr(args, "trailing_command"):
            parser.error("'--' is only used before a command to run (banwatch-lab run HOST -- CMD…)")
        args.trailing_command = trailing
    return args


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def print_json_line(document: Any) -> None:
    sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")


def lazy(module: str, name: str) -> Handler:
    """A command handler imported only when its command runs, so a quick command (a policy
    install, a status check) never pays for the imports of the daemon or the scanner."""

    def handler(args: argparse.Namespace) -> int:
        command: Handler = getattr(importlib.import_module(module), name)
        return command(args)

    return handler
