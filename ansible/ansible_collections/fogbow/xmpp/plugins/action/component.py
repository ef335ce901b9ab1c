# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fogbow-xmpp-ctl developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Runs fogbow.xmpp.component and hides a result that holds a generated secret.

A module cannot mark one of its return values no_log: adding the value to
``no_log_values`` replaces it in the result itself (the playbook would
never see the secret), and an ``_ansible_no_log`` key in a module's result
is removed as an internal key. An action plugin runs on the controller,
after that cleaning, and may set ``_ansible_no_log`` as ``include_vars``
does: callbacks then show only ``changed``, ``warnings`` and that the
output was hidden, while ``register`` still receives the secret.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    """The component module, with its generated secret kept out of the logs."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        result.update(self._execute_module(
            module_name='fogbow.xmpp.component',
            module_args=self._task.args,
            task_vars=task_vars,
        ))
        if result.get('secret') is not None:
            result['_ansible_no_log'] = True
        return result
