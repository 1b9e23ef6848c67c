-- wrk script: mixed load on the API, 90 % reads and 10 % writes.
--
--   reads  (90 %): items by bbox, coverage at a point, and vector tiles
--                  (when the tile route exists; else the other two share)
--   writes (10 %): POST a new tower (5 %), PATCH a tower's status (5 %)
--
-- Arguments after `--`: run id (makes site codes unique across runs),
-- "1" when tiles are served, a comma-separated list of tower ids to patch,
-- and the API token for writes. Patches send `If-Match: *` (overwrite
-- whatever is there: a load test does no read-modify-write). Seeded
-- pseudo-random, one sequence per thread.
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

GEOJSON = { ["Content-Type"] = "application/geo+json" }
MERGE = { ["Content-Type"] = "application/merge-patch+json", ["If-Match"] = "*" }

local run, tiles, ids, counter, seed = "run", false, {}, 0, 1
function init(args)
  run = args[1] or tostring(os.time())
  tiles = args[2] == "1"
  for id in string.gmatch(args[3] or "", "%d+") do ids[#ids + 1] = id end
  local auth = "Bearer " .. (args[4] or "")
  GEOJSON["Authorization"] = auth
  MERGE["Authorization"] = auth
  seed = 12345 + (tid or 0) * 7919
end

local function rnd()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
end

-- Đà Nẵng: lon 107.95–108.35, lat 15.95–16.20.
local function lonlat()
  return 107.95 + rnd() * 0.40, 15.95 + rnd() * 0.25
end

local function tile_of(lon, lat, z)
  local n = 2 ^ z
  local x = math.floor((lon + 180) / 360 * n)
  local r = math.rad(lat)
  local y = math.floor((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
  return x, y
end


request = function()
  local r = rnd()
  if r < 0.05 then
    counter = counter + 1
    local lon, lat = lonlat()
    local body = string.format(
      '{"type":"Feature","geometry":{"type":"Point","coordinates":[%.6f,%.6f]},' ..
      '"properties":{"operator":"viettel","site_code":"LT-%s-%d-%d","structure_type":"compact",' ..
      '"height_m":25,"status":"operational","synthetic":true,"sectors":[{"operator":"viettel","technology":"4G",' ..
      '"frequency_mhz":1842.5,"azimuth_deg":%d,"beamwidth_deg":65,"height_m":22,"eirp_dbm":61}]}}',
      lon, lat, run, tid or 0, counter, math.floor(rnd() * 360))
    return wrk.format("POST", "/collections/towers/items", GEOJSON, body)
  elseif r < 0.10 and #ids > 0 then
    local id = ids[math.floor(rnd() * #ids) + 1]
    local status = (rnd() < 0.5) and "operational" or "planned"
    return wrk.format("PATCH", "/collections/towers/items/" .. id, MERGE,
      '{"properties":{"status":"' .. status .. '"}}')
  end
  local lon, lat = lonlat()
  local kind = rnd()
  local share = tiles and 1 / 3 or 1 / 2
  if kind < share then
    local d = 0.01 + rnd() * 0.02
    return wrk.format("GET", string.format(
      "/collections/towers/items?bbox=%.5f,%.5f,%.5f,%.5f&limit=100", lon, lat, lon + d, lat + d))
  elseif kind < 2 * share then
    local path = string.format("/coverage/point?lon=%.6f&lat=%.6f", lon, lat)
    if rnd() < 0.33 then path = path .. "&technology=4G" end
    return wrk.format("GET", path)
  else
    local z = 11 + math.floor(rnd() * 4)
    local x, y = tile_of(lon, lat, z)
    return wrk.format("GET", string.format(
      "/collections/towers/tiles/WebMercatorQuad/%d/%d/%d", z, y, x))
  end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("requests: %d in %.1f s = %.0f req/s\n",
    summary.requests, secs, summary.requests / secs))
  io.write(string.format("errors: connect %d read %d write %d status %d timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
  io.write(string.format("latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
