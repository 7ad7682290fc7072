-- wrk script: every request is a new reading (its own sensor per connection, a new timestamp each time),
-- so the platform stores every one instead of answering "duplicate".
local counter = 0
local thread_id = 0
local base = tonumber(os.getenv("BENCH_BASE_TS") or "1760000000")
local threads = {}
local api_key = os.getenv("BENCH_API_KEY") or ""

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"sensor_id":"bench-%d","enseigne":"Bench","salle":"Room %d","timestamp":%d,' ..
    '"values":{"co2":%d,"pm25":8.5,"tvoc":120,"temperature":21.7,"humidity":44}}',
    thread_id, thread_id % 10, base + counter, 400 + counter % 800)
  return wrk.format("POST", "/api/ingest", {["Content-Type"] = "application/json", ["X-API-Key"] = api_key}, body)
end

function done(summary, latency, requests)
  local codes = summary.errors.status
  io.write(string.format("BENCH requests=%d non2xx=%d duration_us=%d p50_us=%d p99_us=%d\n",
    summary.requests, codes, summary.duration, latency:percentile(50), latency:percentile(99)))
end
