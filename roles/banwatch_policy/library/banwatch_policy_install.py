#!/usr/bin/python
"""Ansible module: hand a signed policy to the device's banwatch agent, in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: banwatch_policy_install
short_description: Install a signed banwatch policy on a device through its agent
description:
  - Writes the signed policy to an incoming file (atomically, only when its content differs) and
    runs C(banwatch-agent policy install), which verifies the signature, the host binding, the
    version and the expiry before it replaces the installed policy atomically.
  - Changed only when the agent installed a new version (or the local fact had to be refreshed).
    A rejection fails the host with the agent's reason; the installed policy stays in force.
  - In check mode the agent verifies the policy as it would install it and nothing is written.
  - With C(--diff), shows the policy before and after (version, expiry, apps, exemptions).
version_added: "0.1.0"
options:
  policy:
    description: The signed policy envelope (the content of the host's C(.policy.json) build file).
    type: str
    required: true
  incoming:
    description: Where the file lands on the device before the agent installs it.
    type: path
    default: /var/lib/banwatch/incoming/policy.json
  agent:
    description: The agent command on the device.
    type: path
    default: /opt/banwatch/current/bin/banwatch-agent
  config:
    description: The agent's configuration on the device.
    type: path
    default: /etc/banwatch/agent.yml
  fact:
    description: The Ansible local fact the agent refreshes after installing.
    type: path
    default: /etc/ansible/facts.d/banwatch.fact
  release_link:
    description: The link to the agent release in use, which the fact describes.
    type: path
    default: /opt/banwatch/current
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
author: banwatch
"""

EXAMPLES = r"""
- name: Install this host's policy
  banwatch_policy_install:
    policy: "{{ lookup('ansible.builtin.file', '/srv/banwatch/policies/' ~ inventory_hostname ~ '.policy.json') }}"
"""

RETURN = r"""
result:
  description: What the agent did (C(installed), C(unchanged)), or would do in check mode.
  type: str
  returned: success
  sample: installed
version:
  description: The policy version now installed (or that would be).
  type: int
  returned: success
  sample: 7
before:
  description: The installed policy before (version, digest, expires_at, apps, exemptions), or null.
  type: dict
  returned: always
after:
  description: The installed policy after.
  type: dict
  returned: success
ansible_facts:
  description: >-
    C(banwatch_policy_installed_version), the version the device now enforces
    (the rollout's health gate waits for it).
  type: dict
  returned: success
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def describe(summary):
    """A policy summary as the text --diff compares, one fact per line."""
    if not summary:
        return "(no policy installed)\n"
    lines = [f"version: {summary['version']}", f"digest: {summary['digest']}", f"expires_at: {summary['expires_at']}"]
    lines += [f"app: {app}" for app in summary["apps"]]
    lines += [f"exemption: {exemption}" for exemption in summary["exemptions"]] or ["exemption: (none)"]
    return "\n".join(lines) + "\n"


def stage(module, content, incoming):
    """The file the agent reads: `incoming` (rewritten only when it differs), or a scratch copy in check mode."""
    data = content.encode("utf-8")
    if module.check_mode:
        handle, path = tempfile.mkstemp(prefix="banwatch-policy-", suffix=".json", dir=module.tmpdir)
        with os.fdopen(handle, "wb") as scratch:
            scratch.write(data)
        return path
    try:
        with open(incoming, "rb") as current:
            if current.read() == data:
                return incoming
    except OSError:
        pass
    os.makedirs(os.path.dirname(incoming), mode=0o700, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".policy-", dir=os.path.dirname(incoming))
    with os.fdopen(handle, "wb") as staged:
        staged.write(data)
        staged.flush()
        os.fsync(staged.fileno())
    module.atomic_move(temp, incoming)
    os.chmod(incoming, 0o600)
    return incoming


def main():
    module = AnsibleModule(
        argument_spec={
            "policy": {"type": "str", "required": True},
            "incoming": {"type": "path", "default": "/var/lib/banwatch/incoming/policy.json"},
            "agent": {"type": "path", "default": "/opt/banwatch/current/bin/banwatch-agent"},
            "config": {"type": "path", "default": "/etc/banwatch/agent.yml"},
            "fact": {"type": "path", "default": "/etc/ansible/facts.d/banwatch.fact"},
            "release_link": {"type": "path", "default": "/opt/banwatch/current"},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not os.access(params["agent"], os.X_OK):
        if module.check_mode:
            module.exit_json(changed=True, result="installed", version=None, before=None,
                             msg="the agent is not installed yet; the policy would be installed after it")
        module.fail_json(msg=f"the banwatch agent is not installed at {params['agent']}; "
                             "deploy it first (playbooks/deploy_agent.yml)")
    path = stage(module, params["policy"], params["incoming"])
    argv = [params["agent"], "policy", "install", path, "--config", params["config"]]
    argv += ["--check"] if module.check_mode else ["--fact", params["fact"], "--release-link", params["release_link"]]
    rc, stdout, stderr = module.run_command(argv)
    try:
        outcome = json.loads(stdout)
    except ValueError:
        module.fail_json(msg=f"the agent gave no answer (exit {rc}): {stderr.strip() or stdout.strip()}", rc=rc)
    diff = {"before": describe(outcome.get("before")), "after": describe(outcome.get("after"))}
    if outcome["result"] == "rejected":
        module.fail_json(msg=f"the agent rejected the policy: {outcome.get('reason')}", result="rejected",
                         reason=outcome.get("reason"), before=outcome.get("before"))
    module.exit_json(changed=outcome["result"] == "installed" or bool(outcome.get("fact_changed")),
                     result=outcome["result"], version=outcome["version"], before=outcome.get("before"),
                     after=outcome.get("after"), diff=diff,
                     ansible_facts={"banwatch_policy_installed_version": outcome["version"]})


if __name__ == "__main__":
    main()
