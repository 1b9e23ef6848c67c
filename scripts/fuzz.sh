#!/usr/bin/env bash
# Fuzz every parser of user input for a bounded time (tests/fuzz.rs): GeoJSON
# features of each collection, geometries, bbox and items parameters, the
# merge patch, and random GET and write requests through the real router.
#
# Usage: scripts/fuzz.sh [TARGET_FILTER]
#
#   FUZZ_SECONDS   budget per target, seconds (default 60)
#   FUZZ_SEED      seed (default: from the clock; each target prints its seed,
#                  so a failure is reproduced with FUZZ_SEED=<seed>)
#   FUZZ_THREADS   targets run at once (default 1, so the numbers are per core)
#   DATABASE_URL   server for the HTTP targets' per-test databases (default:
#                  the private cluster of scripts/pg.sh, started if needed)
#
# Prints one line per target: `fuzz <target>: <n> inputs in <s> s, 0 failures`.
# Exits non-zero on the first failure, with the offending input.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

export FUZZ_SECONDS=${FUZZ_SECONDS:-60}
if [[ -z ${DATABASE_URL:-} ]]; then
	DATABASE_URL=$(scripts/pg.sh start | tail -n1)
	export DATABASE_URL
fi

echo "fuzz: ${FUZZ_SECONDS} s per target, ${FUZZ_THREADS:-1} at a time, $(nproc) cores" >&2
cargo build --tests --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
set +e
cargo test --quiet --test fuzz -- --nocapture --test-threads="${FUZZ_THREADS:-1}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo
echo "summary ($(($(date +%s) - start)) s in all, $(nproc) cores):"
grep -oE 'fuzz [a-z_]+: [0-9]+ inputs.*' "$log" | sort -u || true
exit "$status"
