-- wrk script: each thread cycles through the paths in a file; at the end, one line with
-- the percentiles wrk's --latency does not print (p95) and the count of non-2xx answers.
-- Usage: wrk ... -s paths.lua http://127.0.0.1:PORT -- PATHS_FILE
local threads = {}
local paths = {}
local index = 1
local bad = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("no paths in " .. args[1]) end
  index = (id * 7) % #paths + 1
end

function request()
  local path = paths[index]
  index = index % #paths + 1
  -- A connection per request, as nginx opens them to the repository (deploy/nginx): kept
  -- open, wrk's 8 connections stay in whichever gunicorn worker took them, at times all
  -- in one, and a page's figures then measured that placement rather than the page.
  return wrk.format("GET", path, {["Connection"] = "close"})
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("bad") or 0)
  end
  io.write(string.format(
    "SCALE p50_us=%d p95_us=%d p99_us=%d max_us=%d requests=%d non2xx=%d errors=%d\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    summary.requests, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
