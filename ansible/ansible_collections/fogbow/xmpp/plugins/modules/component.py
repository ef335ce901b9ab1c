#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fogbow-xmpp-ctl developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r'''
---
module: component
short_description: Add, re-key or remove an XMPP external component (XEP-0114) in prosody's config
version_added: 0.1.0
description:
  - Manages one C(Component "NAME") block with its C(component_secret) in prosody's config
    (C(/etc/prosody/prosody.cfg.lua) and the files it includes), by running the installed
    C(fogbow-xmpp-ctl) with C(--json) on the target.
  - The tool edits the file losslessly (every byte it does not mean to change stays as it was),
    checks the result as prosody would load it before replacing anything, keeps the file's owner,
    mode and ACL, and keeps a backup. A failure leaves every file exactly as it was.
  - A secret is never put on a command line; I(secret) reaches the tool on its standard input.
  - Idempotent. With I(secret), I(secret_file) or I(from_properties), the tool compares the secret
    and reports C(unchanged) when it is already so. With I(generate_secret), a component that
    already exists is left as it is (its secret is not rotated) unless I(replace=true).
  - Check mode runs the tool with C(--dry-run); with C(--diff), the diff is the tool's unified diff
    with every string masked as C(******** (hmac:...)).
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
    details: The diff masks every string of the config; a fingerprint shows which lines changed.
  platform:
    platforms: debian
