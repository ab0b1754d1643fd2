#!/usr/bin/env python3
"""make bench: what network mode "proxy" costs: its BPF programs, and its start.

1. Per connection: tests/bench/connect.c makes N loopback TCP connections to a listener of its
   own (a port a cell may reach because it bound it) in a proxy-mode cell, where every hook of
   bpf/cell.bpf.c runs with the real policy and counters, and as the same user in a plain
   cgroup with no programs. Also as bare bwrap with the cell's argv in that plain cgroup: the
   cell's seccomp program and namespaces but no BPF, so that cell minus bwrap is the hooks.
   And in a cgroup below the plain one with the same hooks running programs that do nothing
   (tests/bench/empty.bpf.c): the kernel's own cost of running programs on those hooks.
2. Loopback throughput (the cgroup_skb counters): the same program streams BYTES over one
   connection, in the same three places.
3. `cell run -- true` in proxy mode against bare bwrap with the argv cell-session gets (no
   cgroup, no proxy); cell-session with that argv, and the cell's proxy from spawn to
   "listening" and from SIGTERM to exit, measured on their own (a cell starts its proxy at
   its first connection to it, so `true` runs none), and /bin/true: what running one more
   program costs here (cell and cell-session are two more than bare bwrap).
4. the LD_PRELOAD shim: `true` and `python3 -c pass` started with and without it
   in a proxy cell, and a loopback connect() with and without it (it passes those through).

Rounds are interleaved (one of each per round) so that noise hits all alike; medians compared.
Then, once the numbers are taken, where the time goes: kernel.bpf_stats_enabled for one cell's
connections (each program's runs and ns), and `strace -T` of a few `cell run -- true` for the
system calls that take a millisecond or more.

Needs root: cell-session is installed setuid root into a temporary prefix (as
tests/integration/test-session.c does), and the cells run as the test user "celltest", moved
first into a cgroup of its own right below the cgroup2 root. Prints "SKIP: why" and exits 0
where root, the test user, cgroup2 or BPF is missing.
"""
import fcntl
import glob
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

ROUNDS = int(os.environ.get("ROUNDS", "21"))  # of connect and of stream, in each place
CONNECTS = int(os.environ.get("CONNECTS", "20000"))  # a run
STREAM = int(os.environ.get("STREAM_MIB", "256")) << 20  # bytes a run
START_ROUNDS = int(os.environ.get("START_ROUNDS", "100"))
TRACES = int(os.environ.get("TRACES", "5"))  # cell runs under strace
USER = "celltest"
EMPTY_CGROUP = None  # below the plain cgroup, with tests/bench/empty.bpf.c attached
SKIPPED = 3  # the measuring child's exit code when it printed SKIP


def skip(why, code=0):
    print("SKIP: " + why, flush=True)
    sys.exit(code)


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    return None


def suid_capable_dir(build):
    """A directory for the temporary prefix on a mount that honours setuid."""
    for d in (os.environ.get("TMPDIR"), "/tmp", "/var/tmp", build):
        if d and os.path.isdir(d) and not os.statvfs(d).f_flag & os.ST_NOSUID:
            return d
    return None


def install(src, dst, mode):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    os.chown(dst, 0, 0)
    os.chmod(dst, mode)


