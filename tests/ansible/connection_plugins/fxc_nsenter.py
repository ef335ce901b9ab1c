# Copyright: (c) 2026, fogbow-xmpp-ctl developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""A connection into a booted systemd-nspawn container, for tests/ansible/playbook.sh.

The test machine has no systemd as PID 1 and no host bus, so `machinectl` and
Ansible's `community.general.machinectl`/`nspawn` connections cannot reach the
containers (see tests/systemd/container.sh). What works is `nsenter -t LEADER -a`,
LEADER being the container's PID 1 seen from the host: it enters every namespace
of the container (mount, so `/` is the container's root; network, so only its
loopback; PID, UTS, IPC, cgroup). This plugin runs every command that way.

Files go through the same door, streamed over a pipe (`cat > path` inside the
container), not copied through the container's root directory on the host: a
path under that directory is resolved by the host's kernel, and an absolute
symlink inside the container would then point into the host.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: fxc_nsenter
    short_description: run tasks inside a booted container with nsenter
    description:
        - Runs commands with C(nsenter -t LEADER -a) in every namespace of the process LEADER
          (a container's PID 1, as the host sees it), with a clean environment.
        - Copies files in and out through a pipe to a shell inside the container.
        - A test fixture of fogbow-xmpp-ctl (tests/ansible/playbook.sh), not a shipped plugin.
    author: fogbow-xmpp-ctl developers
    options:
        leader:
            description: PID (on the host) of the container's init process.
            type: int
            required: true
            vars:
                - name: fxc_nsenter_leader
        nsenter:
            description: Path of nsenter on the host.
            type: str
            default: nsenter
            vars:
                - name: fxc_nsenter_command
"""

import os
import shlex
import shutil
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()

# What a root login shell inside a minimal Debian gets: nothing of the host's
# environment (its PATH, locale or HOME) leaks into the container.
CONTAINER_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    "LC_ALL=C.UTF-8",
    "TERM=dumb",
]


class Connection(ConnectionBase):
    """Commands and files through nsenter into a running container."""

    transport = "fxc_nsenter"
    has_pipelining = True
    has_tty = False
    default_user = "root"

    def _connect(self):
        super()._connect()
        if not self._connected:
            leader = self.get_option("leader")
            self._nsenter = shutil.which(self.get_option("nsenter"))
            if not self._nsenter:
                raise AnsibleConnectionFailure("nsenter is not installed on the controller")
            if not os.path.exists("/proc/%d/ns/mnt" % leader):
                raise AnsibleConnectionFailure("no process %d to enter (is the container running?)" % leader)
            self._leader = leader
            display.vvv("ENTER CONTAINER OF PID %d" % leader, host=self._play_context.remote_addr)
            self._connected = True
        return self

    def _command(self, cmd):
        """argv that runs the shell command CMD inside the container, from /."""
        return [
            self._nsenter, "-t", str(self._leader), "-a",
            "/usr/bin/env", "-i", *CONTAINER_ENV,
            "/bin/sh", "-c", "cd / && " + cmd,
        ]

    def _popen(self, cmd, stdin=subprocess.PIPE):
        argv = [to_bytes(a, errors="surrogate_or_strict") for a in self._command(cmd)]
        return subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        display.vvv("EXEC %s" % cmd, host=self._play_context.remote_addr)
        p = self._popen(cmd)
        stdout, stderr = p.communicate(in_data)
        return p.returncode, stdout, stderr

    @staticmethod
    def _absolute(path):
        return os.path.join(os.path.sep, os.path.normpath(path))

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        display.vvv("PUT %s TO %s" % (in_path, out_path), host=self._play_context.remote_addr)
        target = shlex.quote(self._absolute(out_path))
        try:
            in_file = open(to_bytes(in_path, errors="surrogate_or_strict"), "rb")
        except OSError as e:
            raise AnsibleFileNotFound("file or module does not exist at %s: %s" % (in_path, to_native(e)))
        with in_file:
            p = self._popen("cat > %s" % target, stdin=in_file)
            stdout, stderr = p.communicate()
        if p.returncode != 0:
            raise AnsibleError("failed to transfer %s to %s: %s%s" % (in_path, out_path, to_native(stdout), to_native(stderr)))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        display.vvv("FETCH %s TO %s" % (in_path, out_path), host=self._play_context.remote_addr)
        source = shlex.quote(self._absolute(in_path))
        with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as out_file:
            p = self._popen("cat %s" % source)
            shutil.copyfileobj(p.stdout, out_file)
            stderr = p.stderr.read()
            p.wait()
        if p.returncode != 0:
            raise AnsibleError("failed to fetch %s to %s: %s" % (in_path, out_path, to_native(stderr)))

    def close(self):
        super().close()
        self._connected = False
