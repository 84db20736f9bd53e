-- wrk script: every request is made as one device of a fleet, with that device's own
-- credentials (DDI TargetToken), so the server authenticates a different device each time.
--
--   wrk -s bench/wrk/devices.lua URL -- TARGETS [random|cycle]
--
-- TARGETS: one device a line, "<path>\t<Authorization header value>". `random` (polls):
-- a device drawn at random for each request. `cycle` (downloads): the thread walks the
-- list, so each device's artifact is fetched in turn. `done` prints one JSON line.

local targets = {}
local mode = "random"
local position = 0
local thread_count = 0
local threads = {}

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local path, auth = line:match("^([^\t]+)\t(.*)$")
    if path then
      table.insert(targets, { path = path, auth = auth })
    end
  end
  file:close()
  mode = args[2] or "random"
  math.randomseed(os.time() * 1000 + (thread_id or 1))
  position = (thread_id or 1) - 1
end

function request()
  local target
  if mode == "cycle" then
    target = targets[position % #targets + 1]
    position = position + 1
  else
    target = targets[math.random(#targets)]
  end
  return wrk.format("GET", target.path, { ["Authorization"] = target.auth })
end

function done(summary, latency, requests)
  local e = summary.errors
  -- The latency distribution as its 0.1 % .. 99.9 % quantiles, so that runs taken in turns
  -- can be merged into one distribution (bench/load.py).
  local quantiles = {}
  for i = 1, 999 do
    quantiles[i] = string.format("%d", latency:percentile(i / 10))
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "quantiles_us": [%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(quantiles, ",")))
end