def run(argv, cwd, env, fds=(), out=False, **kw):
    """Runs argv to its end; its stdout if out. A failure ends the bench with its stderr."""
    r = subprocess.run(argv, cwd=cwd, env=env, pass_fds=fds, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if out else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("%s: exit %d: %s" % (shlex.join(argv[:4]), r.returncode,
                                             r.stderr.strip()[-600:]))
    return r.stdout


def timed(argv, cwd, env, fds=(), before=None):
    if before:
        before()
    t0 = time.perf_counter_ns()
    run(argv, cwd, env, fds)
    return (time.perf_counter_ns() - t0) / 1e6


def place_fds(sources):
    """Puts the descriptors at 3, 4, ... in order, inheritable; closes the originals."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in sources]
    for fd in sources:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)
        os.close(fd)


def session_argv(log):
    """The argv `cell -v run` handed to cell-session, and the bwrap argv in it (after "--")."""
    argv = [shlex.split(line.split("] ", 1)[1])[0]
            for line in log.splitlines() if line.startswith("cell: argv[")]
    if "--" not in argv or not argv[0].endswith("cell-session"):
        raise SystemExit("cannot find cell-session's argv in `cell -v run`:\n" + log)
    return argv, argv[argv.index("--") + 1:]


def env_args(env0):
    """bwrap --args for the environment a cell sees (`env -0` in one), as cell builds it."""
    out = ["--clearenv"]
    for kv in env0.split("\0"):
        if "=" in kv:
            name, value = kv.split("=", 1)
            out += ["--setenv", name, value]
    return "\0".join(out) + "\0"


def med(v):
    return statistics.median(v) if v else 0.0


def measure(cell, proj, env, tmp):
    """Runs as the test user, in the plain cgroup: sections 1 to 4."""
    run([cell, "allow"], proj, env)
    probe = subprocess.run([cell, "-v", "run", "--", "true"], cwd=proj, env=env,
                           stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if probe.returncode != 0:
        lines = [l for l in probe.stderr.splitlines() if not l.startswith("cell: argv[")]
        skip("no proxy-mode cell here: " + (lines[-1] if lines else "exit %d" % probe.returncode),
             SKIPPED)
    sess, bwrap = session_argv(probe.stderr)
    # files that cell makes for each cell and removes after it (the cell's notices): made again
    # for the argv's reuse
    for i, a in enumerate(bwrap[:-2]):
        if a in ("--ro-bind", "--bind") and not os.path.exists(bwrap[i + 1]) and \
                os.path.basename(bwrap[i + 1]).startswith("notices-"):
            open(bwrap[i + 1], "w").close()
    # the descriptors cell-session's child has: 3 seccomp, 4 info, 5 cell-init's ready pipe,
    # 6 the environment's --args, 7 cell-session's status pipe
    filt = os.path.join(tmp, "filter.bpf")
    run([cell, "explain", "--write-seccomp", filt], proj, env)
    envfile = os.path.join(tmp, "env.args")
    with open(envfile, "w") as f:
        f.write(env_args(run([cell, "run", "--", "/usr/bin/env", "-0"], proj, env, out=True)))
    status_r, status_w = os.pipe()
    status_r = fcntl.fcntl(status_r, fcntl.F_DUPFD_CLOEXEC, 100)  # clear of 3 to 7
    place_fds([os.open(filt, os.O_RDONLY | os.O_CLOEXEC),
               os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC),
               os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC),
               os.open(envfile, os.O_RDONLY | os.O_CLOEXEC), status_w])
    os.set_blocking(status_r, False)
    fds = (3, 4, 5, 6, 7)

    def rewind():
        # bwrap reads the seccomp program and --args to their ends; cell-session writes lines
        os.lseek(3, 0, os.SEEK_SET)
        os.lseek(6, 0, os.SEEK_SET)
        try:
            while os.read(status_r, 65536):
                pass
        except BlockingIOError:
            pass

    workload = os.path.join(proj, "bench-connect")

    def in_plain_cgroup(args):
        return run([workload] + args, proj, env, out=True)

    def in_bwrap(args):
        rewind()
        return run(bwrap[:-1] + [workload] + args, proj, env, fds, out=True)  # not "true"

    def in_cell(args):
        return run([cell, "run", "--", workload] + args, proj, env, out=True)

    def in_empty(args):
        # the shell moves itself into the cgroup, then becomes the workload
        return run(["/bin/sh", "-c", 'echo 0 > "$0/cgroup.procs" && exec "$@"', EMPTY_CGROUP,
                    workload] + args, proj, env, out=True)

    places = {"plain cgroup": in_plain_cgroup, "bwrap, plain cgroup": in_bwrap,
              "cell (BPF)": in_cell}
    if EMPTY_CGROUP:
        places["empty programs"] = in_empty
    conn, conn_only, rate = ({k: [] for k in places} for _ in range(3))
    for i in range(ROUNDS + 1):  # the first round warms up and is not counted
        for name, go in places.items():
            c = go(["connect", str(CONNECTS)]).split()
            s = go(["stream", str(STREAM)]).split()
            if c[0] != "connect" or s[0] != "stream":
                raise SystemExit("bench-connect said: %s / %s" % (c, s))
            if i:
                conn[name].append(float(c[1]))
                conn_only[name].append(float(c[2]))
                rate[name].append(float(s[1]))

    print("1. BPF hooks per connection: a proxy-mode cell against the same user in a plain "
          "cgroup (no programs); %d rounds of %d loopback connections (socket, connect, accept, "
          "close), medians:" % (ROUNDS, CONNECTS))
    for k in places:
        print("    %-20s %7.0f ns a connection   connect() alone %6.0f ns"
              % (k, med(conn[k]), med(conn_only[k])))
    c, p, b = (med(conn[k]) for k in ("cell (BPF)", "plain cgroup", "bwrap, plain cgroup"))
    co, po, bo = (med(conn_only[k]) for k in ("cell (BPF)", "plain cgroup",
                                              "bwrap, plain cgroup"))
    print("    cell - plain cgroup: %+.0f ns a connection (target <= +150), ratio %.3f; "
          "connect() alone %+.0f ns" % (c - p, c / p, co - po))
    print("    cell - bwrap:        %+.0f ns a connection, the BPF hooks alone (seccomp and "
          "namespaces are in both); connect() alone %+.0f ns" % (c - b, co - bo))
    if "empty programs" in places:
        e, eo = med(conn["empty programs"]), med(conn_only["empty programs"])
        print("    empty programs - plain cgroup: %+.0f ns a connection, connect() alone %+.0f "
              "ns: the kernel's part, before a program does anything" % (e - p, eo - po))
        print("    cell - bwrap - that: %+.0f ns a connection, connect() alone %+.0f ns: what "
              "cell's programs do" % (c - b - (e - p), co - bo - (eo - po)))
    print("2. loopback throughput, %d rounds of %d MiB over one connection, medians:"
          % (ROUNDS, STREAM >> 20))
    for k in places:
        print("    %-20s %7.0f MB/s" % (k, med(rate[k])))
    print("    ratio cell/plain cgroup %.3f (target >= 0.98); cell/bwrap %.3f"
          % (med(rate["cell (BPF)"]) / med(rate["plain cgroup"]),
             med(rate["cell (BPF)"]) / med(rate["bwrap, plain cgroup"])), flush=True)

    # cell-session on its own, with the bwrap argv; no proxy (true connects nowhere)
    sess = sess[:sess.index("--") + 1] + bwrap
    if "--proxy-fd" in sess:  # the cell's socket, which this process has not got
        i = sess.index("--proxy-fd")
        del sess[i:i + 2]
    sess[sess.index("--id") + 1] = "bench-%d" % os.getpid()

    def proxy_start_stop():
        t0 = time.perf_counter_ns()
        px = subprocess.Popen([cell, "proxy", "-C", proj], cwd=proj, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        line = px.stdout.readline()
        t1 = time.perf_counter_ns()
        px.send_signal(signal.SIGTERM)
        px.wait()
        t2 = time.perf_counter_ns()
        px.stdout.close()
        if not line.startswith("listening on"):
            raise SystemExit("cell proxy said: %r" % line)
        return (t1 - t0) / 1e6, (t2 - t1) / 1e6

    times = {"cell run -- true": [], "bwrap (same argv)": [], "cell-session + bwrap": [],
             "proxy start": [], "proxy stop": [], "/bin/true": []}
    for i in range(START_ROUNDS + 1):
        a = timed([cell, "run", "--", "true"], proj, env)
        b = timed(bwrap, proj, env, fds, rewind)
        s = timed(sess, proj, env, fds, rewind)
        ps, pt = proxy_start_stop()
        t = timed(["/bin/true"], proj, env)
        if i:
            for k, v in zip(times, (a, b, s, ps, pt, t)):
                times[k].append(v)
    m = {k: med(v) for k, v in times.items()}
    print("3. cell run -- true in proxy mode against bare bwrap with the same argv; %d rounds, ms:"
          % START_ROUNDS)
    for k, v in times.items():
        q = statistics.quantiles(v, n=10)
        print("    %-22s median %7.3f   p10 %7.3f   p90 %7.3f" % (k, m[k], q[0], q[-1]))
    more = m["cell run -- true"] - m["bwrap (same argv)"]
    session = m["cell-session + bwrap"] - m["bwrap (same argv)"]
    print("    ratio cell/bwrap %.2f (target <= 1.3); %.1f ms more a cell, of which"
          % (m["cell run -- true"] / m["bwrap (same argv)"], more))
    print("      cell-session (exec, BPF check, cgroup, policy, ring, close) %6.1f ms" % session)
    print("      cell's own (exec, config, trust, seccomp, plan, records)    %6.1f ms"
          % (more - session))
    print("    two programs more than bare bwrap, at %.1f ms a program here (/bin/true): "
          "the ratio with cell's work free would be %.2f"
          % (m["/bin/true"], (m["bwrap (same argv)"] + 2 * m["/bin/true"])
             / m["bwrap (same argv)"]))
    print("    the proxy starts at a cell's first connection to it (`true` makes none); on its "
          "own it takes %.1f ms to listen and %.1f ms to stop" % (m["proxy start"],
                                                                  m["proxy stop"]), flush=True)
    shim_costs(cell, proj, env, workload)
    return 0


SHIM_INNER = r"""
import os, statistics, subprocess, sys, time
rounds, connects, workload = int(sys.argv[1]), sys.argv[2], sys.argv[3]
env = dict(os.environ)
bare = dict(env, LD_PRELOAD="")
def timed(argv, e):
    t0 = time.perf_counter_ns()
    subprocess.run(argv, env=e, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter_ns() - t0) / 1e6
out = {}
for name, argv in (("true", ["/bin/true"]), ("python3 -c pass", [sys.executable, "-c", "pass"])):
    w, wo = [], []
    for _ in range(rounds):
        w.append(timed(argv, env))
        wo.append(timed(argv, bare))
    out[name] = (statistics.median(w), statistics.median(wo))
w, wo = [], []
for _ in range(max(3, rounds // 20)):
    for e, acc in ((env, w), (bare, wo)):
        r = subprocess.run([workload, "connect", connects], env=e, check=True,
                           capture_output=True, text=True).stdout.split()
        acc.append(float(r[2]))
out["loopback connect() (ns)"] = (statistics.median(w), statistics.median(wo))
for k, (a, b) in out.items():
    print("%s %.4f %.4f" % (k.replace(" ", "_"), a, b))
"""


def shim_costs(cell, proj, env, workload):
    """4. The shim in a proxy cell: a program's start and a pass-through (loopback) connect,
    with it and without it (LD_PRELOAD emptied), in the same cell."""
    inner = os.path.join(proj, "shim-bench.py")
    with open(inner, "w") as f:
        f.write(SHIM_INNER)
    rounds = max(20, START_ROUNDS * 2)
    out = run([cell, "run", "--", "python3", inner, str(rounds), str(CONNECTS), workload], proj,
              env, out=True)
    print("4. the LD_PRELOAD shim in a proxy cell, with it and without it (LD_PRELOAD emptied), "
          "medians of %d runs each, interleaved:" % rounds)
    for line in out.splitlines():
        name, a, b = line.split()
        a, b = float(a), float(b)
        name = name.replace("_", " ")
        if "ns" in name:
            print("    %-26s %8.0f with, %8.0f without: %+.0f ns a connect (pass-through)"
                  % (name, a, b, a - b))
        else:
            print("    %-26s %8.3f ms with, %8.3f ms without: %+.3f ms an exec (target <= +0.2)"
                  % (name, a, b, a - b))
    sys.stdout.flush()


def attached(slice_dir):
    """The ids of the programs attached to cell.slice."""
    r = subprocess.run(["bpftool", "-j", "cgroup", "show", slice_dir], capture_output=True,
                       text=True)
    try:
        return sorted(p["id"] for p in json.loads(r.stdout or "[]"))
    except ValueError:
        return []


def hook_costs(cell, proj, env, as_user, slice_dir):
    """Each program's runs and ns in one cell's connections, from kernel.bpf_stats_enabled."""
    ids = set(attached(slice_dir))
    if not ids:
        return

    def stats():
        r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
        return {p["id"]: p for p in json.loads(r.stdout or "[]") if p["id"] in ids}

    knob = "/proc/sys/kernel/bpf_stats_enabled"
    with open(knob) as f:
        was = f.read().strip()
    before = stats()
    try:
        with open(knob, "w") as f:
            f.write("1")
        run([cell, "run", "--", os.path.join(proj, "bench-connect"), "connect", str(CONNECTS)],
            proj, env, **as_user)
    finally:
        with open(knob, "w") as f:
            f.write(was)
    after = stats()
    runs = {}
    for pid, p in after.items():
        o = before.get(pid, {})
        runs[p["name"]] = (p.get("run_cnt", 0) - o.get("run_cnt", 0),
                           p.get("run_time_ns", 0) - o.get("run_time_ns", 0))
    # one connect4 a connection (the workload's warm-up ones included)
    conns = runs.get("cell_connect4", (0, 0))[0]
    if not conns:
        return
    print("where the time goes, 1: each program in one cell's run of connections "
          "(kernel.bpf_stats_enabled; the clock reads it adds to each run included):")
    total = 0.0
    for name, (n, ns) in sorted(runs.items()):
        if n >= conns / 100:  # not the listener's one bind
            total += ns / conns
            print("    %-18s %5.2f runs of %4.0f ns: %5.0f ns a connection"
                  % (name, n / conns, ns / n, ns / conns))
    print("    %-18s %30.0f ns a connection" % ("all", total))


SYSCALL = re.compile(r'^(\w+)\((.*)\) += (\S+).*<([0-9.]+)>$')


def slow_calls(path_base):
    """From one `strace -ff -T -y` run: {label: seconds} of calls of 0.5 ms or more."""
    prog, parent, found = {}, {}, {}
    files = {int(f.rsplit(".", 1)[1]): f for f in glob.glob(path_base + ".*")}
    calls = {}
    for pid, f in files.items():
        with open(f) as fh:
            calls[pid] = [m.groups() for m in map(SYSCALL.match, fh) if m]
        for name, args, ret, _ in calls[pid]:
            if name in ("clone", "clone3", "fork", "vfork") and ret.split("<")[0].isdigit():
                parent[int(ret.split("<")[0])] = pid
            if name == "execve" and pid not in prog and ret == "0":
                # "cell" runs as the command and as the proxy: "cell run", "cell proxy"
                argv = re.findall(r'"((?:[^"\\]|\\.)*)"', args)
                exe = os.path.basename(argv[0])
                prog[pid] = exe + (" " + argv[2] if exe == "cell" and len(argv) > 2 else "")
    for pid, lines in calls.items():
        maps, execd = {}, False
        for name, args, ret, secs in lines:
            execd = execd or (name == "execve" and ret == "0")
            who = prog.get(pid) if execd else prog.get(parent.get(pid), "?")
            if name == "bpf" and args.startswith("BPF_OBJ_GET,"):
                maps[ret.split("<")[0]] = os.path.basename(args.split('"')[1])
            if float(secs) < 0.0005 or name not in ("bpf", "write", "close", "clock_nanosleep",
                                                     "nanosleep", "restart_syscall", "mkdir",
                                                     "rmdir"):
                continue
            if name == "bpf":
                fd = re.search(r"map_fd=(\d+)", args)
                what = "bpf(%s) %s" % (args.split(",")[0].replace("BPF_", ""),
                                       maps.get(fd.group(1), "") if fd else "")
            elif name in ("write", "close"):
                path = re.search(r"^\d+<([^>]*)>", args)
                what = "%s(%s)" % (name, os.path.basename(path.group(1)) if path else "?")
            else:
                # a sleep a signal interrupted goes on as restart_syscall
                what = "sleep" if "sleep" in name or name == "restart_syscall" else name
            key = "%s: %s" % (who, what.strip())
            found[key] = found.get(key, 0.0) + float(secs)
    return found


def slow_syscalls(cell, proj, env, tmp):
    """`cell run -- true` under strace: what its processes wait for in the kernel."""
    runs = []
    for i in range(TRACES):
        base = os.path.join(tmp, "trace%d" % i)
        subprocess.run(["strace", "-f", "-ff", "-T", "-y", "-u", USER, "-o", base, "-e",
                        "trace=execve,clone,clone3,vfork,bpf,write,close,clock_nanosleep,"
                        "nanosleep,restart_syscall,mkdir,rmdir", cell, "run", "--", "true"], cwd=proj, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        runs.append(slow_calls(base))
        for f in glob.glob(base + ".*"):
            os.unlink(f)
    keys = {k for r in runs for k in r}
    rows = sorted(((med([r.get(k, 0.0) for r in runs]) * 1e3, k) for k in keys), reverse=True)
    print("where the time goes, 3: system calls of 0.5 ms or more in `cell run -- true` "
          "(strace -T, median of %d runs, ms):" % TRACES)
    for ms, k in rows:
        if ms >= 0.5:
            print("    %6.1f  %s" % (ms, k))


def remove_cgroup(path):
    """rmdir, waiting (boundedly) for its last process to be reaped; its programs go with it."""
    for _ in range(100):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def attach_empty(obj, plain, pw):
    """A cgroup below plain, the test user's to move into, with obj's programs attached.

    Sets EMPTY_CGROUP (None if bpftool or the object is missing); returns the pin directory."""
    global EMPTY_CGROUP
    pins = "/sys/fs/bpf/cell-bench-empty-%d" % os.getpid()
    if not shutil.which("bpftool") or not os.path.exists(obj):
        print("note: no bpftool or no %s: no floor measured (empty programs)" % obj)
        return pins
    cg = os.path.join(plain, "empty")
    os.mkdir(cg)
    # moving from plain into it takes write access to both cgroup.procs files
    for f in (os.path.join(plain, "cgroup.procs"), os.path.join(cg, "cgroup.procs")):
        os.chown(f, pw.pw_uid, pw.pw_gid)
    subprocess.run(["bpftool", "prog", "loadall", obj, pins], check=True)
    hooks = {"empty_connect4": "connect4", "empty_post_bind4": "post_bind4",
             "empty_sock_create": "sock_create",
             "empty_egress": "cgroup_inet_egress", "empty_ingress": "cgroup_inet_ingress"}
    for prog, hook in hooks.items():
        subprocess.run(["bpftool", "cgroup", "attach", cg, hook, "pinned",
                        os.path.join(pins, prog), "multi"], check=True)
    EMPTY_CGROUP = cg
    return pins


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    workload = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else build + "/bench-connect")
    empty_obj = os.path.abspath(sys.argv[3] if len(sys.argv) > 3
                                else build + "/bpf/bench-empty.bpf.o")
    if os.geteuid() != 0:
        skip("needs root (to install cell-session setuid, load BPF and make a cgroup)")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        skip("no user %s (make test-user)" % USER)
    cg2 = cgroup2_root()
    if not cg2:
        skip("no cgroup2 hierarchy is mounted")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        skip("the kernel has no BTF")
    if not shutil.which("bwrap"):
        skip("no bwrap")
    base = suid_capable_dir(build)
    if not base:
        skip("no directory on a mount that allows setuid, for the temporary prefix")
    for f in ("cell", "cell-init", "cell-session"):
        if not os.access(os.path.join(build, f), os.X_OK):
            raise SystemExit("no %s in '%s': build it first" % (f, build))

    work = tempfile.mkdtemp(prefix="cell-bpf-bench-", dir=base)
    plain = os.path.join(cg2, "cell-bench-plain-%d" % os.getpid())
    slice_dir = os.path.join(cg2, "cell.slice")
    status = 1
    try:
        os.chmod(work, 0o755)
        prefix = os.path.join(work, "prefix")
        # the setuid helper where only root and the bench's user can reach it
        os.mkdir(prefix, 0o750)
        os.chown(prefix, 0, pw.pw_gid)
        cell = os.path.join(prefix, "bin/cell")
        install(os.path.join(build, "cell"), cell, 0o755)
        install(os.path.join(build, "cell-init"), prefix + "/libexec/cell/cell-init", 0o755)
        install(os.path.join(build, "cell-session"), prefix + "/libexec/cell/cell-session",
                0o4755)
        home, proj, tmp = (os.path.join(work, d) for d in ("home", "proj", "tmp"))
        for d in (home, proj, tmp):
            os.makedirs(d)
        with open(os.path.join(proj, ".cell.json"), "w") as f:
            f.write('{"name": "bench", "network": {"mode": "proxy", "allow": []}}\n')
        install(workload, os.path.join(proj, "bench-connect"), 0o755)
        for d in (home, proj, tmp):
            for root, dirs, files in os.walk(d):
                for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                    os.chown(n, pw.pw_uid, pw.pw_gid)
        os.mkdir(plain)
        empty_pins = attach_empty(empty_obj, plain, pw)
        if shutil.which("bpftool"):
            r = subprocess.run(["bpftool", "cgroup", "show", plain, "effective"],
                               capture_output=True, text=True)
            if r.stdout.strip() not in ("", "[]"):
                print("note: programs attached above the plain cgroup apply to it too:\n"
                      + r.stdout)
        env = {"HOME": home, "PATH": "/usr/bin:/bin", "USER": USER, "LANG": "C.UTF-8",
               "XDG_DATA_HOME": home + "/.local/share", "XDG_STATE_HOME": home + "/.local/state",
               "XDG_CONFIG_HOME": home + "/.config"}
        programs = attached(slice_dir) if shutil.which("bpftool") else []
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with open(os.path.join(plain, "cgroup.procs"), "w") as f:
                    f.write("0")
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
                os.chdir(proj)
                code = measure(cell, proj, env, tmp)
            except SystemExit as e:
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, st = os.waitpid(pid, 0)
        status = os.waitstatus_to_exitcode(st)
        if status == 0 and shutil.which("bpftool"):
            if programs and attached(slice_dir) != programs:
                print("note: the programs at cell.slice were replaced during the run (another "
                      "cell-session build loaded its own): some cells above paid for a load")
            hook_costs(cell, proj, env, {"user": pw.pw_uid, "group": pw.pw_gid,
                                         "extra_groups": []}, slice_dir)
        if status == 0 and shutil.which("strace"):
            slow_syscalls(cell, proj, env, tmp)
        if status == SKIPPED:
            status = 0
    finally:
        if EMPTY_CGROUP:
            remove_cgroup(EMPTY_CGROUP)
            shutil.rmtree(empty_pins, ignore_errors=True)
        # the cgroup empties as its last process is reaped: wait for that, boundedly
        for _ in range(100):
            try:
                os.rmdir(plain)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
