"""Action plugin: build and sign every device's policy on the control node, in one process.

The build belongs to the control node, where the source and the signing key are. Run through
the `command` module, Ansible would pack a module, start a new Python and run it through a
temporary directory, for what is one subprocess: here the worker runs `argv` itself (a list,
never a shell string) and returns what the build printed, so each push spends its time on the
devices. The output is `banwatch policy build --json`'s: `changed` says whether a new version
was issued.
"""

from __future__ import annotations

import json
import subprocess

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("argv", "stdin"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        argv, stdin = self._task.args.get("argv"), self._task.args.get("stdin", "")
        if not isinstance(argv, list) or not argv or not all(isinstance(word, str) for word in argv):
            return {**result, "failed": True, "msg": "argv must be a non-empty list of strings"}
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        except OSError as exc:
            return {**result, "failed": True, "msg": f"cannot run {argv[0]}: {exc.strerror}", "cmd": argv}
        result.update(cmd=argv, rc=done.returncode, stdout=done.stdout, stderr=done.stderr, changed=False)
        if done.returncode != 0:
            return {**result, "failed": True, "msg": done.stderr.strip() or f"{argv[0]} exited {done.returncode}"}
        try:
            result["changed"] = bool(json.loads(done.stdout)["changed"])
        except (ValueError, KeyError, TypeError):
            return {**result, "failed": True, "msg": f"{argv[0]} printed no build summary: {done.stdout[:200]!r}"}
        return result
