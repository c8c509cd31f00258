-- wrk script for bench/switch.sh: like report.lua, plus how many responses each color
-- (the upstream's X-Upstream header) served. Uses a response() callback, so it runs
-- without pipelining; that is fine for a correctness run.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  blue, green, other = 0, 0, 0
end

function response(status, headers, body)
  local c = headers["X-Upstream"] or headers["x-upstream"]
  if c == "blue" then
    blue = blue + 1
  elseif c == "green" then
    green = green + 1
  else
    other = other + 1
  end
end

done = function(summary, latency, requests)
  local b, g, o = 0, 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("blue")
    g = g + t:get("green")
    o = o + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"blue":%d,"green":%d,"other":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, b, g, o))
end
