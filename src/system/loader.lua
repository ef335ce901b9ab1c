-- Loads a config with the installed prosody's own configmanager, exactly as
-- prosody does at start, and reports the verdict. Run by fogbow-xmpp-ctl as
-- `LUA -E - CONFIG` (in `/`) with this script on standard input.
-- Exit 0: loaded. Exit 2: prosody's load error on standard error.
-- Exit 3: prosody's modules are not where we look.
local config = arg[1]
local lib = os.getenv("FXC_PROSODY_LIB") or "/usr/lib/prosody"
-- Modules come from prosody's library and Lua's system directories only:
-- never from a relative entry of Lua's defaults (`./?.lua`, `./?.so`),
-- which would run whatever the directory we are run from holds, as root.
local function absolute_only(paths)
  local kept = {}
  for entry in paths:gmatch("[^;]+") do
    if entry:sub(1, 1) == "/" then kept[#kept + 1] = entry end
  end
  return table.concat(kept, ";")
end
package.path = lib .. "/?.lua;" .. absolute_only(package.path)
package.cpath = lib .. "/?.so;" .. absolute_only(package.cpath)
-- The rest of the arguments are pairs REAL TEMP: a file that is REAL (the
-- same device and inode, however it is named: Debian's conf.d links into
-- conf.avail) is read from TEMP instead. That is how an edit is loaded as if
-- it stood in place before it is renamed there. Installed before prosody's
-- modules are required, in case one keeps its own reference to io.open.
local overlay, by_name = {}, {}
local lfs_ok, lfs = pcall(require, "lfs")
local function key(name)
  if not lfs_ok then return nil end
  local a = lfs.attributes(name)
  return a and (a.dev .. ":" .. a.ino)
end
for i = 2, #arg - 1, 2 do
  by_name[arg[i]] = arg[i + 1]
  local k = key(arg[i])
  if k then overlay[k] = arg[i + 1] end
end
-- A REAL that does not exist yet is a file the edit creates: a glob over
-- its directory lists it after the directory's own entries (as it will once
-- renamed there), and it is read from its TEMP by directory and name.
local created, created_in = {}, {}
local function split(name)
  local dir, base = name:match("^(.*)/([^/]+)$")
  if dir == "" then dir = "/" end
  return dir, base
end
for i = 2, #arg - 1, 2 do
  if lfs_ok and not lfs.attributes(arg[i]) then
    local dir, base = split(arg[i])
    local k = dir and key(dir)
    if k then
      created_in[k] = created_in[k] or {}
      table.insert(created_in[k], base)
      created[k .. "/" .. base] = arg[i + 1]
    end
  end
