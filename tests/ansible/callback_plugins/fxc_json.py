# Copyright: (c) 2026, fogbow-xmpp-ctl developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""The whole ansible-playbook run as one JSON document, for tests/ansible/playbook.sh.

ansible-core has no JSON stdout callback of its own (the `json` one lives in
the ansible.posix collection, which the test does not download). This one
prints {"plays": [{"play", "tasks": [{"task": {"name", "action"}, "hosts":
{HOST: RESULT}}]}], "stats": {HOST: {"ok", "changed", "failures",
"unreachable", "skipped", "rescued", "ignored"}}}, each RESULT as the
controller received it (no_log already applied) with `invocation` and
`diff` kept, so a grep of the output for a secret covers the module's
arguments and diff too.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: fxc_json
    type: stdout
    short_description: one JSON document for the whole run (test fixture)
    description:
        - Prints plays, tasks, per-host results (invocation and diff included) and stats as JSON at the end of the run.
        - A test fixture of fogbow-xmpp-ctl (tests/ansible/playbook.sh), not a shipped plugin.
    author: fogbow-xmpp-ctl developers
"""

import json

from ansible.plugins.callback import CallbackBase
from ansible.vars.clean import module_response_deepcopy, strip_internal_keys


def _parts(result):
    """(task, host name, result dict) of a task result, on ansible-core 2.17 to 2.19."""
    task = getattr(result, "task", None) or result._task
    host = getattr(result, "host", None) or result._host
    res = getattr(result, "result", None)
    if not isinstance(res, dict):
        res = result._result
    return task, host.get_name(), res


class CallbackModule(CallbackBase):
    """Collects every result; prints them as one JSON document at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "fxc_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._plays = []

    def v2_playbook_on_play_start(self, play):
        self._plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _task_entry(self, task):
        tasks = self._plays[-1]["tasks"]
        uuid = task._uuid
        for entry in tasks:
            if entry["_uuid"] == uuid:
                return entry
        entry = {"_uuid": uuid, "task": {"name": task.get_name(), "action": task.action}, "hosts": {}}
        tasks.append(entry)
        return entry

    def _record(self, result, **extra):
        task, host, res = _parts(result)
        res = strip_internal_keys(module_response_deepcopy(res))
        res.update(extra)
        self._task_entry(task)["hosts"][host] = res

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {}
        for host in sorted(stats.processed.keys()):
            s = stats.summarize(host)
            summary[host] = {k: s[k] for k in ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")}
        for play in self._plays:
            for entry in play["tasks"]:
                entry.pop("_uuid", None)
        out = {"plays": self._plays, "stats": summary}
        self._display.display(json.dumps(out, indent=2, sort_keys=True, default=str, ensure_ascii=False))
