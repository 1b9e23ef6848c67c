#!/usr/bin/env bash
# Front-end steps, run by make. They do nothing when web/package.json is absent.
#
#   scripts/web.sh deps    npm ci, when web/node_modules is missing or older
#                          than web/package-lock.json
#   scripts/web.sh build   deps, then npm run build
#   scripts/web.sh test    deps, then npm test (needs DATABASE_URL; see web/README.md)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
WEB="$ROOT/web"

log() { printf 'web.sh: %s\n' "$*" >&2; }

if [[ ! -f $WEB/package.json ]]; then
	log "no web/package.json: skipping the front-end ${1:-} step."
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	log "npm is not installed, but web/package.json exists and the front end must be built: installing it."
	"$ROOT/scripts/ensure-packages.sh" nodejs npm || {
		log "error: install Node.js and npm (Debian: apt-get install -y nodejs npm) and run make again."
		exit 1
	}
fi

cd "$WEB"

deps() {
	if [[ ! -f package-lock.json ]]; then
		log "warning: web/package-lock.json is missing; running 'npm install' (commit the lock file it creates)."
		npm install --no-audit --no-fund
	elif [[ ! -d node_modules || package-lock.json -nt node_modules ]]; then
		log "==> npm ci (web/)"
		npm ci --no-audit --no-fund
		touch node_modules
	fi
}

case ${1:-} in
deps) deps ;;
build)
	deps
	log "==> npm run build (web/)"
	npm run build
	;;
test)
	# The browser tests create their own database on DATABASE_URL's server.
	if [[ -z ${DATABASE_URL:-} ]]; then
		log "error: DATABASE_URL is not set; the web tests need a PostGIS server (make test provisions one)."
		exit 1
	fi
	# The tests drive Debian's Chromium (web/tests/harness.mjs).
	if [[ ! -x /usr/bin/chromium ]]; then
		"$ROOT/scripts/ensure-packages.sh" chromium || {
			log "error: the browser tests need /usr/bin/chromium (Debian: apt-get install -y chromium)."
			exit 1
		}
	fi
	deps
	log "==> npm test (web/): builds the front end and the service, then runs headless Chromium"
	npm test
	;;
*)
	log "usage: $0 deps|build|test"
	exit 2
	;;
esac
