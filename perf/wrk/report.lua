-- wrk script for perf/: POST the file named by WRK_BODY (GET when unset) as WRK_CONTENT_TYPE
-- (default application/json), with the extra headers in WRK_HEADERS ("Name: value" lines), and
-- print one JSON line of results when done. Latencies are in microseconds.
local body_path = os.getenv("WRK_BODY")
if body_path and body_path ~= "" then
  local file = assert(io.open(body_path, "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  local content_type = os.getenv("WRK_CONTENT_TYPE")
  if content_type == nil or content_type == "" then
    content_type = "application/json"
  end
  wrk.headers["Content-Type"] = content_type
end
for name, value in string.gmatch(os.getenv("WRK_HEADERS") or "", "([^:\n]+):%s*([^\n]*)") do
  wrk.headers[name] = value
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99),
    latency.max, latency.mean))
end
