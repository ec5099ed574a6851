-- Item pages of many items by many browsers, so that recording is not all double clicks.
-- ITEMS (comma-separated ids) comes from the environment.
local ids = {}
for id in string.gmatch(os.getenv("ITEMS"), "[^,]+") do ids[#ids + 1] = id end
local n = 0
request = function()
  n = n + 1
  local agent = "Mozilla/5.0 (X11; Linux x86_64; reader " .. (math.floor(n / #ids) % 2000) ..
    ") Gecko/20100101 Firefox/133.0"
  return wrk.format("GET", "/items/" .. ids[(n % #ids) + 1], {["User-Agent"] = agent})
end
