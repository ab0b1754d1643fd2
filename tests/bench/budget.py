#!/usr/bin/env python3
"""make bench: what a network.budget costs the proxy (docs/accounting.md).

One TLS upstream (openssl s_server -WWW), reached by curl through CONNECT tunnels of three
proxies of three projects: no budget; a budget of every kind (out, in, per host both ways,
connections: none of them reached); and the same budget over a ledger of 20000 records of the
day (the meter reads them at start, and tallies the hosts of each). Rounds interleaved; medians
compared in the same run.
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
RECORDS = 20000

work = tempfile.mkdtemp(prefix="cell-budget-bench-")
env = dict(os.environ, HOME=work, XDG_STATE_HOME=work + "/state", XDG_DATA_HOME=work + "/data",
           XDG_CONFIG_HOME=work + "/config")
procs = []
BUDGET = ('"budget": {"out": "1T/day", "in": "1T/day", "per_host_out": "1T/hour", '
          '"per_host_in": "1T/hour", "connections": "1000000/minute"}')


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, cwd=work, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proxy_for(name, budget, records):
    proj = os.path.join(work, name)
    os.makedirs(proj)
    with open(os.path.join(proj, ".cell.json"), "w") as f:
        f.write('{"name": "%s", "network": {"allow": ["bench.test:%d"], "resolve": '
                '{"bench.test": "127.0.0.1"}%s}}\n' % (name, up, ", " + budget if budget else ""))
    subprocess.run([cell, "allow"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
    if records:
        pid = subprocess.run([cell, "stats", "--json"], cwd=proj, env=env, check=True,
                             capture_output=True, text=True).stdout.split('"project":"')[1]
        pid = pid.split('"')[0]
        led = os.path.join(work, "state/cell/projects", pid, "ledger.jsonl")
        os.makedirs(os.path.dirname(led), exist_ok=True)
        now = int(time.time())
        with open(led, "w") as f:
            for i in range(records):
                end = now - (records - i) // 10
                f.write('{"v":1,"kind":"proxy","project":"%s","name":"%s","start":%d,"end":%d,'
                        '"writer":"proxy-old","hosts":{"h%d.bench.test":{"requests":1,'
                        '"tunnels":0,"up":100,"down":1000,"denied":0},"bench.test":{'
                        '"requests":1,"tunnels":1,"up":10,"down":10,"denied":0}}}\n'
                        % (pid, name, end - 10, end, i % 300))
    out = os.path.join(work, name + ".out")
    started = time.monotonic()
    procs.append(subprocess.Popen([cell, "proxy", "--listen", "127.0.0.1:0"], cwd=proj, env=env,
                                  stdout=open(out, "w")))
    for _ in range(400):
        if open(out).read().strip():
            break
        time.sleep(0.01)
    return "http://127.0.0.1:%d" % int(open(out).read().split(":")[-1]), time.monotonic() - started


try:
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
       "-subj /CN=bench.test -addext subjectAltName=DNS:bench.test -keyout leaf.key "
       "-out leaf.pem")
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
    proxies = {}
    starts = {}
    for name, budget, records in (("none", None, 0), ("budget", BUDGET, 0),
                                  ("budget+ledger", BUDGET, RECORDS)):
        proxies[name], starts[name] = proxy_for(name.replace("+", "-"), budget, records)
    rates = {k: [] for k in proxies}
    small = {k: [] for k in proxies}
    for _ in range(ROUNDS):
        for name, proxy in proxies.items():
            r = subprocess.run(["curl", "-sS", "-k", "-o", "/dev/null", "-w",
                                "%{size_download} %{speed_download}", "-x", proxy,
                                "https://bench.test:%d/big" % up],
                               capture_output=True, text=True, check=True)
            size, speed = r.stdout.split()
            if int(size) != SIZE:
                raise SystemExit("%s: got %s bytes" % (name, size))
            rates[name].append(float(speed) / 1e6)
    for _ in range(SMALL):
        for name, proxy in proxies.items():
            r = subprocess.run(["curl", "-sS", "-k", "-o", "/dev/null", "-w", "%{time_total}",
                                "-x", proxy, "https://bench.test:%d/small" % up],
                               capture_output=True, text=True, check=True)
            small[name].append(float(r.stdout) * 1000)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print("budget: 100 MB through a CONNECT tunnel (curl), %d rounds, median MB/s:" % ROUNDS)
    for k, v in med.items():
        print("  %-14s %8.0f MB/s  (%.2fx no budget)" % (k, v, v / med["none"]))
    print("budget: small requests (64 B, a new tunnel each), %d each, median ms:" % SMALL)
    for k, v in small.items():
        print("  %-14s %.3f" % (k, statistics.median(v)))
    print("budget: proxy start to listening, with %d records of the day in the ledger: "
          "%.0f ms (no budget: %.0f ms)" % (RECORDS, starts["budget+ledger"] * 1000,
                                            starts["none"] * 1000))
finally:
    for p in procs:
        p.kill()
        p.wait()
    subprocess.run(["rm", "-rf", work])
