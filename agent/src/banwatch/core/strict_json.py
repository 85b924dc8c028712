"""JSON from outside (a device's report, a signed policy, an inventory listing), read strictly.

`json.loads` takes more than banwatch can use: a lone surrogate escape (`"\\udcff"`) is no
character, so nothing can sign, store or print it back as UTF-8, and an array nested a hundred
thousand deep raises RecursionError, not ValueError. Here both are a `ValueError` that says
which, like any other JSON that is not valid.
"""

from __future__ import annotations

import json
import re
from typing import Any

# What a lone surrogate needs in JSON: its escape (UTF-8 itself cannot hold one). Only a document
# holding one is encoded again to find whether it is a pair (fine) or alone (refused).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_encode = json.JSONEncoder(ensure_ascii=False).encode


class NotStrictJson(ValueError):
    """The bytes are not JSON banwatch can use; the message says why, in a few words."""


def loads(data: bytes) -> Any:
    try:
        value = json.loads(data)
    except RecursionError:
        raise NotStrictJson("JSON nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise NotStrictJson(f"not JSON ({exc})") from None
    if _SURROGATE_ESCAPE.search(data) is not None:
        try:
            _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            raise NotStrictJson("text that is not valid Unicode (a lone surrogate escape)") from None
    return value
