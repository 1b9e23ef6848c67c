#!/usr/bin/env bash
# Private PostgreSQL + PostGIS cluster for this checkout.
#
# This cluster is for DEVELOPMENT AND TESTS ONLY, never production: it uses
# trust authentication and runs with fsync/full_page_writes/synchronous_commit
# off, so a crash or power loss can lose or corrupt its data.
#
# Usage: scripts/pg.sh start|stop|status|url|clean
#
#   start   install PostgreSQL/PostGIS if missing, create the cluster in
#           .data/postgres if absent, start it if not running, create the
#           database telecom_gis if missing. The last line of stdout is the
#           URL (everything else goes to stderr), so:
#             DATABASE_URL=$(scripts/pg.sh start | tail -n1)
#   stop    stop the cluster (fast shutdown); no error if it is not running
#   status  say whether it runs (exit 0 when running, 3 when not)
#   url     print the URL (without starting anything)
#   clean   stop, then delete the cluster (and its /var/tmp home, if any)
#
# Environment: TGIS_PG_PORT (default 55432) is the TCP port on 127.0.0.1.
#
# Layout: .data/postgres (data), .data/postgres.log (server log), unix socket
# in .data/. When running as root, the server runs as the `postgres` user; if
# that user cannot reach the checkout (e.g. it lives under a mode-700 home), or
# the socket path would be too long, the cluster lives in
# /var/tmp/telecom-gis-<hash of the checkout path>/ and .data/postgres and
# .data/postgres.log are symlinks to it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly ROOT
readonly DATA_DIR="$ROOT/.data"
readonly PGDATA_LINK="$DATA_DIR/postgres"
readonly LOG_LINK="$DATA_DIR/postgres.log"
readonly DB_NAME=telecom_gis
readonly DB_USER=postgres
readonly HOST=127.0.0.1
PORT=${TGIS_PG_PORT:-55432}
HASH=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
readonly FALLBACK_BASE="/var/tmp/telecom-gis-$HASH"

# Connection settings from the caller's environment must not leak into ours.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGSERVICE PGSERVICEFILE \
	PGOPTIONS PGDATA PGPASSFILE

# shellcheck source=scripts/ensure-packages.sh
source "$ROOT/scripts/ensure-packages.sh"

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() {
	printf 'pg.sh: error: %s\n' "$1" >&2
	shift
	local line
	for line in "$@"; do printf '       %s\n' "$line" >&2; done
	exit 1
}

if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
	die "TGIS_PG_PORT must be a TCP port number, got '$PORT'."
fi

is_root() { [[ ${EUID:-$(id -u)} -eq 0 ]]; }

# Run a PostgreSQL server program: as `postgres` when we are root (the server
# refuses to run as root), from / so that an unreadable cwd does not matter.
# fd 9 (our lock, see lock()) is closed so the server daemon does not keep it.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@") 9>&-
	else
		"$@" 9>&-
	fi
}

# Give a path we created to the server's user.
own() {
	if is_root; then chown postgres:postgres "$@"; fi
}

url() { printf 'postgres://%s@%s:%s/%s\n' "$DB_USER" "$HOST" "$1" "$DB_NAME"; }

# ---------------------------------------------------------------- layout

# Sets PGDATA (the real data directory, symlink resolved), BASE (its parent,
# which also holds the socket) and LOGFILE. Does not create anything.
resolve_layout() {
	if [[ -L $PGDATA_LINK ]]; then
		PGDATA=$(readlink -- "$PGDATA_LINK")
		BASE=$(dirname -- "$PGDATA")
	else
		PGDATA=$PGDATA_LINK
		BASE=$DATA_DIR
	fi
	LOGFILE="$BASE/postgres.log"
}

cluster_exists() { [[ -f $PGDATA/PG_VERSION ]]; }

