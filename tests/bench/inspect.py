#!/usr/bin/env python3
"""make bench: what inspecting a host costs (docs/inspect.md).

One TLS upstream (openssl s_server -WWW, a certificate from a CA made here), reached three
ways by curl: directly, through cell's proxy as a blind CONNECT tunnel, and through cell's proxy
inspected (the proxy ends the client's TLS with a certificate from the user's cell CA and makes
TLS of its own to the upstream). Rounds interleaved; medians compared in the same run.
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

cell = os.path.abspath(sys.argv[1])
SIZE = 100 * 1000 * 1000
ROUNDS = int(os.environ.get("ROUNDS", "5"))
SMALL = int(os.environ.get("SMALL", "100"))

work = tempfile.mkdtemp(prefix="cell-inspect-bench-")
env = dict(os.environ, HOME=work, XDG_STATE_HOME=work + "/state", XDG_DATA_HOME=work + "/data",
           XDG_CONFIG_HOME=work + "/config", SSL_CERT_FILE=work + "/ca.pem")
procs = []


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, cwd=work, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


try:
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
       "-subj /CN=bench-ca -keyout ca.key -out ca.pem")
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.test "
       "-keyout leaf.key -out leaf.csr")
    sh("printf 'subjectAltName=DNS:bench.test,DNS:blind.test\\n' > ext && openssl x509 -req "
       "-in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out leaf.pem")
    www = os.path.join(work, "www")
    os.makedirs(www)
    with open(os.path.join(www, "big"), "wb") as f:
        f.truncate(SIZE)
    with open(os.path.join(www, "small"), "wb") as f:
        f.write(b"x" * 64)
    up = free_port()
    procs.append(subprocess.Popen(["openssl", "s_server", "-quiet", "-WWW", "-accept", str(up),
                                   "-cert", work + "/leaf.pem", "-key", work + "/leaf.key"],
                                  cwd=www, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    proj = os.path.join(work, "proj")
    os.makedirs(proj)
    with open(os.path.join(proj, ".cell.json"), "w") as f:
        f.write('{"name": "bench", "network": {"allow": ["blind.test:%d", {"host": '
                '"bench.test:%d", "inspect": true}], "resolve": {"bench.test": "127.0.0.1", '
                '"blind.test": "127.0.0.1"}}}\n' % (up, up))
    subprocess.run([cell, "allow"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
    # (cell explain plans a cell: the CA is made)
    subprocess.run([cell, "explain"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
    out = os.path.join(work, "proxy.out")
    procs.append(subprocess.Popen([cell, "proxy", "--listen", "127.0.0.1:0"], cwd=proj, env=env,
                                  stdout=open(out, "w")))
    for _ in range(200):
        if open(out).read().strip():
            break
        time.sleep(0.05)
    proxy = "http://127.0.0.1:%d" % int(open(out).read().split(":")[-1])
    cell_ca = work + "/data/cell/ca/ca.crt"
    paths = {
        "direct": ["--cacert", work + "/ca.pem", "--resolve", "bench.test:%d:127.0.0.1" % up,
                   "https://bench.test:%d" % up],
        "cell blind tunnel": ["--cacert", work + "/ca.pem", "-x", proxy,
                              "https://blind.test:%d" % up],
        "cell inspected": ["--cacert", cell_ca, "-x", proxy, "https://bench.test:%d" % up],
    }
    rates = {k: [] for k in paths}
    small = {k: [] for k in paths}
    for _ in range(ROUNDS):
        for name, args in paths.items():
            r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w",
                                "%{size_download} %{speed_download}"] + args[:-1] +
                               [args[-1] + "/big"], capture_output=True, text=True, check=True)
            size, speed = r.stdout.split()
            if int(size) != SIZE:
                raise SystemExit("%s: got %s bytes" % (name, size))
            rates[name].append(float(speed) / 1e6)
    for _ in range(SMALL):
        for name, args in paths.items():
            r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}"] +
                               args[:-1] + [args[-1] + "/small"], capture_output=True, text=True,
                               check=True)
            small[name].append(float(r.stdout) * 1000)
    print("inspection: 100 MB over TLS (curl), %d rounds, median MB/s:" % ROUNDS)
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in med.items():
        print("  %-18s %8.0f MB/s  (%.2fx direct)" % (k, v, v / med["direct"]))
    print("  inspected/blind: %.2fx" % (med["cell inspected"] / med["cell blind tunnel"]))
    print("inspection: small requests (64 B, a new TLS connection each), %d each, ms:" % SMALL)
    for k, v in small.items():
        print("  %-18s median %.3f" % (k, statistics.median(v)))
    print("  added by inspection over a blind tunnel: median %.3f ms a request" %
          (statistics.median(small["cell inspected"]) - statistics.median(small["cell blind tunnel"])))
finally:
    for p in procs:
        p.kill()
        p.wait()
    subprocess.run(["rm", "-rf", work])
