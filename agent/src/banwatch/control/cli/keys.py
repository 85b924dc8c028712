"""`keys generate`: the Ed25519 key pair that signs every device's policy."""

from __future__ import annotations

import argparse

from banwatch.core import signing
from banwatch.core.cli import EXIT_OK


def add_keys_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="policy signing keys")
    commands = parser.add_subparsers(metavar="COMMAND")
    generate = commands.add_parser("generate", help="make a new Ed25519 signing key pair")
    generate.add_argument("--out", required=True, metavar="DIR", help="where to write the key pair")
    generate.add_argument("--passphrase-file", metavar="FILE", help="encrypt the private key with this passphrase")
    generate.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    files = signing.generate(args.out, signing.read_passphrase(args.passphrase_file))
    print(f"key id {files.key_id}\nprivate key {files.private} (mode 0600; keep it on the control node)\n"
          f"public key  {files.public} (install it on every device as a trusted key)")
    return EXIT_OK
