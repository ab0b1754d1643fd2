#!/usr/bin/env python3
"""make bench, part 5: the shell hook.

1. Per prompt without a cd: the hook function run N times in one shell, timed by the shell's own
   clock, against an empty prompt function and against `eval "$(direnv export SHELL)"` (what
   direnv's hook runs at every prompt), in the same run. Also the inner hook (inside a cell),
   which reads the cell's notices descriptor each prompt.
2. From cd to the first prompt inside the cell: `cell enter` of a shell whose first prompt exits
   it, minus the same shell started and ended the same way outside a cell.
3. A command in a nix flake's environment: `cell run -- true` with the environment from the
   provider's cache against `nix develop -c true` (nix's own evaluation cache warm), the same
   flake in the same run.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

cell = sys.argv[1]
N = 20000
N_DIRENV = 200
work = tempfile.mkdtemp(prefix="cell-bench-hook.")
os.chmod(work, 0o755)
home = os.path.join(work, "home")
proj = os.path.join(home, "proj")
os.makedirs(proj)
env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home + "/.config",
           XDG_DATA_HOME=home + "/.local/share", XDG_STATE_HOME=home + "/.local/state",
           XDG_RUNTIME_DIR=work, CELL_ALLOW_ROOT="1")
env.pop("CELL_DISABLE", None)
hook = {sh: subprocess.run([cell, "hook", sh], capture_output=True, text=True,
                           check=True).stdout for sh in ("bash", "zsh", "fish")}
with open(os.path.join(proj, ".envrc"), "w") as f:
    f.write("export FOO=1\n")
have_direnv = shutil.which("direnv") is not None
if have_direnv:
    subprocess.run(["direnv", "allow", proj], env=env, check=True)
notices = os.path.join(work, "notices")
open(notices, "w").close()


def per_call_us(shell, body, n):
    """Microseconds per call of body, run n times in one interactive-like shell."""
    if shell == "bash":
        script = ("%s\ncd %s\n_cell_hook\n_empty() { local s=$?; return $s; }\n"
                  "t0=$EPOCHREALTIME\nfor ((i = 0; i < %d; i++)); do %s; done\n"
                  "t1=$EPOCHREALTIME\necho $(( (${t1/./} - ${t0/./}) ))\n"
                  % (hook["bash"], proj, n, body))
        argv = ["bash", "--norc", "-i", "-c", script]
    elif shell == "zsh":
        script = ("zmodload zsh/datetime\n%s\ncd %s\n_cell_hook\n_empty() { }\n"
                  "t0=$EPOCHREALTIME\nfor ((i = 0; i < %d; i++)); do %s; done\n"
                  "t1=$EPOCHREALTIME\nprintf '%%d\\n' $(( (t1 - t0) * 1000000 ))\n"
                  % (hook["zsh"], proj, n, body))
        argv = ["zsh", "-f", "-i", "-c", script]
    else:
        script = ("%s\ncd %s\n_cell_hook\nfunction _empty; end\n"
                  "set t0 (date +%%s%%N)\nfor i in (seq %d); %s; end\n"
                  "set t1 (date +%%s%%N)\nmath -s0 \"($t1 - $t0) / 1000\"\n"
                  % (hook["fish"], proj, n, body))
        argv = ["fish", "--no-config", "-i", "-c", script]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=home,
                       stdin=subprocess.DEVNULL)
    lines = [l for l in r.stdout.split() if l.strip().isdigit()]
    if r.returncode != 0 or not lines:
        raise SystemExit("bench hook: %s failed: %s %s" % (shell, r.stdout, r.stderr))
    return int(lines[-1]) / n


print("\n== make bench, part 5: the shell hook (%s)" % time.strftime("%Y-%m-%d"))
print("per prompt without a cd, microseconds (median of 5 runs of %d prompts; direnv: %d)"
      % (N, N_DIRENV))
print("%-6s %12s %12s %12s %18s" % ("shell", "empty fn", "cell hook", "hook-empty",
                                     "direnv export"))
for sh in ("bash", "zsh", "fish"):
    if not shutil.which(sh):
        print("%-6s SKIP: not installed" % sh)
        continue
    empty, cellh = [], []
    for _ in range(5):
        empty.append(per_call_us(sh, "_empty", N))
        cellh.append(per_call_us(sh, "_cell_hook", N))
    direnv = "-"
    if have_direnv:
        body = {"bash": 'eval "$(direnv export bash 2>/dev/null)"',
                "zsh": 'eval "$(direnv export zsh 2>/dev/null)"',
                "fish": "direnv export fish 2>/dev/null | source"}[sh]
        direnv = "%.0f" % per_call_us(sh, body, N_DIRENV)
    e, c = statistics.median(empty), statistics.median(cellh)
    print("%-6s %12.2f %12.2f %12.2f %18s" % (sh, e, c, c - e, direnv))

# inside a cell: the same prompt, with the notices read (bash)
inner_env = dict(env, CELL_LEAVE=os.path.join(work, "leave"), CELL_ROOT=proj, CELL_ID="x",
                 CELL_NOTICES=notices)
old_env, env = env, inner_env
inner = statistics.median(per_call_us("bash", "_cell_hook", N) for _ in range(5))
env = old_env
print("bash, inside a cell (reads the notices descriptor): %.2f us a prompt" % inner)

# cd to the first prompt inside the cell, minus the shell's own start
with open(os.path.join(home, ".bashrc"), "w") as f:
    f.write('PROMPT_COMMAND=exit\n')
with open(os.path.join(proj, ".cell.json"), "w") as f:
    f.write('{"network": {"mode": "none"}, "env": {"provider": "none"}}\n')
subprocess.run([cell, "allow", proj], env=env, check=True, capture_output=True)
# the same project with its environment from direnv (its .envrc), from the cache after a first
# evaluation
proj_env = os.path.join(home, "proj-env")
os.makedirs(proj_env)
shutil.copy(os.path.join(proj, ".envrc"), proj_env)
with open(os.path.join(proj_env, ".cell.json"), "w") as f:
    f.write('{"network": {"mode": "none"}, "env": {"provider": "direnv"}}\n')
subprocess.run([cell, "allow", proj_env], env=env, check=True, capture_output=True)
if have_direnv:
    subprocess.run(["direnv", "allow", proj_env], env=env, check=True)


def median_ms(argv, cwd, rounds=15):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(argv, env=dict(env, SHELL="/bin/bash"), cwd=cwd, capture_output=True,
                       stdin=subprocess.DEVNULL)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


bare, entered = [], []
for _ in range(3):
    bare.append(median_ms(["bash", "-i"], proj, 5))
    entered.append(median_ms([cell, "enter", "--leave-to", os.path.join(work, "leave")], proj, 5))
b, e = statistics.median(bare), statistics.median(entered)
print("cd to the first prompt in the cell (network none; bash; the cell's stop included): "
      "%.1f ms, minus bash's own start %.1f ms = %.1f ms" % (e, b, e - b))

# the same cd into a project whose session is open (another terminal holds it): it joins
holder = subprocess.Popen([cell, "run", "--", "sleep", "3600"], cwd=proj, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):
    if '"members":[{' in subprocess.run([cell, "status", "--json"], cwd=proj, env=env,
                                        capture_output=True, text=True).stdout:
        break
    time.sleep(0.05)
# (the cell's bash reads the login files, as bash -l does)
bare, joined = [], []
for _ in range(3):
    bare.append(median_ms(["bash", "-l", "-i"], proj, 5))
    joined.append(median_ms([cell, "enter", "--leave-to", os.path.join(work, "leave")], proj, 5))
holder.terminate()
holder.wait()
b, j = statistics.median(bare), statistics.median(joined)
print("cd to the first prompt in a project whose session is open (it joins): %.1f ms, minus "
      "bash -l's own start %.1f ms = %.1f ms (target <= 5)" % (j, b, j - b))

# the project's environment from its provider's cache (target: at most 1.1x the same project
# without a provider), interleaved rounds
if have_direnv:
    leave = os.path.join(work, "leave")
    subprocess.run([cell, "env"], env=env, cwd=proj_env, capture_output=True)  # fills the cache
    without, cached = [], []
    for _ in range(5):
        without.append(median_ms([cell, "enter", "--leave-to", leave], proj, 5))
        cached.append(median_ms([cell, "enter", "--leave-to", leave], proj_env, 5))
    w, c = statistics.median(without), statistics.median(cached)
    print("cd to the first prompt with the environment from direnv's cache: %.1f ms, without a "
          "provider %.1f ms: ratio %.3f (target <= 1.1)" % (c, w, c / w))
else:
    print("environment from a provider's cache: SKIP: direnv is not installed")

# a nix flake's environment: cell (cached) against nix develop, interleaved rounds
nix = "/usr/bin/nix"
if os.path.exists(nix) and os.geteuid() == 0:
    proj_nix = os.path.join(home, "proj-nix")
    os.makedirs(proj_nix)
    with open(os.path.join(proj_nix, "flake.nix"), "w") as f:
        f.write('{ outputs = { self }: { devShells.x86_64-linux.default = derivation {\n'
                '  name = "cell-bench-shell"; system = "x86_64-linux"; builder = "/bin/bash";\n'
                '  outputs = [ "out" ]; args = [ "-c" "echo > $out" ];\n'
                '  GREETING = "hello"; }; }; }\n')
    with open(os.path.join(proj_nix, ".cell.json"), "w") as f:
        f.write('{"network": {"mode": "none"}, "env": {"provider": "nix", "required": true}}\n')
    nix_env = dict(env, NIX_CONFIG="experimental-features = nix-command flakes\n"
                   "substituters =\nsandbox = false\nbuild-users-group =")
    old_env, env = env, nix_env
    subprocess.run([cell, "allow", proj_nix], env=env, check=True, capture_output=True)
    subprocess.run([cell, "env"], env=env, cwd=proj_nix, check=True, capture_output=True)
    subprocess.run([nix, "develop", "-c", "true"], env=env, cwd=proj_nix, check=True,
                   capture_output=True)
    in_cell, in_nix = [], []
    for _ in range(5):
        in_cell.append(median_ms([cell, "run", "--", "true"], proj_nix, 5))
        in_nix.append(median_ms([nix, "develop", "-c", "true"], proj_nix, 5))
    env = old_env
    c, n = statistics.median(in_cell), statistics.median(in_nix)
    print("a command in a nix flake's environment: cell run (from the cache, in a cell) %.1f ms, "
          "nix develop -c %.1f ms: ratio %.3f" % (c, n, c / n))
else:
    print("cell against nix develop: SKIP: %s" % ("nix is not installed" if not
          os.path.exists(nix) else "needs root (nix's store without a daemon)"))
shutil.rmtree(work, ignore_errors=True)
