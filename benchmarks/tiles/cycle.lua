-- wrk script: each thread cycles through the request paths listed in a file.
-- Usage: wrk ... -s cycle.lua http://127.0.0.1:PORT -- PATHS_FILE THREADS
-- Each thread starts at its own offset so threads do not request in lockstep.

local paths = {}
local index = 1
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("no paths in " .. args[1])
  end
  local threads = tonumber(args[2]) or 1
  index = math.floor(#paths * (id or 0) / threads) % #paths + 1
end

function request()
  local path = paths[index]
  index = index % #paths + 1
  return wrk.format("GET", path)
end
