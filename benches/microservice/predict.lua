-- wrk: each request POSTs a random flight's key, as pgbench's predict.sql picks one.
local keys = tonumber(os.getenv("KEYS") or "336776")
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
init = function(args)
  math.randomseed(os.time() * 1000 + seed)
end
request = function()
  return wrk.format("POST", "/predict", {["Content-Type"] = "application/json"},
                    string.format('{"key": %d}', math.random(1, keys)))
end
