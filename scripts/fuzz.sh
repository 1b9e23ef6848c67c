#!/usr/bin/env bash
# Fuzz every parser of user input for a bounded time (tests/api/fuzz.rs, the
# tests of module `fuzz` of the `api` test binary): GeoJSON features of each
# collection, geometries, bbox and items parameters, the merge patch, and
# random GET and write requests through the real router.
#
# Usage: scripts/fuzz.sh [--exact] [TARGET_FILTER...] [HARNESS_OPTION...]
#
#   TARGET_FILTER  runs the targets whose name contains it (any of them), as
#                  cargo test's filters do, but among the fuzz targets only;
#                  `--skip PATTERN` leaves out the targets whose name contains
#                  PATTERN. With --exact, both match whole names (`fuzz_bbox`
#                  or `fuzz::fuzz_bbox`). Other options go to the test harness.
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

# libtest ORs its name filters, and the api binary holds every integration
# test: choose the targets here, then run them by exact name.
filters=() skips=() options=() exact=0
while (($#)); do
	case $1 in
	--exact) exact=1 ;;
	--skip)
		skips+=("${2:?--skip needs a pattern}")
		shift
		;;
	-*) options+=("$1") ;;
	*) filters+=("$1") ;;
	esac
	shift
done
# matches NAME PATTERN: as libtest matches a filter (substring, or whole name
# with --exact), the module path being optional then.
matches() {
	if ((exact)); then
		[[ $1 == "$2" || $1 == "fuzz::$2" ]]
	else
		[[ $1 == *"$2"* ]]
	fi
}
targets=()
while IFS= read -r name; do
	keep=$((${#filters[@]} == 0))
	for f in "${filters[@]}"; do
		if matches "$name" "$f"; then keep=1; fi
	done
	for f in "${skips[@]}"; do
		if matches "$name" "$f"; then keep=0; fi
	done
	if ((keep)); then targets+=("$name"); fi
done < <(cargo test --quiet --test api -- --list fuzz:: | sed -n 's/^\(fuzz::[A-Za-z0-9_]*\): test$/\1/p')
if ((${#targets[@]} == 0)); then
	echo "fuzz: no fuzz target matches ${filters[*]:-}" >&2
	exit 2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
set +e
cargo test --quiet --test api -- --nocapture --test-threads="${FUZZ_THREADS:-1}" \
	"${options[@]}" --exact "${targets[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo
echo "summary ($(($(date +%s) - start)) s in all, $(nproc) cores):"
grep -oE 'fuzz [a-z_]+: [0-9]+ inputs.*' "$log" | sort -u || true
exit "$status"
