#!/usr/bin/env bash
# make demo: cell on the shipped example project, offline. It works on a copy of examples/demo in
# a temporary directory, with its own HOME and XDG directories, so your own trust records and
# config are never touched.
set -euo pipefail

cell=${1:?usage: demo.sh PATH-TO-CELL}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cell-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share"
mkdir -p "$HOME"
cp -a "$here" "$work/demo"
rm -f "$work/demo/demo.sh"
cd "$work/demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '\033[2m$ %s\033[0m\n' "$*"
	local rc=0
	"$@" || rc=$?
	[ "$rc" -eq 0 ] || printf '\033[2m(exit status %d)\033[0m\n' "$rc"
}
cell() { "$cell" "$@"; }

step "What this machine offers"
run cell doctor

step "A fresh clone: the config is reviewed, not yet trusted"
run cell explain

step "Trust it (as direnv: the hash of its path and bytes is recorded)"
run cell allow
run cell explain
cell explain | grep '^config:'

step "Any edit makes it untrusted again, until re-allowed"
sed -i 's/"github.com",/"github.com", "evil.example.net",/' .cell.json
run cell explain >/dev/null
run cell allow

step "A mistake is named precisely: file, line, column, JSON path, and a suggestion"
cp .cell.json .cell.json.good
sed -i 's/"mode": "tmpfs"/"mode": "tmpfz"/' .cell.json
run cell explain
mv .cell.json.good .cell.json

step "Revoke trust"
run cell deny
run cell explain >/dev/null

step "cell init writes a starter config for the project type it finds"
mkdir -p "$work/py" && touch "$work/py/pyproject.toml"
run cell init "$work/py"
cat "$work/py/.cell.json"

printf '\nThe cell itself (cell run, cell enter, the shell hook) and the network path are not implemented yet; see README.md.\n'
