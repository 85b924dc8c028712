"""The devices the control node trusts: one `<inventory host name>.pub` per device in a directory.

The banwatch_collector role enrols each device's public key here (from the key the device
generated at deploy). A report is accepted only when signed by the key enrolled under the
host name it claims. A key file that cannot be read is an error (nothing is ingested), not a
device silently left out; so is one whose name is not `<host>.pub` for a host name within the
rule (`host_names`): nothing else is enrolled by the roles, and no other name can be claimed.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from banwatch.core import host_names, signing
from banwatch.core.errors import InputError

KEY_SUFFIX = ".pub"


def load_enrolled(folder: str) -> dict[str, Ed25519PublicKey]:
    """Public keys by host name."""
    if not os.path.isdir(folder):
        raise InputError.single(folder, "no directory of enrolled device keys here",
                                "point --enrolled at the directory holding <host>.pub for each device")
    keys = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(KEY_SUFFIX) and not name.startswith("."):
            host = host_names.check(name[: -len(KEY_SUFFIX)], os.path.join(folder, name),
                                    f"remove the file, or enrol the device under its inventory name: {host_names.RULE}")
            keys[host] = signing.load_public_key(os.path.join(folder, name))
    return keys
