#!/usr/bin/env python3
"""make bench: cell proxy against a direct connection and against tinyproxy.

Same upstream (tests/bench/upstream.c, bytes as fast as the kernel takes them), same client
(curl for throughput, raw sockets for latency, tests/bench/exchange.c for request/response
exchanges over one connection), rounds interleaved so that noise hits all alike; medians
compared. The target is 127.0.0.1 itself for every path (an address rule allows it in cell's
config), so no name lookup is measured.
"""
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

cell = os.path.abspath(sys.argv[1])
upstream_bin = os.path.abspath(sys.argv[2])
exchange_bin = os.path.abspath(sys.argv[3])
SIZE = 100 * 1000 * 1000
ROUNDS = int(os.environ.get("ROUNDS", "5"))
SMALL = int(os.environ.get("SMALL", "300"))
TUNNELS = [int(n) for n in os.environ.get("TUNNELS", "1000 10000").split()]
EXCHANGES = int(os.environ.get("EXCHANGES", "1000"))

# descriptors for 10,000 tunnels: the client and the sink here, two a tunnel in each proxy
# (the proxies inherit the limit); as root the hard limit can rise, else it is what it is
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (65536, max(65536, hard)))
except (ValueError, OSError):
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

work = tempfile.mkdtemp(prefix="cell-proxy-bench-")
env = dict(os.environ, HOME=work, XDG_STATE_HOME=work + "/state", XDG_DATA_HOME=work + "/data",
           XDG_CONFIG_HOME=work + "/config")
procs = []


def wait_for(path):
    for _ in range(200):
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        time.sleep(0.05)
    raise SystemExit("timed out waiting for " + path)


