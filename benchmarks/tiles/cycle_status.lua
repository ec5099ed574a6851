-- cycle.lua plus a count of responses by HTTP status, printed as "Statuses: 200=N 503=M".
-- Defining response() makes wrk hand every body to Lua, so the tile benchmark does not use it.

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "cycle.lua")

local cycle_setup = setup
local threads = {}
statuses = {}

function setup(thread)
  threads[#threads + 1] = thread
  cycle_setup(thread)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    parts[#parts + 1] = status .. "=" .. count
  end
  table.sort(parts)
  io.write("Statuses: " .. table.concat(parts, " ") .. "\n")
end
