-- Loads a config with the installed prosody's own configmanager and prints
-- what prosody would see. Used by the tests as the ground truth.
--   lua5.4 read_config.lua CONFIG HOST KEY   -> raw bytes of the value (exit 3 if nil, 4 if not a string)
--   lua5.4 read_config.lua CONFIG --dump     -> every host/option, one sorted line each
-- A config that fails to load: exit 2, prosody's error on stderr.
local config, host, key = arg[1], arg[2], arg[3]
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
prosody = { events = { fire_event = function() end, add_handler = function() end } }
local cm
local f = io.open("/usr/lib/prosody/loader.lua")
if f then -- prosody 13 loads its modules as prosody.*
  f:close()
  require "loader"
  cm = require "prosody.core.configmanager"
else
  cm = require "core.configmanager"
end
local ok, kind, err = cm.load(config)
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end

local function ser(v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return ser(a) < ser(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = "[" .. ser(k) .. "]=" .. ser(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(v) == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end

if host == "--dump" then
  local lines = {}
  for h, opts in pairs(cm.getconfig()) do
    for k, v in pairs(opts) do lines[#lines + 1] = ser(h) .. "\t" .. ser(k) .. "\t" .. ser(v) end
  end
  table.sort(lines)
  io.write(table.concat(lines, "\n"), "\n")
  os.exit(0)
end

local v = cm.rawget(host, key)
if v == nil then os.exit(3) end
if type(v) ~= "string" then os.exit(4) end
io.write(v)
