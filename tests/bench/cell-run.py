#!/usr/bin/env python3
"""make bench: `cell run -- true` against bare bwrap with the same argv.

Also a proxy cell in a network namespace of its own (network.isolation "netns": the proxy's
socket made in the cell by cell-init before the command runs) against the same baseline, new
and joining its open session.

All are interleaved (one of each per round) so that machine noise hits them alike, and the
median of each is compared: a new cell (`cell run --new`), bare bwrap, a launcher that only
starts bwrap (the floor of any), and `cell run` joining the project's open session (a command
of the project holds it open meanwhile). The baseline is the exact argv cell runs (from
`cell -v`), with the same seccomp program on fd 3, an info pipe on fd 4 and cell-init's ready
pipe on fd 5: the difference is cell's own work (starting up, config, trust, plan, seccomp
compile, fd plumbing, waiting and forwarding).
"""
import os
import pwd
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("ROUNDS", "200"))
cell = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/cell")
# a launcher that only starts bwrap and waits (tests/bench/wrap.c): the floor of any program
# between the caller and bwrap, measured in the same run
wrap = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "build/bench-wrap")

if os.geteuid() == 0:
    # a cell never runs as root; the bench runs as the test user, like the escape suite
    pw = pwd.getpwnam("celltest")
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)

work = tempfile.mkdtemp(prefix="cell-bench-")
home = os.path.join(work, "home")
proj = os.path.join(work, "proj")
os.makedirs(home)
os.makedirs(proj)
with open(os.path.join(proj, ".cell.json"), "w") as f:
    f.write('{"name": "bench", "network": {"mode": "none"}}\n')
env = {"HOME": home, "PATH": "/usr/bin:/bin", "USER": pwd.getpwuid(os.getuid()).pw_name,
       "XDG_DATA_HOME": home + "/.local/share", "XDG_STATE_HOME": home + "/.local/state",
       "XDG_CONFIG_HOME": home + "/.config"}
subprocess.run([cell, "allow"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)
netns = os.path.join(work, "netns")
os.makedirs(netns)
with open(os.path.join(netns, ".cell.json"), "w") as f:
    f.write('{"name": "bench-netns", "network": {"mode": "proxy", "isolation": "netns"}}\n')
subprocess.run([cell, "allow"], cwd=netns, env=env, check=True, stdout=subprocess.DEVNULL)

log = subprocess.run([cell, "-v", "run", "--new", "--", "true"], cwd=proj, env=env, check=True,
                     stderr=subprocess.PIPE, text=True).stderr
argv = [shlex.split(line.split("] ", 1)[1])[0]
        for line in log.splitlines() if line.startswith("cell: argv[")]
# the same argv: bwrap gets the same seccomp program (written by cell explain) on fd 3 and an
# info pipe on fd 4, as under cell
bpf = os.path.join(work, "filter.bpf")
subprocess.run([cell, "explain", "--write-seccomp", bpf], cwd=proj, env=env, check=True,
               stdout=subprocess.DEVNULL)


# fds 3 and 4 are set up here, in the parent, and handed down as they are (subprocess uses
# low fds of its own in the child, so they cannot be moved there)
os.dup2(os.open(bpf, os.O_RDONLY), 3)
os.dup2(os.open(os.devnull, os.O_WRONLY), 4)
os.dup2(os.open(os.devnull, os.O_WRONLY), 5)
# cell hands bwrap the cell's environment in --args (its fd is the one after the files'); the
# baseline gets an --args of its own there that clears the environment
args_fd = int(argv[argv.index("--args") + 1])
args = os.path.join(work, "args")
with open(args, "wb") as f:
    f.write(b"--clearenv\0--setenv\0PATH\0/usr/bin:/bin\0")
os.dup2(os.open(args, os.O_RDONLY), args_fd)


def bare_bwrap():
    os.lseek(3, 0, os.SEEK_SET)  # bwrap reads the program to its end
    os.lseek(args_fd, 0, os.SEEK_SET)




def hold(where):
    """The project's session, held open by a command of its own while the bench joins it."""
    holder = subprocess.Popen([cell, "run", "--", "sleep", "3600"], cwd=where, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        st = subprocess.run([cell, "status", "--json"], cwd=where, env=env,
                            capture_output=True, text=True).stdout
        if '"members":[{' in st:
            return holder
        time.sleep(0.05)
    sys.exit(f"the holder's session in {where} did not open")


holders = [hold(proj), hold(netns)]

commands = {"cell run --new -- true": ([cell, "run", "--new", "--", "true"], None),
            "bwrap (same argv)": (argv, bare_bwrap),
            "launcher + bwrap": ([wrap] + argv, bare_bwrap),
            "cell run -- true (join)": ([cell, "run", "--", "true"], None),
            "netns proxy cell --new": ([cell, "run", "--new", "--", "true"], None),
            "netns cell run -- true (join)": ([cell, "run", "--", "true"], None)}
where = {"netns proxy cell --new": netns, "netns cell run -- true (join)": netns}
for name, (c, pre) in commands.items():
    if pre:
        pre()
    subprocess.run(c, cwd=where.get(name, proj), env=env, check=True, stderr=subprocess.DEVNULL,
                   pass_fds=(3, 4, 5, args_fd) if pre else ())

times = {k: [] for k in commands}
for _ in range(ROUNDS):
    for name, (c, pre) in commands.items():
        if pre:
            pre()
        t0 = time.perf_counter_ns()
        subprocess.run(c, cwd=where.get(name, proj), env=env, check=True,
                       stderr=subprocess.DEVNULL,
                       pass_fds=(3, 4, 5, args_fd) if pre else ())
        times[name].append((time.perf_counter_ns() - t0) / 1e6)

med = {k: statistics.median(v) for k, v in times.items()}
for k, v in times.items():
    q = statistics.quantiles(v, n=10)
    print(f"{k:30s} median {med[k]:7.3f} ms   p10 {q[0]:7.3f}   p90 {q[-1]:7.3f}   ({ROUNDS} runs)")
ratio = med["cell run --new -- true"] / med["bwrap (same argv)"]
print(f"ratio cell/bwrap: {ratio:.3f} (target <= 1.3); cell's own cost: "
      f"{med['cell run --new -- true'] - med['bwrap (same argv)']:.3f} ms per cell")
join = med["cell run -- true (join)"] / med["bwrap (same argv)"]
print(f"ratio joining the open session/bwrap: {join:.3f} (target <= 0.5)")
ns = med["netns proxy cell --new"] / med["bwrap (same argv)"]
print(f"ratio netns proxy cell/bwrap: {ns:.3f} (target <= 1.3)")
floor = med["launcher + bwrap"] / med["bwrap (same argv)"]
print(f"floor: a launcher that does nothing but start bwrap and wait: {floor:.3f}; cell's own "
      f"work beyond it: {med['cell run --new -- true'] - med['launcher + bwrap']:.3f} ms "
      f"(new cell), {med['netns proxy cell --new'] - med['launcher + bwrap']:.3f} ms (netns)")
nsjoin = med["netns cell run -- true (join)"] / med["bwrap (same argv)"]
print(f"ratio joining the netns proxy cell's open session/bwrap: {nsjoin:.3f}")
for holder in holders:
    holder.terminate()
    holder.wait()
subprocess.run(["rm", "-rf", work])