# Decide where a new cluster goes, and create that place (owned by the server
# user). Called by `start` when there is no cluster yet.
prepare_location() {
	local use_fallback=''
	if [[ -L $PGDATA_LINK ]]; then
		# Existing symlink (its /var/tmp target may have been wiped): keep it.
		use_fallback=1
	else
		own "$DATA_DIR"
		if is_root && ! as_pg test -w "$DATA_DIR" -a -x "$DATA_DIR"; then
			log "user postgres cannot reach $DATA_DIR (a parent directory is not traversable);"
			log "putting the cluster under $FALLBACK_BASE instead."
			use_fallback=1
		fi
		# unix socket paths are limited to 107 bytes: "$dir/.s.PGSQL.65535".
		if ((${#DATA_DIR} + 15 > 107)); then
			log "checkout path too long for a unix socket; putting the cluster under $FALLBACK_BASE."
			use_fallback=1
		fi
	fi
	if [[ -n $use_fallback ]]; then
		mkdir -p "$FALLBACK_BASE"
		chmod 700 "$FALLBACK_BASE"
		own "$FALLBACK_BASE"
		if [[ ! -L $PGDATA_LINK ]]; then
			if [[ -e $PGDATA_LINK ]]; then
				rmdir -- "$PGDATA_LINK" 2>/dev/null ||
					die "$PGDATA_LINK exists and is not empty; run 'scripts/pg.sh clean' first."
			fi
			ln -s -- "$FALLBACK_BASE/postgres" "$PGDATA_LINK"
		fi
		[[ -L $LOG_LINK ]] || { rm -f -- "$LOG_LINK" && ln -s -- "$FALLBACK_BASE/postgres.log" "$LOG_LINK"; }
	fi
	resolve_layout
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	own "$PGDATA"
}

# ---------------------------------------------------------------- binaries

pg_dir_ok() {
	local d=/usr/lib/postgresql/$1
	[[ -x $d/bin/postgres && -x $d/bin/initdb && -x $d/bin/pg_ctl && -x $d/bin/psql &&
		-f $d/lib/postgis-3.so && -f /usr/share/postgresql/$1/extension/postgis.control ]]
}

# Highest version N with /usr/lib/postgresql/N/$1 present, or nothing.
highest_version_with() {
	local f vers=()
	for f in /usr/lib/postgresql/*/"$1"; do
		[[ -e $f ]] || continue
		f=${f#/usr/lib/postgresql/}
		vers+=("${f%%/*}")
	done
	((${#vers[@]})) || return 0
	printf '%s\n' "${vers[@]}" | sort -V | tail -n1
}

# Version the distribution would install with `apt-get install postgresql`.
candidate_version() {
	apt-cache depends postgresql 2>/dev/null |
		sed -n 's/^ *Depends: postgresql-\([0-9][0-9.]*\)$/\1/p' | head -n1
}

# Sets PG_VERSION and PGBIN, installing the server and PostGIS when missing.
# $1: required version (existing cluster), or empty to choose one.
find_binaries() {
	local ver=${1:-}
	if [[ -z $ver ]]; then
		ver=$(highest_version_with lib/postgis-3.so)
		[[ -n $ver ]] || ver=$(highest_version_with bin/postgres)
		if [[ -z $ver ]]; then
			log "PostgreSQL is not installed; looking up the distribution's version."
			apt_update_once 2>/dev/null || true
			ver=$(candidate_version)
			[[ -n $ver ]] || die "PostgreSQL + PostGIS are not installed and the version to install is unknown." \
				"Install them, e.g. on Debian/Ubuntu as root:" \
				"  apt-get update && apt-get install -y postgresql postgresql-<ver>-postgis-3" \
				"where <ver> is the PostgreSQL major version that 'postgresql' installs (15 on Debian 12)."
		fi
	fi
	if ! pg_dir_ok "$ver"; then
		log "installing PostgreSQL $ver and PostGIS 3 (Debian packages)."
		ensure_packages "postgresql-$ver" "postgresql-$ver-postgis-3" ||
			die "could not install postgresql-$ver and postgresql-$ver-postgis-3 (see above)."
		pg_dir_ok "$ver" || die "PostgreSQL $ver with PostGIS 3 is still incomplete under /usr/lib/postgresql/$ver after installing." \
			"Check: dpkg -l 'postgresql-$ver*'"
	fi
	if is_root && ! id postgres >/dev/null 2>&1; then
		die "running as root but there is no 'postgres' user to run the server as." \
			"Reinstall postgresql-common, or run this script as a normal user."
	fi
	PG_VERSION=$ver
	PGBIN=/usr/lib/postgresql/$ver/bin
}

# Like find_binaries for an existing cluster, but never installs anything.
# Returns non-zero when the binaries are not there.
find_binaries_noinstall() {
	local ver
	ver=$(cat "$PGDATA/PG_VERSION" 2>/dev/null) || return 1
	[[ -x /usr/lib/postgresql/$ver/bin/pg_ctl ]] || return 1
	PG_VERSION=$ver
	PGBIN=/usr/lib/postgresql/$ver/bin
}

# ---------------------------------------------------------------- server

is_running() {
	cluster_exists && [[ -f $PGDATA/postmaster.pid ]] && [[ -n ${PGBIN:-} ]] &&
		as_pg "$PGBIN/pg_ctl" status -D "$PGDATA" >/dev/null 2>&1
}

running_port() { sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null; }

port_in_use() {
	# Anything accepting TCP connections on 127.0.0.1:$1?
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

pick_locale() {
	local locales
	locales=$(locale -a 2>/dev/null || true)
	if grep -qixE 'c\.utf-?8' <<<"$locales"; then echo C.UTF-8; else echo C; fi
}

init_cluster() {
	local loc
	loc=$(pick_locale)
	log "creating cluster in $PGDATA (PostgreSQL $PG_VERSION, locale $loc)"
	if [[ -n $(ls -A -- "$PGDATA" 2>/dev/null) ]]; then
		die "$PGDATA is not empty but holds no cluster (PG_VERSION missing)." \
			"Run 'scripts/pg.sh clean' and try again."
	fi
	as_pg "$PGBIN/initdb" -D "$PGDATA" --auth=trust -U "$DB_USER" -E UTF8 \
		--locale="$loc" --no-sync >/dev/null || die "initdb failed (see above)."
}

# Our settings live in telecom-gis.conf (rewritten at each start), included
# at the end of postgresql.conf so they override the defaults.
write_config() {
	local conf="$PGDATA/postgresql.conf" extra="$PGDATA/telecom-gis.conf"
	if ! grep -q "^include_if_exists = 'telecom-gis.conf'" "$conf"; then
		printf '\n# telecom-gis: development/test settings, see scripts/pg.sh\ninclude_if_exists = '\''telecom-gis.conf'\''\n' >>"$conf"
	fi
	cat >"$extra" <<EOF
# Written by scripts/pg.sh at every start; edit the script, not this file.
# DEVELOPMENT AND TEST CLUSTER ONLY, NOT FOR PRODUCTION: durability is off
# for speed, so a crash can lose or corrupt data.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '${BASE//\'/\'\'}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200		# tests create many databases in parallel
shared_buffers = 256MB
EOF
	own "$extra"
}

wait_ready() {
	local i
	for ((i = 0; i < 120; i++)); do
		if "$PGBIN/pg_isready" -q -h "$HOST" -p "$PORT" -U "$DB_USER" -d postgres; then
			return 0
		fi
		sleep 0.5
	done
	die "the server does not accept connections on $HOST:$PORT after 60 s." \
		"Last lines of $LOG_LINK:" "$(tail -n 20 "$LOGFILE" 2>/dev/null || true)"
}

start_server() {
	write_config
	log "starting PostgreSQL $PG_VERSION on $HOST:$PORT (log: $LOG_LINK)"
	if ! as_pg "$PGBIN/pg_ctl" start -D "$PGDATA" -l "$LOGFILE" -w -t 60 -s >&2; then
		printf 'pg.sh: last lines of %s:\n' "$LOG_LINK" >&2
		tail -n 20 "$LOGFILE" >&2 2>/dev/null || true
		die "the server failed to start (see the log above)."
	fi
}

ensure_database() {
	local psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$DB_USER" -d postgres)
	if [[ -z $("${psql[@]}" -tAc "select 1 from pg_database where datname = '$DB_NAME'") ]]; then
		log "creating database $DB_NAME"
		"${psql[@]}" -c "create database $DB_NAME" >&2
	fi
}

lock() {
	mkdir -p "$DATA_DIR"
	if command -v flock >/dev/null 2>&1; then
		exec 9>>"$DATA_DIR/.pg.lock"
		flock -w 300 9 || die "timed out waiting for another scripts/pg.sh in this checkout."
	fi
}

# ---------------------------------------------------------------- commands

cmd_start() {
	lock
	resolve_layout
	if cluster_exists; then
		find_binaries "$(cat "$PGDATA/PG_VERSION")"
	else
		find_binaries ""
		prepare_location
		init_cluster
	fi
	if is_running; then
		local rport
		rport=$(running_port)
		if [[ -n ${TGIS_PG_PORT:-} && $rport != "$PORT" ]]; then
			die "the cluster is already running on port $rport, but TGIS_PG_PORT=$PORT." \
				"Run 'scripts/pg.sh stop' first to restart it on port $PORT, or unset TGIS_PG_PORT."
		fi
		PORT=$rport
		log "already running on $HOST:$PORT"
	else
		if port_in_use "$PORT"; then
			local what="another program"
			if "$PGBIN/pg_isready" -q -h "$HOST" -p "$PORT" >/dev/null 2>&1; then
				what="another PostgreSQL server"
			fi
			die "port $PORT on $HOST is already used by $what (not this checkout's cluster)." \
				"Choose a free port with TGIS_PG_PORT, e.g.:  TGIS_PG_PORT=$((PORT + 1)) scripts/pg.sh start" \
				"(or: TGIS_PG_PORT=$((PORT + 1)) make ...)"
		fi
		start_server
	fi
	wait_ready
	ensure_database
	url "$PORT"
}

cmd_stop() {
	resolve_layout
	cluster_exists || { log "no cluster in $PGDATA_LINK; nothing to stop."; return 0; }
	lock
	if ! find_binaries_noinstall; then
		if [[ -f $PGDATA/postmaster.pid ]]; then
			die "PostgreSQL $(cat "$PGDATA/PG_VERSION") binaries are missing, cannot stop the server." \
				"Its pid is on the first line of $PGDATA/postmaster.pid."
		fi
		log "not running."
		return 0
	fi
	if is_running; then
		log "stopping PostgreSQL ($PGDATA_LINK)"
		as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA" -m fast -w -t 60 -s >&2
	else
		log "not running."
	fi
}

cmd_status() {
	resolve_layout
	if ! cluster_exists; then
		log "no cluster (run: scripts/pg.sh start)"
		return 3
	fi
	find_binaries_noinstall || true
	if is_running; then
		log "running: PostgreSQL $PG_VERSION, data $PGDATA, port $(running_port)"
		url "$(running_port)"
		return 0
	fi
	log "stopped: PostgreSQL $(cat "$PGDATA/PG_VERSION"), data $PGDATA"
	return 3
}

cmd_url() {
	resolve_layout
	find_binaries_noinstall || true
	if is_running; then url "$(running_port)"; else url "$PORT"; fi
}

cmd_clean() {
	cmd_stop
	lock
	resolve_layout
	log "removing the cluster"
	if [[ -L $PGDATA_LINK ]]; then
		local base
		base=$(dirname -- "$(readlink -- "$PGDATA_LINK")")
		case $base in
		/var/tmp/telecom-gis-*) rm -rf -- "$base" ;;
		*) log "not deleting $base (symlink target outside /var/tmp/telecom-gis-*)" ;;
		esac
	fi
	[[ -d $FALLBACK_BASE ]] && rm -rf -- "$FALLBACK_BASE"
	rm -rf -- "$PGDATA_LINK" "$LOG_LINK"
	rm -f -- "$DATA_DIR"/.s.PGSQL.* "$DATA_DIR/.pg.lock"
	rmdir -- "$DATA_DIR" 2>/dev/null || true
}

usage() {
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
url) cmd_url ;;
clean) cmd_clean ;;
-h | --help | help) usage ;;
*)
	usage
	exit 2
	;;
esac
