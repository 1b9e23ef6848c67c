#!/usr/bin/env bash
# The test suite's Python environment: .venv/ (git-ignored) with the pinned
# packages of scripts/requirements-gis.txt. Re-created when that file changes.
# Prints the venv's python on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV="$ROOT/.venv"
REQ="$ROOT/scripts/requirements-gis.txt"
STAMP="$VENV/.requirements-gis.txt"

log() { printf 'py-venv.sh: %s\n' "$*" >&2; }

if [[ -x $VENV/bin/python && -f $STAMP ]] && cmp -s "$REQ" "$STAMP"; then
	echo "$VENV/bin/python"
	exit 0
fi
PY=$(command -v python3 || true)
[[ -n $PY ]] || PY=/usr/bin/python3
if ! "$PY" -m venv --help >/dev/null 2>&1; then
	log "python3 has no venv module: installing python3-venv."
	"$ROOT/scripts/ensure-packages.sh" python3-venv || {
		log "error: install Python 3 with venv (Debian: apt-get install -y python3-venv) and run make again."
		exit 1
	}
	PY=/usr/bin/python3
fi
log "==> creating $VENV with $(basename "$REQ") ($("$PY" --version))"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
cp "$REQ" "$STAMP"
echo "$VENV/bin/python"
