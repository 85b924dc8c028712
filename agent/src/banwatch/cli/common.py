"""What both command-line tools share: turning user mistakes into exit code 2, not tracebacks."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from banwatch import __version__
from banwatch.errors import InputError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2

Handler = Callable[[argparse.Namespace], int]


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
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


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")
