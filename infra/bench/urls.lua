-- wrk script: request each path of a list (one per line) once, in order, over all the
-- connections of one thread, and print one JSON line when the last answer is in:
--   wrk -t1 -c8 -d600s -s urls.lua http://HOST:PORT -- LIST_FILE
-- wrk itself always runs for its whole -d, so the script times the list with the
-- monotonic clock (LuaJIT's ffi) and ends the process once it is served. If the list is
-- not served within -d, done() prints what was answered, with "complete": false.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } urls_timespec;
  int clock_gettime(int clock, urls_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("urls_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  paths, next_index, answered, not_ok, started = {}, 1, 0, 0, nil
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
end

function request()
  started = started or now()
  -- Past the end (other connections still wait for their last answers): ask the first
  -- path again; those answers are not counted.
  local path = paths[next_index] or paths[1]
  next_index = next_index + 1
  return wrk.format("GET", path)
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then not_ok = not_ok + 1 end
  if answered == #paths then
    io.write(string.format('{"complete": true, "seconds": %.6f, "answered": %d, "not_ok": %d}\n',
      now() - started, answered, not_ok))
    io.stdout:flush()
    os.exit(0)
  end
end

function done(summary, latency, requests)
  local answered_all, not_ok_all = 0, 0
  for _, thread in ipairs(threads) do
    answered_all = answered_all + thread:get("answered")
    not_ok_all = not_ok_all + thread:get("not_ok")
  end
  local e = summary.errors
  io.write(string.format('{"complete": false, "answered": %d, "not_ok": %d, "socket_errors": %d}\n',
    answered_all, not_ok_all, e.connect + e.read + e.write + e.timeout))
end
