#!/usr/bin/env bash
# Mixed load test on loopback, bounded in time: 90 % reads (items by bbox,
# coverage at a point, vector tiles when served) and 10 % writes (tower
# creations and status patches), with wrk (Debian package `wrk`). Then checks
# that the service's coverage index equals the database with
# `telecom-gis check-index`.
#
# Usage: scripts/loadtest.sh [http://127.0.0.1:8080] [seconds=60] [connections=32]
#
# Environment: DATABASE_URL (the service's database, for check-index);
# TGIS_BIN (default: $CARGO_TARGET_DIR/release/telecom-gis, or target/...).
# The writes add towers whose site codes start with LT-; they stay.
set -euo pipefail
url=${1:-http://127.0.0.1:8080}
secs=${2:-60}
conns=${3:-32}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case $url in
	http://127.* | http://localhost* | http://\[::1\]*) ;;
	*) echo "loadtest: refusing non-loopback target $url" >&2; exit 2 ;;
esac
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs < 1 || secs > 600)); then
	echo "loadtest: seconds must be 1..600, got '$secs'" >&2
	exit 2
fi
command -v wrk >/dev/null || "$here/ensure-packages.sh" wrk
command -v curl >/dev/null || "$here/ensure-packages.sh" curl
bin=${TGIS_BIN:-${CARGO_TARGET_DIR:-$here/../target}/release/telecom-gis}

curl -fsS "$url/readyz" >/dev/null || { echo "loadtest: $url/readyz is not 200" >&2; exit 1; }
# Towers to patch: the first 1,000 by id.
ids=$(curl -fsS "$url/collections/towers/items?limit=1000" |
	grep -oE '"type":"Feature","id":[0-9]+' | grep -oE '[0-9]+$' | paste -sd, -)
[[ -n $ids ]] || { echo "loadtest: no towers to patch; load the sample first" >&2; exit 1; }
tile=$(curl -s -o /dev/null -w '%{http_code}' "$url/collections/towers/tiles/WebMercatorQuad/12/1863/3279")
tiles=0
[[ $tile == 200 || $tile == 204 ]] && tiles=1
echo "loadtest: $url for ${secs}s, $conns connections, vector tiles: $([[ $tiles == 1 ]] && echo yes || echo 'no (route absent)')" >&2

# Writes need a token: TGIS_TOKEN, else a fresh admin token (needs the
# binary and DATABASE_URL). The service's rate limits apply: start it with
# RATE_LIMIT_PER_S=0 READ_RATE_LIMIT_PER_S=0 ANON_RATE_LIMIT_PER_S=0
# EXPENSIVE_RATE_LIMIT_PER_S=0 for a load test (one client sends everything).
token=${TGIS_TOKEN:-}
if [[ -z $token && -x $bin && -n ${DATABASE_URL:-} ]]; then
	token=$(RUST_LOG=warn "$bin" token create --role admin --name "loadtest $(date +%s)" 2>/dev/null | tail -n1)
fi
[[ -n $token ]] || echo "loadtest: no token (set TGIS_TOKEN, or DATABASE_URL and build $bin): writes will get 401" >&2

wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency -s "$here/loadtest.lua" "$url" -- \
	"$(date +%s)" "$tiles" "$ids" "$token"

if [[ -x $bin && -n ${DATABASE_URL:-} ]]; then
	echo "loadtest: comparing the service's index with the database" >&2
	"$bin" check-index --url "$url"
else
	echo "loadtest: skipping check-index (set DATABASE_URL and build $bin)" >&2
fi