options:
  name:
    description:
      - The component's name, the C(xmpp_jid) of the Fogbow component (for example C(my-manager.internal.mydomain)).
      - Compared as prosody compares names (nameprep), so C(STRASSE.example) and C(strasse.example) are one component.
      - With I(from_properties) it must equal the file's C(xmpp_jid).
    type: str
    required: true
  state:
    description:
      - C(present) adds the component, or sets its secret (see I(replace)).
      - C(absent) removes the component's whole section (C(remove NAME --if-exists)); the secret options are then ignored.
    type: str
    choices: [present, absent]
    default: present
  secret:
    description:
      - The component's secret. Passed to the tool on standard input (C(--secret-file -)), never in its arguments.
      - With I(state=present), exactly one of I(secret), I(secret_file), I(generate_secret) and I(from_properties) is
        needed (I(generate_secret) may go with I(from_properties)).
      - Empty secrets, secrets longer than 1024 bytes and secrets with control characters are refused by the tool.
    type: str
  secret_file:
    description:
      - A file on the target holding the secret (one trailing newline is stripped). C(--secret-file PATH).
    type: path
  generate_secret:
    description:
      - Generate a 160-bit secret on the target (C(--generate-secret)).
      - Alone, the new secret is returned once in RV(secret) and the whole task result is marked C(no_log), so
        Ansible's output hides it; C(register) the result to use it.
      - With I(from_properties), the new secret is written into that file's C(xmpp_password) as well as into
        prosody's config, and it is not returned.
      - When the component already exists and I(replace=false), nothing is generated and nothing changes.
    type: bool
    default: false
  from_properties:
    description:
      - A Fogbow component's own configuration on the target (a Java C(.properties) file such as
        C(manager.conf) or C(rendezvous.conf)). The secret is its C(xmpp_password); its C(xmpp_jid) must equal I(name).
        C(add --from-properties FILE).
      - With I(generate_secret=true), a new secret goes into the config and into FILE's C(xmpp_password).
    type: path
  replace:
    description:
      - Change the secret of an existing component. Without it, an existing component with a different secret is
        an error (nothing written).
      - With I(generate_secret), every run generates a new secret (not idempotent by design).
    type: bool
    default: false
  secret_store:
    description:
      - Where the secret goes (C(--secret-store)). C(config) is a string in the config; C(credential) is an
        encrypted systemd credential that the config reads with C(Credential()) (prosody 13 only).
      - When omitted, the tool's setting C(secret_store) applies (default C(config)).
    type: str
    choices: [config, credential]
  apply:
    description:
      - How the change is made live in the running prosody after the write. C(none) only edits the file.
      - C(reload) (C(--reload)) reloads prosody and activates or deactivates components without a restart; it is
        enough for a component whose secret is in the config. A secret written into an encrypted credential
        (I(secret_store=credential)) needs a restart, so the tool restarts instead, and says so.
        C(restart) (C(--restart)) restarts prosody when the file changed; on an unchanged file it reloads instead
        (the least disruptive way to converge).
      - The reload runs even when the file was already right (it disconnects no one), so a re-run converges; the
        task is then still RV(changed=false).
      - It acts on C(prosody.service), whatever I(config) names.
      - When applying fails (the tool's exit status 3), the task fails, with RV(changed=true) when the file was
        written, and RV(applied=false). A generated secret is then only in that failed result; register it (with
        C(ignore_errors) or a C(rescue)) to keep it, or the next run keeps a secret no one has.
      - Ignored in check mode.
    type: str
    choices: [none, reload, restart]
    default: none
notes:
  - The result of a task that returns a generated secret is marked C(no_log) by the collection's action plugin, so
    callbacks show only C(changed), C(warnings) and that output was hidden; the registered variable has it all.
  - The tool's warnings (for example a config that other users can read) become Ansible warnings.
seealso:
  - module: fogbow.xmpp.listener
  - module: fogbow.xmpp.component_info
'''

EXAMPLES = r'''
- name: Add the Fogbow Manager with the secret from its own manager.conf, and reload prosody
  fogbow.xmpp.component:
    name: my-manager.internal.mydomain
    from_properties: /etc/fogbow/manager.conf
    apply: reload

- name: Add the rendezvous with a new secret written into prosody and into rendezvous.conf
  fogbow.xmpp.component:
    name: my-rendezvous.internal.mydomain
    from_properties: /etc/fogbow/rendezvous.conf
    generate_secret: true

- name: Add a component with a secret from the vault (sent to the tool on standard input)
  fogbow.xmpp.component:
    name: my-manager.internal.mydomain
    secret: "{{ vault_manager_secret }}"
    replace: true

- name: Add a component with a generated secret, and keep it
  fogbow.xmpp.component:
    name: other.internal.mydomain
    generate_secret: true
  register: other

- name: Remove a component and reload prosody
  fogbow.xmpp.component:
    name: old.internal.mydomain
    state: absent
    apply: reload
'''

RETURN = r'''
changed:
  description: Whether a file was (or, in check mode, would be) written.
  returned: always
  type: bool
action:
  description:
    - What the tool did or, in check mode, would do.
    - C(added), C(replaced) (a new secret), C(unchanged), C(removed) or C(absent) (there was no such component).
  returned: success
  type: str
  sample: added
file:
  description: The file that was, or would be, edited (the config itself or one it includes).
  returned: success
  type: str
  sample: /etc/prosody/prosody.cfg.lua
backup_file:
  description: The previous version of the file, kept by the tool (C(fogbow-xmpp-ctl restore) puts it back).
  returned: when a file was written
  type: str
  sample: /var/lib/fogbow-xmpp-ctl/backups/etc_prosody_prosody.cfg.lua.20261202T000000.000000000Z
applied:
  description: With I(apply=reload) or I(apply=restart), whether the running prosody serves the change.
  returned: when I(apply) is not C(none), outside check mode
  type: bool
secret:
  description:
    - The generated secret, returned once. The task result is marked C(no_log).
  returned: when I(generate_secret=true) without I(from_properties) and a secret was written
  type: str
  sample: 0123456789abcdef0123456789abcdef01234567
properties:
  description: With I(from_properties) and I(generate_secret), what was (or would be) written into the file.
  returned: when a secret was generated into a .properties file
  type: dict
  contains:
    file:
      description: The .properties file.
      type: str
      returned: always
    action:
      description: C(replaced) (the value of the last C(xmpp_password) line) or C(appended).
      type: str
      returned: always
    written:
      description: Whether the file was rewritten (false in check mode).
      type: bool
      returned: always
diff:
  description: The tool's unified diff, every string masked; with C(--diff).
  returned: when in diff mode and something changes
  type: dict
  contains:
    prepared:
      description: The diff of the config (and of the .properties file).
      type: str
      returned: always
msg:
  description: What was done, or the tool's error message.
  returned: always
  type: str
  sample: added my-manager.internal.mydomain to /etc/prosody/prosody.cfg.lua
rc:
  description: The tool's exit status.
  returned: failure
  type: int
stderr:
  description: The tool's standard error (it never holds a secret).
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fogbow.xmpp.plugins.module_utils.fogbow_xmpp_ctl import (
    EXIT_NOT_APPLIED,
    EXIT_OK,
    FogbowXmppCtl,
    common_argument_spec,
    edit_result,
    masked_diff,
    prep_name,
)

_SOURCES = ('secret', 'secret_file', 'generate_secret', 'from_properties')

_SAID = {
    'added': ('added %s to %s', 'would add %s to %s'),
    'replaced': ('replaced the secret of %s in %s', 'would replace the secret of %s in %s'),
    'unchanged': ('%s is already in %s with this secret', '%s is already in %s with this secret'),
    'removed': ('removed %s from %s', 'would remove %s from %s'),
    'absent': ('there is no component %s in %s', 'there is no component %s in %s'),
}


def sentence(action, name, path, dry_run):
    """What happened, in words."""
    forms = _SAID.get(action)
    if forms is None:
        return '%s: %s (%s)' % (name, action, path)
    return forms[1 if dry_run else 0] % (name, path)


def sources(params):
    """The secret sources given: a false generate_secret is none."""
    given = [k for k in ('secret', 'secret_file', 'from_properties') if params[k] is not None]
    if params['generate_secret']:
        given.append('generate_secret')
    return given


def existing(tool, name):
    """The listed external component called NAME (as prosody compares names), or None.

    Asked before generating a secret: the tool itself would see a new secret
    as a change and refuse it without --replace, so "already there" is
    decided here, from its own list.
    """
    listed = tool.run(['list', '--json'])
    if listed.rc != EXIT_OK or listed.data is None:
        tool.fail(listed)
    wanted = prep_name(name)
    for c in listed.data.get('components', []):
        if c.get('module') != 'component' or c.get('name_is_expression'):
            continue
        if prep_name(c.get('name', '')) == wanted:
            return c
    return None


def apply_args(apply):
    return {'none': [], 'reload': ['--reload'], 'restart': ['--restart']}[apply]


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        secret=dict(type='str', no_log=True),
        secret_file=dict(type='path'),
        generate_secret=dict(type='bool', default=False),
        from_properties=dict(type='path'),
        replace=dict(type='bool', default=False),
        secret_store=dict(type='str', choices=['config', 'credential']),
        apply=dict(type='str', choices=['none', 'reload', 'restart'], default='none'),
    )
    argument_spec.update(common_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    name = p['name']
    # The arguments first, before the tool is even looked for.
    if name.startswith('-'):
        module.fail_json(msg='the component name %r starts with "-": not an XMPP domain name' % name)
    given = sources(p)
    if p['state'] == 'absent' and given:
        module.warn('state=absent removes %s; %s ignored' % (name, ', '.join(given)))
    if p['state'] == 'present' and not given:
        module.fail_json(msg='state=present needs a secret source: one of secret, secret_file, '
                             'generate_secret, from_properties')
    if p['state'] == 'present' and len(given) > 1 and sorted(given) != ['from_properties', 'generate_secret']:
        module.fail_json(msg='only one secret source may be given (generate_secret may go with '
                             'from_properties), got: %s' % ', '.join(given))
    tool = FogbowXmppCtl(module)

    secret = None
    if p['state'] == 'absent':
        args = ['remove', '--if-exists', '--json']
    else:
        if p['generate_secret'] and not p['replace']:
            found = existing(tool, name)
            if found is not None:
                converge(module, tool, name, found)
        args = ['add', '--json']
        if p['secret'] is not None:
            args += ['--secret-file', '-']
            secret = p['secret']
        elif p['secret_file'] is not None:
            args += ['--secret-file', p['secret_file']]
        if p['from_properties'] is not None:
            args += ['--from-properties', p['from_properties']]
        if p['generate_secret']:
            args += ['--generate-secret']
        if p['replace']:
            args += ['--replace']
        if p['secret_store'] is not None:
            args += ['--secret-store', p['secret_store']]

    diff = None
    if module.check_mode or module._diff:
        dry = tool.run(args + ['--dry-run', '--', name], secret=secret)
        if dry.rc != EXIT_OK or dry.data is None:
            tool.fail(dry)
        diff = masked_diff(dry.data) if dry.data.get('changed') else None
        if module.check_mode:
            tool.warn_from(dry)
            result = edit_result(dry.data)
            result['msg'] = sentence(result['action'], name, result['file'], True)
            if dry.data.get('properties'):
                result['properties'] = without_diff(dry.data['properties'])
            if diff is not None and module._diff:
                result['diff'] = dict(prepared=diff)
            module.exit_json(**result)

    # NAME after `--`: never read as an option, whatever it holds.
    done = tool.run(args + apply_args(p['apply']) + ['--', name], secret=secret)
    if done.data is None or done.rc not in (EXIT_OK, EXIT_NOT_APPLIED):
        tool.fail(done)
    data = done.data
    result = edit_result(data)
    result['msg'] = sentence(result['action'], name, result['file'], False)
    if data.get('properties'):
        result['properties'] = without_diff(data['properties'])
    if 'secret' in data:
        # The action plugin marks the whole result no_log when this key is there.
        result['secret'] = data['secret']
    if diff is not None and result['changed']:
        result['diff'] = dict(prepared=diff)
    if p['apply'] != 'none':
        result['applied'] = bool(data.get('applied'))
    if done.rc == EXIT_NOT_APPLIED:
        said = ('the config is written, but it is not applied to the running prosody'
                if result['changed'] else
                'the config already holds it, but it is not applied to the running prosody')
        msg = '%s: %s' % (said, data.get('apply_error') or done.error_message())
        # In warnings too: a result with a secret is censored, and warnings
        # are what Ansible's output keeps of it.
        module.warn(msg)
        del result['msg']
        tool.fail(done, msg=msg, **result)
    tool.warn_from(done)
    module.exit_json(**result)


def without_diff(props):
    return dict((k, v) for k, v in props.items() if k != 'diff')


def converge(module, tool, name, found):
    """generate_secret for a component that exists: keep its secret, apply when asked.

    With from_properties, the file must still hold the secret prosody has
    (a copy reset to Fogbow's placeholder, or another secret, would leave
    the component refused while the task said ok): the tool's own dry run of
    taking the file's secret says so.
    """
    props = module.params['from_properties']
    if props is not None:
        dry = tool.run(['add', '--json', '--dry-run', '--from-properties', props, '--', name])
        if dry.rc != EXIT_OK or dry.data is None:
            tool.fail(dry, msg='%s: %s (replace: true generates a new secret for both)' % (
                props, dry.error_message()))
        if dry.data.get('changed'):
            module.fail_json(msg='the xmpp_password in %s is not the secret prosody has for %s; '
                                 'replace: true generates a new one for both' % (props, name))
    result = dict(
        changed=False,
        action='unchanged',
        file=found.get('file'),
        msg='%s is already in %s; its secret is kept (generate_secret makes a new one only with replace=true)'
            % (name, found.get('file')),
    )
    if module.params['apply'] != 'none' and not module.check_mode:
        # As the tool does for an unchanged edit: a reload converges the
        # running server (activates the component) without dropping anyone.
        applied = tool.run(['reload'], expect_json=False)
        result['applied'] = applied.rc == EXIT_OK
        if applied.rc != EXIT_OK:
            del result['msg']
            msg = 'the config already has %s, but it is not applied to the running prosody: %s' % (
                name, applied.error_message())
            tool.fail(applied, msg=msg, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
