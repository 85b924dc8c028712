"""A managed device's status → the report the fleet store keeps for it, with its state decided
by the same judge as an agent's report (`states.report_state`).

Findings are the ban-list apps (banned and under review) among the apps the manager lists. A
banned app is covered when the document the manager says the device runs carries an exemption
for it (the export's manifest: `depends_on`); where the manager says nothing of documents (a
plain app list), by the document the export gave the device. Only a document the manager reports
makes its exemptions `applied` (`exemptions`), and only the export's own document for the device
counts as its policy version: a device still on another one has `not yet`.
"""

from __future__ import annotations

from banwatch.control.managed.inventory import ANDROID, APPLE, INTUNE, ManagedDevice
from banwatch.core.digest import sha256_hex
from banwatch.core.policy.model import Exemption
from banwatch.core.report.schema import COMPLIANT, EXEMPT, UNDER_REVIEW, VIOLATION
from banwatch.fleet.cell_texts import findings_text
from banwatch.fleet.imports.catalogue import Catalogue
from banwatch.fleet.imports.export_view import ExportView
from banwatch.fleet.imports.listing import DeviceStatus
from banwatch.fleet.records import dumps
from banwatch.fleet.states import report_state
from banwatch.fleet.store import ReportRecord

# Where a manager's app list is not all the device has: the absence of a banned app there proves
# nothing, so such a device is never `compliant` (docs/fleet.md, "Managed devices").
UNSEEN: dict[tuple[str, str], str] = {
    (ANDROID, "work_profile"): "application reports cover the work profile only, not the personal profile",
    (ANDROID, "personally_owned"): "a personally-owned device reports its work profile only",
    (APPLE, "user_enrolled"): "User Enrollment shows the MDM its managed apps only",
    (INTUNE, "ios_user_enrolled"): "Intune sees no personal apps on a user-enrolled device",
    (INTUNE, "windows_personal"): "Intune lists no unmanaged apps of a personally owned device",
}
APPLIED, OTHER_DOCUMENT, NOT_REPORTED = "applied", "other document", "not reported"


class Judge:
    """Reports of one manager's devices, against one ban list and (optionally) one export."""

    def __init__(self, manager: str, catalogue: Catalogue, exemptions: tuple[Exemption, ...],
                 export: ExportView | None) -> None:
        self.manager = manager
        self.catalogue = catalogue
        self.app_of = {e.id: e.app for e in exemptions}
        self.export = export

    def record(self, status: DeviceStatus, device: ManagedDevice) -> ReportRecord:
        assigned = self.export.assigned.get(device.name) if self.export else None
        reported = status.applied_document
        covering = {self.app_of[e]: e for e in self._carried(reported or assigned) if e in self.app_of}
        findings = []
        for app, seen in self.catalogue.find(status.apps):
            verdict = UNDER_REVIEW if not app.banned else EXEMPT if app.id in covering else VIOLATION
            findings.append({"app": app.id, "verdict": verdict,
                             "exemption": covering[app.id] if verdict == EXEMPT else None, "source": self.manager,
                             "action": None, "seen": " ".join(filter(None, (seen.identifier, seen.version)))})
        violations = sum(f["verdict"] == VIOLATION for f in findings)
        exempt = sum(f["verdict"] == EXEMPT for f in findings)
        state, reason = report_state(violations=violations, verdict=VIOLATION if violations else COMPLIANT,
                                     findings=findings, policy_rejection=status.manager_error, source_errors=(),
                                     exempt=exempt, unseen=UNSEEN.get((self.manager, device.enrolment)))
        current = self.export is not None and reported is not None and reported == assigned
        version = self.export.policy_version if current and self.export else None
        policy_state = APPLIED if current else NOT_REPORTED if reported is None else OTHER_DOCUMENT
        digest = sha256_hex(status.raw)
        return ReportRecord(
            report_id=f"{self.manager}:{status.device_id}:{status.as_of}:{digest[:16]}",
            host=device.name, groups=",".join(sorted(device.host.groups)), generated_at=status.as_of,
            content_sha256=digest, agent_version="", detection=None, policy_version=version,
            policy_digest=None, policy_state=policy_state, policy_rejection=status.manager_error,
            exemptions=",".join(sorted(self._carried(reported))), verdict=VIOLATION if violations else COMPLIANT,
            violations=violations, exempt=exempt, source_errors="[]", dropped=0, findings=dumps(findings),
            state=state, reason=reason, epoch=None, sequence=None, agent_text=device.enrolment,
            policy_text=_policy_text(version, reported, assigned), findings_text=findings_text(findings),
            source=self.manager)

    def _carried(self, document: str | None) -> tuple[str, ...]:
        return self.export.carried(document) if self.export else ()


def _policy_text(version: int | None, reported: str | None, assigned: str | None) -> str:
    """`v7 fully-managed-all`; else the document the device runs, or that none is reported."""
    if version is not None:
        return f"v{version} {reported}"
    if reported is None:
        return "no document reported"
    return f"runs {reported}" + (f", not {assigned}" if assigned else "")
