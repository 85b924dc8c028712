"""Action plugin: hand a device its signed policy through its own agent, in one remote command.

The agent already does everything an install needs (signature, host binding, version, expiry,
the atomic replace and the local fact), so a module would only add Ansible's module runtime on
every device (about 0.25 s of CPU each) to start it. Here the control node reads the host's
signed file and runs `banwatch-agent policy install -` on the device with the file on standard
input. The command line holds only the role's paths, each quoted; the policy never becomes part
of it. The agent answers in one JSON line, which becomes the task result.

Options, all required: `src` (the host's signed `.policy.json` on the control node) and, on the
device, `agent`, `config`, `fact` (the local fact the agent refreshes) and `release_link` (the link
to the release in use). The plugin knows no device path of its own: the banwatch_policy role
passes the banwatch_agent role's (`banwatch_agent_paths`), so a device laid out elsewhere
(`banwatch_agent_base_dir`, `banwatch_agent_config_dir`) is handled the same. Changed only when
the agent installed a new version or refreshed the fact; a rejection fails the host with the
agent's reason and the installed policy stays in force. Check mode: the agent verifies the policy
as it would install it and writes nothing. `--diff` shows the policy before and after. A host
whose inventory name is outside banwatch's rule fails before anything else: `src` is built from
that name.
"""

from __future__ import annotations

import json
import re
import shlex

from ansible.plugins.action import ActionBase

# What a signed policy may weigh (the agent refuses more: banwatch.core.policy.verify.MAX_POLICY_BYTES).
MAX_POLICY_BYTES = 4 * 1024 * 1024
# The shell's answers when the command is missing or cannot be run.
NO_COMMAND = (126, 127)
# The options: the control node's file, then the device's paths.
OPTIONS = ("src", "agent", "config", "fact", "release_link")
# The host names banwatch accepts: the pattern of banwatch.core.host_names (docs/policy.md, 'Host names').
HOST_NAME = re.compile(r"^(?!.*\.\.)[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?\Z")


def describe(summary):
    """A policy summary as the text --diff compares, one fact per line."""
    if not summary:
        return "(no policy installed)\n"
    lines = [f"version: {summary['version']}", f"digest: {summary['digest']}", f"expires_at: {summary['expires_at']}"]
    lines += [f"app: {app}" for app in summary["apps"]]
    lines += [f"exemption: {exemption}" for exemption in summary["exemptions"]] or ["exemption: (none)"]
    return "\n".join(lines) + "\n"


def read_policy(path):
    """The signed file's bytes; ValueError with the reason when it cannot be handed over."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the policy {path}: {exc.strerror}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise ValueError(f"the policy {path} is over {MAX_POLICY_BYTES} bytes")
    return data


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(OPTIONS)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        host = (task_vars or {}).get("inventory_hostname")
        if not isinstance(host, str) or not HOST_NAME.match(host):
            return {**result, "failed": True,
                    "msg": f"host {json.dumps(host)} cannot be a banwatch host name (its policy file is named "
                           "after it): rename it in the inventory (docs/policy.md, 'Host names')"}
        args = self._task.args
        missing = [key for key in OPTIONS if not isinstance(args.get(key), str) or not args[key]]
        if missing:
            return {**result, "failed": True,
                    "msg": f"{', '.join(missing)} must be given as non-empty paths ({', '.join(OPTIONS)} are all "
                           "required; the banwatch_policy role passes the banwatch_agent role's paths)"}
        try:
            policy = read_policy(args["src"])
        except ValueError as exc:
            return {**result, "failed": True, "msg": str(exc)}
        check = bool(self._task.check_mode)
        argv = [args["agent"], "policy", "install", "-", "--config", args["config"]]
        argv += ["--check"] if check else ["--fact", args["fact"], "--release-link", args["release_link"]]
        done = self._low_level_execute_command(shlex.join(argv), in_data=policy)
        return {**result, **self._outcome(done, args["agent"], check)}

    @staticmethod
    def _outcome(done, agent, check):
        """The task result from the agent's answer (one JSON line)."""
        rc, stdout, stderr = done["rc"], done["stdout"].strip(), done["stderr"].strip()
        if rc in NO_COMMAND and not stdout:
            if check:
                return {"changed": True, "result": "installed", "version": None, "before": None,
                        "msg": "the agent is not installed yet; the policy would be installed after it"}
            return {"failed": True, "rc": rc, "stderr": stderr,
                    "msg": f"the banwatch agent is not installed at {agent}; "
                           "deploy it first (the banwatch_agent role: banwatch.deploy.deploy_agent)"}
        try:
            outcome = json.loads(stdout.splitlines()[-1])
            verdict = outcome["result"]
        except (ValueError, IndexError, KeyError, TypeError):
            return {"failed": True, "rc": rc, "stderr": stderr,
                    "msg": f"the agent could not install the policy (exit {rc}): {stderr or stdout}"}
        before, after = outcome.get("before"), outcome.get("after")
        if verdict == "rejected":
            return {"failed": True, "result": verdict, "reason": outcome.get("reason"), "before": before,
                    "msg": f"the agent rejected the policy: {outcome.get('reason')}"}
        return {"changed": verdict == "installed" or bool(outcome.get("fact_changed")), "result": verdict,
                "version": outcome["version"], "before": before, "after": after,
                "diff": {"before": describe(before), "after": describe(after)},
                "ansible_facts": {"banwatch_policy_installed_version": outcome["version"]}}
