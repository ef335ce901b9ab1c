# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fogbow-xmpp-ctl developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations


class ModuleDocFragment(object):
    # The options every fogbow.xmpp module passes to fogbow-xmpp-ctl
    # (common_argument_spec in module_utils/fogbow_xmpp_ctl.py).
    DOCUMENTATION = r'''
options:
  config:
    description:
      - prosody's main config (C(--config)). Default, the tool's setting C(prosody_config), else
        C(/etc/prosody/prosody.cfg.lua).
    type: path
  settings:
    description:
      - The tool's settings file (C(--settings)). Default C(/etc/fogbow-xmpp-ctl/config.toml).
    type: path
  executable:
    description:
      - The fogbow-xmpp-ctl program, a name looked up in C(PATH) or a path.
    type: str
    default: fogbow-xmpp-ctl
'''
