"""Action plugin: sign a Google service account's JWT assertion on the control node.

The private key is read from the (vault-encrypted) service-account JSON and used here only: the
task returns the signed assertion and the token_uri to post it to with `ansible.builtin.uri`
(the OAuth 2.0 JWT bearer grant). Run it with no_log: its result is a credential.
"""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase

from banwatch.control.managed.google_auth import JWT_BEARER_GRANT, assertion
from banwatch.control.managed.push import PushRefused


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("service_account", "scope", "variable"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        where = str(args.get("variable", "service_account"))
        try:
            signed, token_uri = assertion(args.get("service_account"), str(args.get("scope")), int(time.time()), where)
        except PushRefused as exc:
            return {**result, "failed": True, "msg": str(exc)}
        return {**result, "changed": False, "assertion": signed, "token_uri": token_uri, "grant_type": JWT_BEARER_GRANT}
