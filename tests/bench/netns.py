#!/usr/bin/env python3
"""make bench: a 100 MB download through the cell's proxy from inside a proxy cell, in a network
namespace of its own (network.isolation "netns": the proxy accepts on a socket made in the cell)
against the same in the host's namespace under BPF (network.isolation "bpf"), same run, rounds
interleaved, medians compared. BPF needs cell-session's privilege: as root, cells run as root
here (--allow-root); elsewhere only netns is measured.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

cell = os.path.abspath(sys.argv[1])
upstream_bin = os.path.abspath(sys.argv[2])
SIZE = 100 * 1000 * 1000
ROUNDS = int(os.environ.get("ROUNDS", "5"))

work = tempfile.mkdtemp(prefix="cell-bench-netns-")
home = os.path.join(work, "home")
os.makedirs(home)
env = {"HOME": home, "PATH": "/usr/bin:/bin", "USER": "bench",
       "XDG_DATA_HOME": home + "/.local/share", "XDG_STATE_HOME": home + "/.local/state",
       "XDG_CONFIG_HOME": home + "/.config"}
portfile = os.path.join(work, "port")
upstream = subprocess.Popen([upstream_bin, portfile])
for _ in range(100):
    if os.path.exists(portfile) and open(portfile).read().strip():
        break
    time.sleep(0.05)
port = int(open(portfile).read())
root = ["--allow-root"] if os.geteuid() == 0 else []
modes = ["netns", "bpf"] if os.geteuid() == 0 else ["netns"]
projects = {}
for mode in modes:
    proj = os.path.join(work, mode)
    os.makedirs(proj)
    with open(os.path.join(proj, ".cell.json"), "w") as f:
        f.write('{"name": "bench-%s", "network": {"mode": "proxy", "isolation": "%s", '
                '"allow": ["127.0.0.1:%d"]}}\n' % (mode, mode, port))
    subprocess.run([cell, "allow"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
    projects[mode] = proj

# (through the proxy: NO_PROXY names 127.0.0.1, which would be the cell's own loopback)
download = ("curl -s --noproxy '' -x \"$HTTP_PROXY\" -o /dev/null -w '%{time_total}' "
            "http://127.0.0.1:" + str(port) + "/" + str(SIZE))
times = {m: [] for m in modes}
for _ in range(ROUNDS):
    for m in modes:
        out = subprocess.run([cell, "run"] + root + ["--new", "--", "/bin/sh", "-c", download],
                             cwd=projects[m], env=env, check=True, capture_output=True,
                             text=True).stdout
        times[m].append(float(out))
for m in modes:
    med = statistics.median(times[m])
    print(f"100 MB through the proxy, {m:5s}: median {med * 1000:8.1f} ms "
          f"({SIZE / med / 1e6:7.0f} MB/s, {ROUNDS} runs)")
if "bpf" in times:
    ratio = statistics.median(times["netns"]) / statistics.median(times["bpf"])
    print(f"ratio netns/bpf download time: {ratio:.3f}")
upstream.terminate()
upstream.wait()
subprocess.run(["rm", "-rf", work])