end
if next(created) then
  local dir = lfs.dir
  lfs.dir = function(path, ...)
    local extra = type(path) == "string" and created_in[key(path) or ""]
    if not extra then return dir(path, ...) end
    local names = {}
    for f in dir(path, ...) do names[#names + 1] = f end
    for _, n in ipairs(extra) do names[#names + 1] = n end
    local i = 0
    return function() i = i + 1; return names[i] end
  end
end
local function created_temp(name)
  if type(name) ~= "string" then return nil end
  local dir, base = split(name)
  local k = dir and key(dir)
  return k and created[k .. "/" .. base]
end
-- Credentials served from memory: fogbow-xmpp-ctl may put, before this
-- script on our standard input, `local FXC_CREDENTIALS = { dir = DIR,
-- files = { [NAME] = VALUE } }`: what systemd would put in prosody.service's
-- $CREDENTIALS_DIRECTORY (decrypted by root outside the unit). A read of
-- DIR/NAME gets VALUE from a file object in memory, never a file on disk;
-- any other name under DIR does not exist, as it would not in the unit.
local served = type(FXC_CREDENTIALS) == "table" and FXC_CREDENTIALS or nil
local function memfile(content)
  local pos = 1
  local f = {}
  local function line(keep)
    if pos > #content then return nil end
    local nl = content:find("\n", pos, true)
    local stop = nl or #content
    local l = content:sub(pos, keep and stop or (nl and nl - 1 or stop))
    pos = stop + 1
    return l
  end
  function f.read(_, fmt, ...)
    fmt = fmt or "l"
    if type(fmt) == "number" then
      if pos > #content and fmt > 0 then return nil end
      local s = content:sub(pos, pos + fmt - 1)
      pos = pos + #s
      return s
    end
    fmt = tostring(fmt):gsub("^%*", ""):sub(1, 1)
    if fmt == "a" then
      local s = content:sub(pos)
      pos = #content + 1
      return s
    elseif fmt == "L" then
      return line(true)
    elseif fmt == "n" then
      return nil
    end
    return line(false)
  end
  function f.lines(_, fmt) return function() return f:read(fmt) end end
  function f.close() return true end
  function f.seek(_, whence, offset)
    whence, offset = whence or "cur", offset or 0
    local base = whence == "set" and 0 or whence == "end" and #content or pos - 1
    pos = base + offset + 1
    return pos - 1
  end
  return f
end
local function credential_of(name)
  if not served or type(name) ~= "string" then return nil end
  local prefix = served.dir .. "/"
  if name:sub(1, #prefix) ~= prefix then return nil end
  local rest = name:sub(#prefix + 1):gsub("^/+", "")
  local value = served.files[rest]
  if value then return memfile(value) end
  return false
end
if next(by_name) or served then
  local open = io.open
  io.open = function(name, mode, ...)
    if mode == nil or tostring(mode):match("^r") then
      local c = credential_of(name)
      if c then return c end
      if c == false then return nil, name .. ": No such file or directory", 2 end
      local t = by_name[name] or (type(name) == "string" and overlay[key(name) or ""])
        or created_temp(name)
      if t then return open(t, mode, ...) end
    end
    return open(name, mode, ...)
  end
end
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
-- prosody 13 reads `Credential("NAME")` from $CREDENTIALS_DIRECTORY/NAME.
-- As its start-up does (util/startup.lua): the directory systemd gives the
-- unit (to ExecStartPre= and ExecReload= too), or the one we serve from
-- memory; without either, as prosodyctl does, a Credential() is only a
-- warning (fogbow-xmpp-ctl says which it could not verify). prosody 0.12
-- has none of this: there Credential is an undefined global, and prosody
-- fails on it, so we do too.
if cm.set_credentials_directory then
  local dir = os.getenv("CREDENTIALS_DIRECTORY")
  if served then
    cm.set_credentials_directory(served.dir)
  elseif dir and dir ~= "" then
    cm.set_credentials_directory(dir)
  elseif cm.set_credential_fallback_mode then
    cm.set_credential_fallback_mode("warn")
  end
end
local ok, kind, err = cm.load(config)
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end
-- With FXC_DUMP=1: every option of every host as prosody loaded it, one
-- `HOST OPTION VALUE` line each (each field escaped, so a line is one
-- option), for fogbow-xmpp-ctl to compare two loads in memory. Never
-- printed by it: values are secrets.
if os.getenv("FXC_DUMP") == "1" then
  local function esc(s)
    return (s:gsub(".", function(c)
      local b = c:byte()
      if b < 33 or b > 126 or c == "\\" or c == '"' then return string.format("\\%03d", b) end
    end))
  end
  local function ser(v, depth, seen)
    local t = type(v)
    if t == "string" then return '"' .. esc(v) .. '"' end
    if t == "number" then return string.format("%q", v) end
    if t == "boolean" or t == "nil" then return tostring(v) end
    if t ~= "table" then return "<" .. t .. ">" end
    if seen[v] or depth > 32 then return "<cycle>" end
    seen[v] = true
    local items = {}
    for k, x in pairs(v) do
      items[#items + 1] = ser(k, depth + 1, seen) .. "=" .. ser(x, depth + 1, seen)
    end
    seen[v] = nil
    table.sort(items)
    return "{" .. table.concat(items, ",") .. "}"
  end
  local out = {}
  for host, options in pairs(cm.getconfig()) do
    for name, value in pairs(options) do
      out[#out + 1] = esc(tostring(host)) .. " " .. esc(tostring(name)) .. " " .. ser(value, 0, {})
    end
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
end
os.exit(0)
