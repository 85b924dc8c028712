"""The newest release version in an AppStream metainfo file, read without trusting the file.

The file comes from an installed app, so it is untrusted input: a document type
declaration (the way to entity-expansion and external-entity attacks) is refused outright,
and parsing stops at the first <release> element.
"""

from __future__ import annotations

import xml.parsers.expat


class _Found(Exception):
    def __init__(self, version: str | None) -> None:
        self.version = version


def _refuse_doctype(*_args: object) -> None:
    raise ValueError("document type declarations are not allowed")


def first_release_version(data: bytes) -> str | None:
    """The version of the first <release> inside <releases>, or None."""
    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    depth_in_releases = [False]

    def start(name: str, attrs: dict[str, str]) -> None:
        if name == "releases":
            depth_in_releases[0] = True
        elif name == "release" and depth_in_releases[0]:
            raise _Found(attrs.get("version"))

    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except _Found as found:
        return found.version
    except (ValueError, xml.parsers.expat.ExpatError):
        return None
    return None
