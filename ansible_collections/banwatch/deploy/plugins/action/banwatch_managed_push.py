"""Action plugin: push an export's documents and assignments to a device manager, only what differs.

Two stages on the control node. `reads`: check the export against the ban register (a document
that would switch the Play Store to allow-list mode, or block what the register does not ban, is
refused by name) and list what to read from the manager; the role reads those with
`ansible.builtin.uri`. `push`: compare what was read with the export, report changed and the
before/after of each difference (shown with --diff, also in check mode), then, unless in check
mode, write them in order through `ansible.builtin.uri`, documents before device assignments,
stopping at the first failure, which is named with its HTTP status.
"""

from __future__ import annotations

import re

from ansible.plugins.action import ActionBase

from banwatch.control.managed.push import PushRefused, error_message, replies
from banwatch.control.managed.push_android import AndroidPush, banned_packages
from banwatch.control.managed.push_intune import Banned, IntunePush
from banwatch.control.policy_source import PolicySource, load_policy_source
from banwatch.core.errors import InputError

_MANAGERS = ("android_management", "intune")
# What a created object's id may be before it goes into the next write's URL (Graph's are GUIDs).
_CREATED_ID = re.compile(r"^[A-Za-z0-9-]{1,128}$")


def manager_push(manager: str, export_dir: str, source: PolicySource, api_url: str,
                 beta_api_url: str) -> AndroidPush | IntunePush:
    if manager == "intune":
        return IntunePush(export_dir, Banned.of(source), api_url, beta_api_url)
    return AndroidPush(export_dir, banned_packages(source), api_url)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("stage", "manager", "export_dir", "source_dir", "api_url", "beta_api_url", "token",
                             "found", "ca_path", "validate_certs", "timeout"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        if args.get("stage") not in ("reads", "push") or args.get("manager") not in _MANAGERS:
            return {**result, "failed": True, "msg": f"stage must be reads or push, manager one of {_MANAGERS}"}
        try:
            push = manager_push(args["manager"], str(args["export_dir"]), load_policy_source(str(args["source_dir"])),
                                str(args["api_url"]), str(args.get("beta_api_url", "")))
            if args["stage"] == "reads":
                return {**result, "changed": False, "reads": push.reads()}
            plan = push.plan(replies(args.get("found"), "found"))
        except (PushRefused, InputError) as exc:
            return {**result, "failed": True, "msg": str(exc)}
        result.update(changed=bool(plan.writes), diff=plan.diffs, writes=[write.what for write in plan.writes])
        if self._task.check_mode:
            return result
        created: dict[str, str] = {}
        for done, write in enumerate(plan.writes):
            answer = self._execute_module(module_name="ansible.builtin.uri", task_vars=task_vars, module_args={
                "url": write.url.format(**created), "method": write.method, "body": write.body, "body_format": "json",
                "headers": {"Authorization": f"Bearer {args['token']}"}, "status_code": [200, 201, 204],
                "return_content": True, "timeout": int(args.get("timeout", 30)),
                "validate_certs": bool(args.get("validate_certs", True)),
                **({"ca_path": args["ca_path"]} if args.get("ca_path") else {}), "_ansible_no_log": True})
            if answer.get("failed") or answer.get("status") not in (200, 201, 204):
                status = answer.get("status", -1)
                reason = f"HTTP {status}{error_message(answer.get('json'))}" if status > 0 else \
                    str(answer.get("msg", "no answer"))[:300]
                return {**result, "failed": True, "written": [w.what for w in plan.writes[:done]],
                        "msg": f"{write.what}: {write.method} answered {reason}; {done} write(s) before it done, "
                               "nothing after it written: the manager keeps its earlier documents for the rest"}
            if write.key is not None:
                made = (answer.get("json") or {}).get("id") if isinstance(answer.get("json"), dict) else None
                if not isinstance(made, str) or not _CREATED_ID.match(made):
                    return {**result, "failed": True, "written": [w.what for w in plan.writes[:done + 1]],
                            "msg": f"{write.what}: the manager answered without a usable id ({str(made)[:80]!r}); "
                                   "nothing after it written"}
                created[write.key] = made
        return result
