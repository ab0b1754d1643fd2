#!/usr/bin/env bash
# make test-package: the Debian package as a user gets it. Builds it (make deb), checks it with
# lintian, installs it with apt-get, runs cell doctor and a proxy cell of a project as the test
# user from /usr/bin/cell, then purges it and checks that nothing of cell is left: its files,
# cell-session's stat override, the BPF pins, the cell.slice cgroup. Root only (it installs).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: test-package installs a package: root only"
	exit 0
fi
user=${TEST_USER:-celltest}
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }

make --no-print-directory deb
deb=$(ls build/deb/cell_*_*.deb | grep -v dbgsym | head -n 1)
out=$(lintian "$deb" 2>&1 | grep -v 'running with root privileges' || true)
[ -z "$out" ] || fail "lintian: $out"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
files=$(dpkg -L cell | while read -r f; do [ -f "$f" ] && echo "$f"; done)
[ "$(stat -c %a /usr/libexec/cell/cell-session)" = 4755 ] || fail "cell-session is not setuid root"
/usr/bin/cell doctor >/dev/null || fail "cell doctor"
man -w cell >/dev/null && man -w cell.json >/dev/null && man -w pam_cell >/dev/null ||
	fail "man pages"

work=$(mktemp -d /tmp/cell-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/p"
printf '{"name": "pkg", "network": {"mode": "proxy"}}\n' > "$work/p/.cell.json"
chown -R "$user" "$work"
chmod 0755 "$work"
as_user() { runuser -u "$user" -- env -i HOME="$work/home" PATH=/usr/bin:/bin "$@"; }
(cd "$work/p" && as_user /usr/bin/cell allow >/dev/null) || fail "cell allow"
got=$(cd "$work/p" && as_user /usr/bin/cell run -- curl -s -o /dev/null -w '%{http_code}' \
	http://example.net/) || true
[ "$got" = 403 ] || fail "a proxy cell from the package: the proxy's answer was '$got', not 403"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq cell >/dev/null
! dpkg -L cell >/dev/null 2>&1 || fail "dpkg still knows cell"
for f in $files; do [ ! -e "$f" ] || fail "$f is left"; done
! dpkg-statoverride --list /usr/libexec/cell/cell-session >/dev/null || fail "the stat override is left"
[ ! -e /sys/fs/bpf/cell ] || fail "/sys/fs/bpf/cell is left"
for slice in /sys/fs/cgroup/cell.slice /sys/fs/cgroup/unified/cell.slice; do
	[ ! -e "$slice" ] || fail "$slice is left"
done
echo "test-package: ok ($deb: lintian clean, installed, a proxy cell ran, purged, nothing left)"
