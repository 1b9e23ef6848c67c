#!/usr/bin/env bash
# Load test of GET /coverage/point: 64 connections for 30 s on loopback with
# wrk (Debian package `wrk`). Bounded in time; targets only the given local URL.
# Anonymous reads are rate-limited per client address: start the service with
# READ_RATE_LIMIT_PER_S=0 for a load test (one client sends everything).
#
# Usage: scripts/loadtest-coverage.sh [http://127.0.0.1:8080] [seconds]
set -euo pipefail
url=${1:-http://127.0.0.1:8080}
secs=${2:-30}
case $url in
	http://127.* | http://localhost* | http://\[::1\]*) ;;
	*) echo "loadtest: refusing non-loopback target $url" >&2; exit 2 ;;
esac
command -v wrk >/dev/null || "$(dirname "$0")/ensure-packages.sh" wrk
exec wrk -t2 -c64 -d"${secs}s" --latency -s "$(dirname "$0")/loadtest-coverage.lua" "$url"
