#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fogbow-xmpp-ctl developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
---
module: component_info
short_description: List prosody's XMPP components, and ask the running server which are active and connected
version_added: 0.1.0
description:
  - Returns the components of prosody's config and the files it includes, as C(fogbow-xmpp-ctl list --json) lists
    them (secrets never included), for C(register) and assertions.
  - With I(status=true), also what the running prosody says (C(fogbow-xmpp-ctl status --json)), per external
    component; declared in the file, active in the server, connected right now.
  - Reads only; runs in check mode too.
  - A config that does not load fails the task with the tool's message about what breaks it; the result still has
    the components as far as the file parses (or those of its last good backup), with RV(broken=true).
author:
  - fogbow-xmpp-ctl developers (@fogbow)
requirements:
  - fogbow-xmpp-ctl installed on the target (its Debian package)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fogbow.xmpp.common
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: none
  platform:
    platforms: debian
options:
  name:
    description:
      - Only the component with this name (compared as prosody compares names, after nameprep).
      - A name that is not there gives an empty RV(components), not a failure.
    type: str
  status:
    description:
      - Also ask the running prosody (C(status --json), through prosody's admin shell). A server that cannot be asked
        (stopped, no admin shell) fails the task.
      - File and server disagreeing (drift) is not a failure; RV(status.in_sync) says so.
    type: bool
    default: false
seealso:
  - module: fogbow.xmpp.component
'''

EXAMPLES = r'''
- name: What the config and the running server have
  fogbow.xmpp.component_info:
    status: true
  register: xmpp

- name: The manager is declared, active and in sync
  ansible.builtin.assert:
    that:
      - xmpp.components | selectattr('name', 'equalto', 'my-manager.internal.mydomain') | list | length == 1
      - xmpp.status.in_sync

- name: One component
  fogbow.xmpp.component_info:
    name: my-manager.internal.mydomain
  register: manager
'''

RETURN = r'''
components:
  description:
    - The components, as C(fogbow-xmpp-ctl list --json) lists them, filtered by I(name) when given.
    - Plugin components (C(muc), ...) are listed too, with their C(module).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The component's name, exactly as written (with C(name_is_expression), the expression's source).
      type: str
      returned: always
    module:
      description: C(component) for an external component, else the plugin (C(muc), C(http_file_share), ...).
      type: str
      returned: always
    file:
      description: The file that declares it.
      type: str
      returned: always
    line:
      description: Its line in that file.
      type: int
      returned: always
    secret_set:
      description: Whether it has a C(component_secret).
      type: bool
      returned: always
    secret_source:
      description: C(literal), C(credential), C(file), C(expression) or C(none).
      type: str
      returned: always
  sample:
    - name: my-manager.internal.mydomain
      module: component
      file: /etc/prosody/prosody.cfg.lua
      line: 275
      secret_set: true
      secret_source: literal
config:
  description: The main config that was read.
  returned: always
  type: str
  sample: /etc/prosody/prosody.cfg.lua
broken:
  description: Whether the config does not load (the task then fails).
  returned: always
  type: bool
source:
  description: Where the list comes from, C(config), C(partial) (a broken config, as far as it parses) or C(backup).
  returned: always
  type: str
  sample: config
diagnostics:
  description: What breaks a broken config (C(severity), C(code), C(file), C(line), C(column), C(message)).
  returned: when the config is broken
  type: list
  elements: dict
status:
  description: The running server's view, from C(fogbow-xmpp-ctl status --json).
  returned: when I(status=true) (a server that cannot be asked fails the task)
  type: dict
  contains:
    components:
      description: Per external component, C(name), C(in_file), C(active), C(connected), C(restart_pending).
      type: list
      elements: dict
      returned: always
    in_sync:
      description:
        - Whether the file and the running server agree.
        - Also false while a credential written since prosody started waits for the restart that applies it
          (RV(status.restart_pending) names it).
      type: bool
      returned: always
    restart_pending:
      description: The credentials (C(component), C(credential)) on disk that the running prosody has not loaded yet.
      type: list
      elements: dict
      returned: always
msg:
  description: The tool's message, on failure.
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fogbow.xmpp.plugins.module_utils.fogbow_xmpp_ctl import (
    EXIT_DRIFT,
    EXIT_OK,
    FogbowXmppCtl,
    common_argument_spec,
    prep_name,
)


def main():
    argument_spec = dict(
        name=dict(type='str'),
        status=dict(type='bool', default=False),
    )
    argument_spec.update(common_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    tool = FogbowXmppCtl(module)

    listed = tool.run(['list', '--json'])
    if listed.data is None:
        tool.fail(listed)
    data = listed.data
    components = data.get('components', [])
    if module.params['name'] is not None:
        wanted = prep_name(module.params['name'])
        components = [c for c in components
                      if not c.get('name_is_expression') and prep_name(c.get('name', '')) == wanted]
    result = dict(
        changed=False,
        components=components,
        config=data.get('config'),
        broken=bool(data.get('broken')),
        source=data.get('source'),
    )
    for key in ('diagnostics', 'skipped', 'notes'):
        if key in data:
            result[key] = data[key]
    if listed.rc != EXIT_OK or result['broken']:
        tool.fail(listed, **result)

    if module.params['status']:
        asked = tool.run(['status', '--json'])
        if asked.data is not None:
            result['status'] = asked.data
        if asked.rc not in (EXIT_OK, EXIT_DRIFT) or asked.data is None:
            tool.fail(asked, **result)
    tool.warn_from(listed)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
