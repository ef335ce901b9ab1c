-- Loads a config with the installed prosody's own configmanager, exactly as
-- prosody does at start, and reports the verdict. Run by fogbow-xmpp-ctl as
-- `LUA - CONFIG` with this script on standard input.
-- Exit 0: loaded. Exit 2: prosody's load error on standard error.
-- Exit 3: prosody's modules are not where we look.
local config = arg[1]
local lib = os.getenv("FXC_PROSODY_LIB") or "/usr/lib/prosody"
package.path = lib .. "/?.lua;" .. package.path
package.cpath = lib .. "/?.so;" .. package.cpath
-- configmanager only fires events and registers handlers on the global `prosody`.
prosody = { events = { fire_event = function() end, add_handler = function() end } }
local ok_require, cm = pcall(function()
  local f = io.open(lib .. "/loader.lua")
  if f then -- prosody 13 loads its own modules as prosody.*
    f:close()
    require "loader"
    return require "prosody.core.configmanager"
  end
  return require "core.configmanager"
end)
if not ok_require then
  io.stderr:write("cannot load prosody's configmanager: ", tostring(cm), "\n")
  os.exit(3)
end
local ok, kind, err = cm.load(config)
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end
os.exit(0)