try:
    portfile = os.path.join(work, "upstream.port")
    procs.append(subprocess.Popen([upstream_bin, portfile]))
    up = int(wait_for(portfile))
    xportfile = os.path.join(work, "exchange.port")
    procs.append(subprocess.Popen([exchange_bin, "serve", xportfile]))
    xup = int(wait_for(xportfile))
    proj = os.path.join(work, "proj")
    os.makedirs(proj)
    with open(os.path.join(proj, ".cell.json"), "w") as f:
        f.write('{"name": "bench", "network": {"allow": ["127.0.0.1:%d", "127.0.0.1:%d"]}}\n'
                % (up, xup))
    subprocess.run([cell, "allow"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
    out = os.path.join(work, "proxy.out")
    procs.append(subprocess.Popen([cell, "proxy", "--listen", "127.0.0.1:0", "--max-tunnels",
                                   "30000"], cwd=proj, env=env, stdout=open(out, "w")))
    cell_pid = procs[-1].pid
    cell_port = int(wait_for(out).split(":")[-1])

    tiny = shutil.which("tinyproxy")
    tiny_port = tiny_pid = None
    if tiny:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        tiny_port = s.getsockname()[1]
        s.close()
        conf = os.path.join(work, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write("Port %d\nListen 127.0.0.1\nMaxClients 30000\nLogLevel Critical\n"
                    "Timeout 600\n" % tiny_port)
        procs.append(subprocess.Popen([tiny, "-d", "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        tiny_pid = procs[-1].pid
        time.sleep(0.5)

    target = "http://127.0.0.1:%d/%d" % (up, SIZE)
    paths = {"direct": [], "cell forward": ["-x", "http://127.0.0.1:%d" % cell_port],
             "cell CONNECT": ["-p", "-x", "http://127.0.0.1:%d" % cell_port]}
    if tiny_port:
        paths["tinyproxy forward"] = ["-x", "http://127.0.0.1:%d" % tiny_port]
        paths["tinyproxy CONNECT"] = ["-p", "-x", "http://127.0.0.1:%d" % tiny_port]
    rates = {k: [] for k in paths}
    for _ in range(ROUNDS):
        for name, extra in paths.items():
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{speed_download}"]
                               + extra + [target], capture_output=True, text=True, check=True)
            size, speed = r.stdout.split()
            if int(size) != SIZE:
                raise SystemExit("%s: got %s bytes" % (name, size))
            rates[name].append(float(speed) / 1e6)

    def get(port, request):
        t0 = time.perf_counter_ns()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        assert data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200"), data[:80]
        return (time.perf_counter_ns() - t0) / 1e6

    small = {"direct": [], "cell forward": []}
    if tiny_port:
        small["tinyproxy forward"] = []
    req_direct = b"GET /64 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    req_proxy = ("GET http://127.0.0.1:%d/64 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
                 % (up, up)).encode()
    for _ in range(SMALL):
        small["direct"].append(get(up, req_direct))
        small["cell forward"].append(get(cell_port, req_proxy))
        if tiny_port:
            small["tinyproxy forward"].append(get(tiny_port, req_proxy))

    print("100 MB downloads (curl), %d rounds, median MB/s:" % ROUNDS)
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in med.items():
        print("  %-18s %8.0f MB/s  (%.2fx direct)" % (k, v, v / med["direct"]))
    if tiny_port:
        print("  cell/tinyproxy: forward %.2fx, CONNECT %.2fx"
              % (med["cell forward"] / med["tinyproxy forward"],
                 med["cell CONNECT"] / med["tinyproxy CONNECT"]))
    print("small requests (64 B, a new connection each), %d each, ms:" % SMALL)
    for k, v in small.items():
        q = statistics.quantiles(v, n=100)
        print("  %-18s median %.3f  p99 %.3f" % (k, statistics.median(v), q[98]))
    for k in small:
        if k != "direct":
            print("  added by %-9s median %.3f ms" % (k.split()[0], statistics.median(small[k]) - statistics.median(small["direct"])))

    # exchanges: two small writes (a 100-byte head, a 100-byte body) and a 1-byte answer, over
    # one connection with TCP_NODELAY, as database drivers, git and RPC clients talk; each
    # round one connection per path, interleaved. Client, proxies and server share one CPU:
    # on a VM, waking an idle virtual CPU costs up to a millisecond, and a path through a proxy
    # wakes one more process than a direct one, so unpinned medians measure the hypervisor.
    cpus = os.sched_getaffinity(0)
    one = {min(cpus)}

    def pin(pid, mask):
        for task in os.listdir("/proc/%d/task" % pid):
            os.sched_setaffinity(int(task), mask)

    xpaths = {"direct": None, "cell CONNECT": cell_port}
    if tiny_port:
        xpaths["tinyproxy CONNECT"] = tiny_port
    xs = {k: [] for k in xpaths}
    for p in procs:
        pin(p.pid, one)
    for _ in range(ROUNDS):
        for name, port in xpaths.items():
            argv = [exchange_bin, "run", str(xup), str(EXCHANGES)] + ([str(port)] if port else [])
            r = subprocess.run(argv, capture_output=True, text=True, check=True,
                               preexec_fn=lambda: os.sched_setaffinity(0, one))
            xs[name] += [int(line) / 1e6 for line in r.stdout.split()]
    for p in procs:
        pin(p.pid, cpus)
    print("exchanges (two small writes, a 1-byte answer; %d over one tunnel, %d rounds; one CPU),"
          " ms:" % (EXCHANGES, ROUNDS))
    for k, v in xs.items():
        q = statistics.quantiles(v, n=100)
        print("  %-18s median %.3f  p99 %.3f  max %.3f  over 10 ms: %d of %d"
              % (k, statistics.median(v), q[98], max(v), sum(x > 10 for x in v), len(v)))
    for k in xs:
        if k != "direct":
            print("  added by %-9s median %.3f ms" % (k.split()[0], statistics.median(xs[k]) - statistics.median(xs["direct"])))

    # idle tunnels: N CONNECTs open at once to a sink upstream that accepts and holds (in a
    # process of its own, so that its descriptors do not count against ours)
    sink_code = ("import signal,socket\n"
                 "s=socket.socket();s.bind(('127.0.0.1',0));s.listen(4096)\n"
                 "print(s.getsockname()[1],flush=True);held=[]\n"
                 "def reset(*_):\n"
                 " for c in held: c.close()\n"
                 " held.clear()\n"
                 "signal.signal(signal.SIGUSR1,reset)\n"
                 "while True:\n"
                 " c,_=s.accept()\n"
                 " c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,b'\\1\\0\\0\\0\\0\\0\\0\\0')\n"
                 " held.append(c)\n")
    sink = subprocess.Popen([sys.executable, "-c", sink_code], stdout=subprocess.PIPE, text=True)
    sink_port = int(sink.stdout.readline())
    with open(os.path.join(proj, ".cell.json"), "w") as f:
        f.write('{"name": "bench", "network": {"allow": ["127.0.0.1:%d", "127.0.0.1:%d"]}}\n'
                % (up, sink_port))
    subprocess.run([cell, "allow"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # the proxy reloads its policy

    def rss_kib(pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def idle_tunnels(port, pid, n, sink_port):
        before = rss_kib(pid)
        req = b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (sink_port, sink_port)
        socks, ok = [], 0
        for i in range(0, n, 500):
            batch = []
            for _ in range(min(500, n - i)):
                s = socket.socket()
                try:
                    s.connect(("127.0.0.1", port))
                    s.sendall(req)
                    batch.append(s)
                except OSError:
                    s.close()
            for s in batch:
                s.settimeout(20)
                try:
                    data = s.recv(256)
                except OSError:
                    data = b""
                ok += data.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))
            socks += batch
        time.sleep(0.5)
        after = rss_kib(pid)
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            s.close()
        return ok, (after - before) * 1024 / max(ok, 1)

    # two descriptors a tunnel in the proxy, one in this client
    limit = (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 64) // 2
    print("idle CONNECT tunnels open at once (proxy RSS growth per tunnel):")
    for want in TUNNELS:
        n = min(want, limit)
        note = "" if n == want else "  (%d asked; RLIMIT_NOFILE allows %d)" % (want, n)
        for name, port, pid in (("cell", cell_port, cell_pid), ("tinyproxy", tiny_port, tiny_pid)):
            if not port:
                continue
            ok, per = idle_tunnels(port, pid, n, sink_port)
            # the upstream side resets its end, so no TIME_WAIT piles up
            sink.send_signal(signal.SIGUSR1)
            time.sleep(1.5)
            print("  %-9s %6d tunnels: %6d ok, %6.0f B RSS per tunnel%s" % (name, n, ok, per, note))
finally:
    for p in procs:
        p.terminate()
    try:
        sink.kill()
    except NameError:
        pass
    for p in procs:
        p.wait()
    shutil.rmtree(work, ignore_errors=True)
