#!/usr/bin/env python3
"""make bench: cell proxy against a direct connection and against tinyproxy.

Same upstream (tests/bench/upstream.c, bytes as fast as the kernel takes them), same client
(curl for throughput, raw sockets for latency), rounds interleaved so that noise hits all
alike; medians compared. The target is 127.0.0.1 itself for every path (an address rule allows
it in cell's config), so no name lookup is measured.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

cell = os.path.abspath(sys.argv[1])
upstream_bin = os.path.abspath(sys.argv[2])
SIZE = 100 * 1000 * 1000
ROUNDS = int(os.environ.get("ROUNDS", "5"))
SMALL = int(os.environ.get("SMALL", "300"))

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
    proj = os.path.join(work, "proj")
    os.makedirs(proj)
    with open(os.path.join(proj, ".cell.json"), "w") as f:
        f.write('{"name": "bench", "network": {"allow": ["127.0.0.1:%d"]}}\n' % up)
    subprocess.run([cell, "allow"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
    out = os.path.join(work, "proxy.out")
    procs.append(subprocess.Popen([cell, "proxy", "--listen", "127.0.0.1:0"], cwd=proj, env=env,
                                  stdout=open(out, "w")))
    cell_port = int(wait_for(out).split(":")[-1])

    tiny = shutil.which("tinyproxy")
    tiny_port = None
    if tiny:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        tiny_port = s.getsockname()[1]
        s.close()
        conf = os.path.join(work, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write("Port %d\nListen 127.0.0.1\nMaxClients 1000\nConnectPort %d\nLogLevel Critical\n"
                    "Timeout 60\n" % (tiny_port, up))
        procs.append(subprocess.Popen([tiny, "-d", "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
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
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    shutil.rmtree(work, ignore_errors=True)
