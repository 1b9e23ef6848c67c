#!/usr/bin/env bash
# Install Debian packages that are missing, the same way everywhere in this repo.
#
#   scripts/ensure-packages.sh PACKAGE...    install those of PACKAGE... not yet installed
#
# Can also be sourced (as scripts/pg.sh does) to get the functions:
#   ensure_packages PACKAGE...   install the missing ones (apt-get update once first)
#   apt_update_once              run `apt-get update` at most once per process
#   pkg_installed PACKAGE        true when dpkg says PACKAGE is installed
#
# As root, apt-get is used directly; otherwise through sudo when it exists.
# Without either (or without apt-get at all), it prints exactly what to
# install and fails. All messages go to stderr.

_ep_log() { printf 'ensure-packages: %s\n' "$*" >&2; }

# Prefix for privileged commands: empty as root, "sudo" when available.
# Returns non-zero when neither is possible.
_ep_priv() {
	if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
		_EP_PRIV=()
	elif command -v sudo >/dev/null 2>&1; then
		_EP_PRIV=(sudo)
	else
		return 1
	fi
}

pkg_installed() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
	[[ $status == installed ]]
}

_EP_UPDATED=${_EP_UPDATED:-}
apt_update_once() {
	[[ -n $_EP_UPDATED ]] && return 0
	_ep_priv || return 1
	_ep_log "==> apt-get update"
	"${_EP_PRIV[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	_EP_UPDATED=1
}

ensure_packages() {
	local missing=() p
	if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
		_ep_log "error: apt-get/dpkg not found (this helper supports Debian/Ubuntu only)."
		_ep_log "       Install these packages (or their equivalents) by hand: $*"
		return 1
	fi
	for p in "$@"; do
		pkg_installed "$p" || missing+=("$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	if ! _ep_priv; then
		_ep_log "error: missing packages: ${missing[*]}"
		_ep_log "       Not root and sudo is not available, so they cannot be installed automatically."
		_ep_log "       Install them as root with:"
		_ep_log "         apt-get update && apt-get install -y ${missing[*]}"
		return 1
	fi
	apt_update_once
	_ep_log "==> apt-get install ${missing[*]}"
	"${_EP_PRIV[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q "${missing[@]}" >&2
}

# Executed (not sourced): install the packages given as arguments.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	if [[ $# -eq 0 ]]; then
		_ep_log "usage: $0 PACKAGE..."
		exit 2
	fi
	ensure_packages "$@"
fi
