# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fogbow-xmpp-ctl developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The one way the fogbow.xmpp modules run fogbow-xmpp-ctl.

The modules hold no knowledge of prosody's config: every decision (is the
name valid, is the secret the same, may this file be written, is the
result what prosody would load) is the tool's, made with its lossless
Lua-aware parser. This file only builds the command line, hands a secret
over standard input (never in argv, where every local user can read it),
reads the tool's ``--json`` result, and turns its exit status and standard
error into an Ansible result.

Exit statuses of the tool (its README): 0 done, 1 failed with nothing
written, 2 usage error, 3 written but not applied to the running prosody,
4 (``status``) the file and the running prosody disagree.
"""

from __future__ import annotations

import json
import os
import re

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_APPLIED = 3
EXIT_DRIFT = 4

# The tool prefixes its own errors; clap (usage errors) writes "error: ".
_ERROR_PREFIXES = ('fogbow-xmpp-ctl: error: ', 'error: ')
# "FILE:LINE:COLUMN: warning[CODE]: message" (a check finding the edited
# config still has) or "warning: message" (about the edit itself).
_WARNING = re.compile(r'(^warning: |: warning\[[a-z0-9-]+\]: )')


def common_argument_spec():
    """The options every module of the collection takes."""
    return dict(
        config=dict(type='path'),
        settings=dict(type='path'),
        executable=dict(type='str', default='fogbow-xmpp-ctl'),
    )


def prep_name(name):
    """A component name as prosody compares it (nameprep, RFC 3491).

    The tool compares names after nameprep, so ``STRASSE.example`` and
    ``strasse.example`` are one component to it; the modules do the same
    when they look a name up in ``list --json``. A name nameprep refuses is
    returned as it is: the tool then says what is wrong with it.
    """
    try:
        from encodings.idna import nameprep  # pylint: disable=import-outside-toplevel
        return nameprep(name)
    except (UnicodeError, ValueError, ImportError):
        return name


class ToolResult(object):
    """One run of the tool: exit status, parsed JSON (or None), stderr."""

    def __init__(self, rc, data, stderr):
        self.rc = rc
        self.data = data
        self.stderr = stderr

    def error_message(self):
        """The tool's own error lines, else its last line of stderr."""
        lines = [line.rstrip() for line in self.stderr.splitlines() if line.strip()]
        errors = []
        for line in lines:
            for prefix in _ERROR_PREFIXES:
                if line.startswith(prefix):
                    errors.append(line[len(prefix):])
                    break
        if errors:
            return '; '.join(errors)
        if lines:
            return lines[-1]
        return 'fogbow-xmpp-ctl exited with status %d' % self.rc

    def warnings(self):
        """The warnings on stderr, each with its ``help:`` line, once each."""
        found = []
        lines = self.stderr.splitlines()
        for i, line in enumerate(lines):
            if not _WARNING.search(line):
                continue
            text = line.strip()
            if text.startswith('warning: '):
                text = text[len('warning: '):]
            if i + 1 < len(lines) and lines[i + 1].lstrip().startswith('help: '):
                text += ' (%s)' % lines[i + 1].strip()
            if text not in found:
                found.append(text)
        return found


class FogbowXmppCtl(object):
    """Runs the installed fogbow-xmpp-ctl for one module invocation."""

    def __init__(self, module):
        self.module = module
        self.binary = self._find_binary(module.params['executable'])

    def _find_binary(self, executable):
        if os.sep in executable:
            if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
                self.module.fail_json(msg='executable %s is not an executable file' % executable)
            return executable
        return self.module.get_bin_path(executable, required=True)

    def command(self, args):
        """The full command line: the binary, the global options, ARGS."""
        cmd = [self.binary]
        if self.module.params.get('config') is not None:
            cmd += ['--config', self.module.params['config']]
        if self.module.params.get('settings') is not None:
            cmd += ['--settings', self.module.params['settings']]
        return cmd + list(args)

    def run(self, args, secret=None, expect_json=True):
        """Runs the tool with ARGS; SECRET, when given, goes to its standard input.

        The tool reads ``--secret-file -`` from standard input and strips one
        trailing newline, which ``run_command`` adds: a secret that itself
        ends with a newline then still reaches the tool with it, and is
        refused there (control characters are not valid in a secret).
        """
        kwargs = dict(environ_update=dict(LC_ALL='C.UTF-8'))
        if secret is not None:
            kwargs['data'] = secret
        rc, stdout, stderr = self.module.run_command(self.command(args), **kwargs)
        data = None
        if expect_json and stdout.strip():
            try:
                data = json.loads(stdout)
            except ValueError:
                # Never repeat the output: it may hold a generated secret.
                self.module.fail_json(
                    msg='fogbow-xmpp-ctl %s printed something that is not JSON (exit status %d): %s'
                        % (args[0], rc, ToolResult(rc, None, stderr).error_message()),
                    rc=rc, stderr=stderr)
        return ToolResult(rc, data, stderr)

    def warn_from(self, result):
        """Relays the tool's warnings as Ansible warnings."""
        for w in result.warnings():
            self.module.warn(w)

    def fail(self, result, msg=None, **extra):
        """Fails the task with the tool's message, exit status and stderr."""
        self.warn_from(result)
        self.module.fail_json(
            msg=msg or result.error_message(), rc=result.rc, stderr=result.stderr, **extra)


def masked_diff(data):
    """The tool's --dry-run diff(s), secrets already masked by the tool.

    The diff of prosody's config, then (for ``add --from-properties
    --generate-secret``) that of the .properties file. None when nothing
    would change.
    """
    parts = []
    if data.get('diff'):
        parts.append(data['diff'])
    props = data.get('properties') or {}
    if props.get('diff'):
        parts.append(props['diff'])
    if not parts:
        return None
    return ''.join(p if p.endswith('\n') else p + '\n' for p in parts)


def edit_result(data):
    """The keys every editing module returns, from the tool's edit JSON."""
    result = dict(
        changed=bool(data.get('changed')),
        action=data.get('action'),
        file=data.get('file'),
    )
    if data.get('backup'):
        result['backup_file'] = data['backup']
    return result
