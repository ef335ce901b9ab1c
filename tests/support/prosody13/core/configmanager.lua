-- A stand-in for prosody 13's configmanager, for tests on a host whose
-- prosody is 0.12: the prosody_lib setting at this directory is "a prosody
-- that has Credential()", found the way fogbow-xmpp-ctl finds it in a real
-- prosody (this file defines set_credentials_directory). It loads every
-- config and reads no option, as if prosody's loader were not there: 0.12's
-- own loader would rightly refuse Credential(), and prosody 13 itself is
-- tested in the Debian 13 root and tests/systemd/credentials.sh.
local M = {}

function M.set_credentials_directory(_) end

function M.set_credential_fallback_mode(_) end

function M.load(_)
  return true
end

function M.getconfig()
  return {}
end

return M
