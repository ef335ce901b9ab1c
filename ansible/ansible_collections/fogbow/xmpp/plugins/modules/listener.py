#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fogbow-xmpp-ctl developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
---
module: listener
short_description: Set where prosody accepts XMPP external components (component_interfaces, component_ports)
version_added: 0.1.0
description:
  - Sets C(component_interfaces) and/or C(component_ports) in the global section of prosody's main config, by
    running C(fogbow-xmpp-ctl listen --json) on the target; or, with I(reset), deletes every such definition so
    prosody's defaults apply (127.0.0.1 and ::1, port 5347).
  - Existing global definitions (and the legacy C(component_interface)/C(component_port)) are replaced in place;
    ones misplaced under a C(VirtualHost) or C(Component), which prosody never reads, are moved to the global
    section (the tool says what it moved).
  - Idempotent; check mode runs the tool with C(--dry-run); C(--diff) shows its diff, every string but names and listening addresses masked.
  - prosody opens its listeners only when it starts, so a change needs a restart (I(apply=restart)).
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
  diff_mode:
    support: full
  platform:
    platforms: debian
options:
  interfaces:
    description:
      - The addresses to listen on, C(*), C(0.0.0.0), C(::) or literal IPs (C(--interface), repeated).
      - Omitted (or empty) with I(ports) given, the interfaces are left as they are.
    type: list
    elements: str
  ports:
    description:
      - The ports to listen on, 1-65535 (C(--port), repeated).
      - Omitted (or empty) with I(interfaces) given, the ports are left as they are.
    type: list
    elements: int
  reset:
    description:
      - Delete every C(component_ports)/C(component_interfaces) definition (C(--reset)), so prosody's defaults
        apply. Cannot be combined with I(interfaces) or I(ports).
    type: bool
    default: false
  apply:
    description:
      - C(restart) restarts prosody when the listener changed (C(fogbow-xmpp-ctl restart)), through the tool's
        guarded path (check first, then systemd, then wait until every component listener accepts connections).
        An unchanged listener restarts nothing (a restart drops every connected client); after a failed restart,
        which fails the task, run C(fogbow-xmpp-ctl restart).
      - When the file is written but the restart fails, the task fails with RV(changed=true) and
        RV(applied=false). It acts on C(prosody.service), whatever I(config) names.
      - Ignored in check mode.
    type: str
    choices: [none, restart]
    default: none
seealso:
  - module: fogbow.xmpp.component
'''

EXAMPLES = r'''
- name: Accept Fogbow components from other machines on port 5347, and restart prosody
  fogbow.xmpp.listener:
    interfaces: [0.0.0.0]
    ports: [5347]
    apply: restart

- name: Back to prosody's default listener (loopback, 5347)
  fogbow.xmpp.listener:
    reset: true
  notify: restart prosody
'''

RETURN = r'''
changed:
  description: Whether the config was (or, in check mode, would be) written.
  returned: always
  type: bool
action:
  description: C(updated) or C(unchanged).
  returned: success
  type: str
  sample: updated
file:
  description: The main config.
  returned: success
  type: str
  sample: /etc/prosody/prosody.cfg.lua
backup_file:
  description: The previous version of the file, kept by the tool.
  returned: when a file was written
  type: str
applied:
  description: With I(apply=restart), whether prosody was restarted and every component listener accepts connections.
  returned: when I(apply=restart), outside check mode
  type: bool
listener:
  description:
    - The effective listener after the task (in check mode, the current one), from C(fogbow-xmpp-ctl listen --json).
  returned: success
  type: dict
  contains:
    interfaces:
      description: The addresses.
      type: list
      elements: str
      returned: always
      sample: [0.0.0.0]
    ports:
      description: The ports.
      type: list
      elements: int
      returned: always
      sample: [5347]
    interfaces_default:
      description: Whether the interfaces are prosody's default.
      type: bool
      returned: always
    ports_default:
      description: Whether the ports are prosody's default.
      type: bool
      returned: always
    ignored:
      description: Definitions under a section, which prosody does not read (C(option), C(file), C(line), C(section)).
      type: list
      elements: dict
      returned: always
diff:
  description: The tool's unified diff, every string but names and listening addresses masked; with C(--diff).
  returned: when in diff mode and something changes
  type: dict
  contains:
    prepared:
      description: The diff.
      type: str
      returned: always
msg:
  description: What was done, or the tool's error message.
  returned: always
  type: str
rc:
  description: The tool's exit status.
  returned: failure
  type: int
stderr:
  description: The tool's standard error.
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fogbow.xmpp.plugins.module_utils.fogbow_xmpp_ctl import (
    EXIT_OK,
    FogbowXmppCtl,
    common_argument_spec,
    edit_result,
    masked_diff,
)


def main():
    argument_spec = dict(
        interfaces=dict(type='list', elements='str'),
        ports=dict(type='list', elements='int'),
        reset=dict(type='bool', default=False),
        apply=dict(type='str', choices=['none', 'restart'], default='none'),
    )
    argument_spec.update(common_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    interfaces = p['interfaces'] or []
    ports = p['ports'] or []
    if p['reset'] and (interfaces or ports):
        module.fail_json(msg='reset cannot be combined with interfaces or ports')
    if not (p['reset'] or interfaces or ports):
        module.fail_json(msg='give interfaces and/or ports, or reset=true')
    tool = FogbowXmppCtl(module)

    args = ['listen', '--json']
    if p['reset']:
        args.append('--reset')
    for i in interfaces:
        args += ['--interface', i]
    for port in ports:
        args += ['--port', str(port)]

    diff = None
    if module.check_mode or module._diff:
        dry = tool.run(args + ['--dry-run'])
        if dry.rc != EXIT_OK or dry.data is None:
            tool.fail(dry)
        diff = masked_diff(dry.data) if dry.data.get('changed') else None
        if module.check_mode:
            tool.warn_from(dry)
            result = edit_result(dry.data)
            result['msg'] = ('would change the component listener in %s' if result['changed']
                             else 'the component listener in %s is already so') % result['file']
            result['listener'] = current(tool)
            if diff is not None and module._diff:
                result['diff'] = dict(prepared=diff)
            module.exit_json(**result)

    done = tool.run(args)
    if done.data is None or done.rc != EXIT_OK:
        tool.fail(done)
    result = edit_result(done.data)
    if diff is not None and result['changed']:
        result['diff'] = dict(prepared=diff)
    # A restart drops every connected client: only when the listener changed
    # (the tool's own `listen --restart` restarts even an unchanged one).
    if p['apply'] == 'restart' and result['changed']:
        restarted = tool.run(['restart'], expect_json=False)
        result['applied'] = restarted.rc == EXIT_OK
        if restarted.rc != EXIT_OK:
            msg = 'the config is written, but it is not applied to the running prosody: %s' % (
                restarted.error_message())
            tool.fail(restarted, msg=msg, **result)
    result['msg'] = ('changed the component listener in %s' if result['changed']
                     else 'the component listener in %s is already so') % result['file']
    result['listener'] = current(tool)
    tool.warn_from(done)
    module.exit_json(**result)


def current(tool):
    """The effective listener, as `listen --json` shows it."""
    shown = tool.run(['listen', '--json'])
    if shown.rc != EXIT_OK or shown.data is None:
        tool.fail(shown)
    return shown.data


if __name__ == '__main__':
    main()
