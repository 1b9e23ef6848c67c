-- wrk script: GET /coverage/point at seeded pseudo-random points over Đà Nẵng
-- (lon 107.95–108.35, lat 15.95–16.20), a third of them with technology=4G.
local state = 12345
local function rnd()
  state = (state * 1103515245 + 12345) % 2147483648
  return state / 2147483648
end
request = function()
  local lon = 107.95 + rnd() * 0.40
  local lat = 15.95 + rnd() * 0.25
  local path = string.format("/coverage/point?lon=%.6f&lat=%.6f", lon, lat)
  if rnd() < 0.33 then path = path .. "&technology=4G" end
  return wrk.format("GET", path)
end
done = function(summary, latency, requests)
  io.write(string.format("requests: %d, errors: connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
