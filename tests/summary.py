#!/usr/bin/env python3
"""make test's last line: what the suites' logs (argv[1:], Criterion's output) say, after any
sanitizer notes: "make test: all N tests passed (U unit, I integration), also under ASan+UBSan".
Exits 1, saying which log, where a suite did not end with every test passing."""
import glob
import os
import re
import sys

args = sys.argv[1:]
since = None
if args[:1] == ["--since"]:
    # a test that leaves its directory behind fails the run too
    since = os.stat(args[1]).st_mtime
    args = args[2:]
    bases = {os.environ.get("TMPDIR") or "/tmp", "/tmp", "/var/tmp"}
    left = [d for b in sorted(bases) for d in glob.glob(os.path.join(b, "cell-test-*"))
            if os.lstat(d).st_mtime >= since]
    if left:
        sys.exit("make test: tests left these behind: %s" % " ".join(left))
counts = []
for log in args:
    try:
        text = open(log, errors="replace").read()
    except OSError as e:
        sys.exit("make test: %s: %s" % (log, e.strerror))
    m = re.findall(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)",
                   text)
    if not m:
        sys.exit("make test: %s has no summary: the suite did not finish" % log)
    tested, passing, failing, crashing = map(int, m[-1])
    if failing or crashing or passing != tested:
        sys.exit("make test: %s: %d of %d tests failed" % (log, failing + crashing, tested))
    counts.append(tested)
plain = counts[:2]
line = "make test: all %d tests passed (%d unit, %d integration)" % (sum(plain), *plain)
if len(counts) == 4:
    line += ", also under ASan+UBSan" if counts[2:] == plain else \
        ", and %d under ASan+UBSan" % sum(counts[2:])
print(line)
