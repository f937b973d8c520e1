#!/usr/bin/env python3
"""Add up the TAP results of meson test runs and print "N passed, N failed".

Usage: tapcount.py [--reports DIR] LABEL=testlog.json ...

Each meson test prints TAP; every "ok" line is a pass and every "not ok" a
failure ("# SKIP" lines count as skipped, never as passed).  A test that
meson saw fail but whose output holds no "not ok" line (it crashed, timed
out, or broke its plan) is one more failure.  Each sanitizer report file
in DIR is a failure too, an empty one included (an exit-time leak check
cut short by a kill: tests/e2e/harness.py, Amsd.end()).
"""
import json
import os
import re
import sys

TAP = re.compile(r"^(not )?ok\b(.*)$")


def count_log(label, path):
    passed = failed = skipped = 0
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError as e:
        print(f"{label}: no test log ({e})")
        return 0, 1, 0
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        name = t.get("name", "?")
        p = f = s = 0
        for out in (t.get("stdout") or "").splitlines():
            m = TAP.match(out)
            if not m:
                continue
            if re.search(r"#\s*SKIP", m.group(2), re.I):
                s += 1
            elif m.group(1):
                f += 1
                print(f"FAIL {label}/{name}: {out}")
            else:
                p += 1
        if t.get("result") not in ("OK", "EXPECTEDFAIL") and f == 0:
            f += 1
            print(f"FAIL {label}/{name}: {t.get('result')} without a failing "
                  "check (crash, timeout or bad plan)")
        passed, failed, skipped = passed + p, failed + f, skipped + s
    return passed, failed, skipped


def main(argv):
    reports = None
    logs = []
    it = iter(argv)
    for a in it:
        if a == "--reports":
            reports = next(it)
        else:
            label, _, path = a.partition("=")
            logs.append((label, path))
    passed = failed = skipped = 0
    for label, path in logs:
        p, f, s = count_log(label, path)
        passed, failed, skipped = passed + p, failed + f, skipped + s
    if reports and os.path.isdir(reports):
        for name in sorted(os.listdir(reports)):
            with open(os.path.join(reports, name), errors="replace") as f:
                lines = f.read().splitlines()
            failed += 1
            print(f"FAIL sanitizer report {name}:"
                  + ("" if lines else " (empty)"))
            for line in lines[:40]:
                print("    " + line)
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
