"""Apple MDM: `InstalledApplicationList` command responses, as the device sends them (a plist,
read with plistlib, given the time it checked in), or as an MDM server's webhook posts them
(MicroMDM and NanoMDM: `{"topic", "created_at", "acknowledge_event": {"udid", "status",
"raw_payload": <the response plist, base64>}}`, one event or a list of them per file).

From a response: `UDID`, `Status` (`Error` with its `ErrorChain` is the manager's error),
`InstalledApplicationList[]` (`Identifier`, `Version`/`ShortVersion`); a `ProfileList`
response names the banwatch profile the device has (`PayloadIdentifier`
`banwatch.banlist.<document>`). A device counts only where the file holds its app list; its
time is the latest event of it in the file (a check-in, an acknowledged command). The store
keeps what was read: the UDID, that time, the errors, each app as `[Identifier, version]` and
the banwatch document of the profile list.
"""

from __future__ import annotations

import base64
import binascii
import plistlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from banwatch.fleet.imports.listing import (
    MAX_APPS,
    MAX_DEVICES,
    MAX_FILE_BYTES,
    DeviceStatus,
    Fields,
    InstalledApp,
    ListingRejected,
    canonical,
)

PROFILE_PREFIX = "banwatch.banlist."  # the export's profile identifiers: `banwatch.banlist.<document>`
STATUSES = ("Acknowledged", "Error", "CommandFormatError", "NotNow", "Idle")
_PLIST_HEADERS = (b"<?xml", b"<!DOCTYPE plist", b"<plist", b"bplist00")


def is_plist(data: bytes) -> bool:
    return data.lstrip().startswith(_PLIST_HEADERS)


def parse_plist(data: bytes, checked_in: str | None) -> list[DeviceStatus]:
    """One response plist; `checked_in`: when the device sent it (a bare response carries no time)."""
    try:
        response = plistlib.loads(data)
    except Exception:  # noqa: BLE001 - plistlib raises what its parsers raise (ValueError, ExpatError, ...)
        raise ListingRejected(None, "not a property list") from None
    if checked_in is None:
        raise ListingRejected(None, "a bare MDM response carries no time: give --checked-in TIME (when the device "
                                    "sent it), or import the MDM server's webhook events instead")
    device = _Device()
    device.add(response, "the response", checked_in)
    return [device.status("the response")]


def parse_webhook(document: Any) -> list[DeviceStatus]:
    """Webhook events (one, or a list); each device with an app list in them."""
    events = document if isinstance(document, list) else [document]
    if len(events) > MAX_DEVICES:
        raise ListingRejected(None, f"holds {len(events):,} events, more than the {MAX_DEVICES:,} one file may hold")
    devices: dict[str, _Device] = {}
    checked_in: dict[str, str] = {}  # each device's latest check-in event (Authenticate, TokenUpdate, ...)
    for index, event in enumerate(events):
        entry = f"event {index}"
        fields = Fields(event, entry)
        fields.required_text("topic")
        created = fields.time("created_at")
        acknowledged = fields.data.get("acknowledge_event")
        if acknowledged is None:  # a check-in: no app list, but the device was there
            checkin = Fields(fields.data.get("checkin_event"), f"{entry} checkin_event")
            udid = checkin.required_text("udid")
            checked_in[udid] = max(checked_in.get(udid, created), created)
            continue
        ack = Fields(acknowledged, f"{entry} acknowledge_event")
        udid = ack.required_text("udid")
        response = _response(ack)
        if response.get("UDID", udid) != udid:
            raise ack.fail(f"raw_payload is the response of device {response.get('UDID')!r}, not of {udid}")
        response.setdefault("UDID", udid)
        devices.setdefault(udid, _Device()).add(response, entry, created)
    for udid, moment in checked_in.items():
        if udid in devices:
            devices[udid].as_of = max(devices[udid].as_of, moment)
    return [device.status(device.entry) for device in devices.values() if device.listed]


def _response(ack: Fields) -> dict[str, Any]:
    payload = ack.required_text("raw_payload", limit=MAX_FILE_BYTES)
    try:
        response = plistlib.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        raise ack.fail("raw_payload is not a base64 property list") from None
    except Exception:  # noqa: BLE001 - plistlib's XML parser raises its own errors
        raise ack.fail("raw_payload is not a base64 property list") from None
    if not isinstance(response, dict):
        raise ack.fail("raw_payload is not a response (a dictionary)")
    return response


@dataclass
class _Device:
    """One device's responses in a file, gathered."""

    entry: str = ""
    udid: str = ""
    as_of: str = ""
    listed: bool = False
    apps: tuple[InstalledApp, ...] = ()
    document: str | None = None
    errors: list[str] = field(default_factory=list)

    def add(self, response: Any, entry: str, moment: str) -> None:
        fields = Fields(response, entry)
        self.udid = fields.required_text("UDID")
        self.entry = self.entry or f"{entry} (device {self.udid})"
        self.as_of = max(self.as_of, moment)
        status = fields.choice("Status", STATUSES, optional=False)
        if status in ("Error", "CommandFormatError"):
            self.errors.append(f"{status}: {_error_chain(fields)}")
        if "InstalledApplicationList" in response:
            self.listed = True
            self.apps = tuple(_apps(fields))
        if "ProfileList" in response:
            self.document = _banwatch_profile(fields)

    def status(self, entry: str) -> DeviceStatus:
        if not self.listed:
            raise ListingRejected(entry, "holds no InstalledApplicationList")
        error = f"apple_mdm: {'; '.join(self.errors)}" if self.errors else None
        return DeviceStatus(entry=self.entry, device_id=self.udid, as_of=self.as_of, apps=self.apps,
                            applied_document=self.document, applied_version=None, manager_error=error,
                            raw=canonical({"UDID": self.udid, "time": self.as_of, "errors": self.errors,
                                           "InstalledApplicationList": [tuple(app) for app in self.apps],
                                           "ProfileList": self.document}))


def _apps(fields: Fields) -> Iterable[InstalledApp]:
    for index, item in enumerate(fields.items("InstalledApplicationList", MAX_APPS, optional=False)):
        app = Fields(item, f"{fields.entry} InstalledApplicationList[{index}]")
        version = app.text("ShortVersion", optional=True) or app.text("Version", optional=True)
        yield InstalledApp(app.required_text("Identifier"), version)


def _banwatch_profile(fields: Fields) -> str | None:
    for index, item in enumerate(fields.items("ProfileList", MAX_APPS, optional=False)):
        identifier = Fields(item, f"{fields.entry} ProfileList[{index}]").required_text("PayloadIdentifier")
        if identifier.startswith(PROFILE_PREFIX):
            return identifier[len(PROFILE_PREFIX):]
    return None


def _error_chain(fields: Fields) -> str:
    texts = []
    for index, item in enumerate(fields.items("ErrorChain", 32)):
        link = Fields(item, f"{fields.entry} ErrorChain[{index}]")
        texts.append(link.text("LocalizedDescription", optional=True) or link.text("ErrorDomain", optional=True)
                     or "error")
    return ", ".join(texts) or "no error chain given"
