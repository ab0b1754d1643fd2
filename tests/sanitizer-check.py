#!/usr/bin/env python3
"""Fails (exit 1) on any sanitizer report in a test run's output (argv[1]), with one exception:
a leak whose every frame past the allocator is inside libcriterion itself. Criterion's timeout
watchdog (BoxFort) callocs a context for a detached thread per sandboxed test, which a worker
that exits first never frees; no code of ours is on that stack, and any leak that has one of
our frames (product or test code) still fails the run."""
import re
import sys

text = "\n" + open(sys.argv[1], errors="replace").read()
bad = []
if re.search(r"ERROR: AddressSanitizer|runtime error:", text):
    bad.append("an AddressSanitizer or UndefinedBehaviorSanitizer report")
blocks = re.split(r"\n(?=(?:Direct|Indirect) leak of )", text)[1:]
if "ERROR: LeakSanitizer" in text and not blocks:
    bad.append("a LeakSanitizer report without a leak that can be read")
for block in blocks:
    frames = re.findall(r"^\s+#(\d+) 0x[0-9a-f]+ (.*)$", block.split("\n\n")[0], re.M)
    ours = [f for n, f in frames if n != "0" and "libcriterion.so" not in f]
    if ours or len(frames) < 2:
        bad.append("a leak: " + block.split("\n")[0])
    else:
        print("sanitizer-check: leaving Criterion's own leak aside: " + block.split("\n")[0])
for b in bad:
    print("sanitizer-check: %s in %s" % (b, sys.argv[1]), file=sys.stderr)
sys.exit(1 if bad else 0)
