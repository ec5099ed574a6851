-- Item pages of many items by many browsers, so that recording is not all double clicks.
-- ITEMS (comma-separated ids) comes from the environment.
local ids = {}
for id in string.gmatch(os.getenv("ITEMS"), "[^,]+") do ids[#ids + 1] = id end
local n = 0
request = function()
  n = n + 1
  local agent = "Mozilla/5.0 (X11; Linux x86_64; reader " .. (math.floor(n / #ids) % 2000) ..
    ") Gecko/20100101 Firefox/133.0"
  -- A connection per request, as nginx opens them to the repository (deploy/nginx): kept
  -- open, wrk's 8 connections sit wherever they first landed, all 8 in one gunicorn
  -- worker in some rounds, which then served half as many pages as in the others.
  local headers = {["User-Agent"] = agent, ["Connection"] = "close"}
  return wrk.format("GET", "/items/" .. ids[(n % #ids) + 1], headers)
end
