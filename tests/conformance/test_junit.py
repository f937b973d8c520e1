#!/usr/bin/env python3
"""ams-conform --junit writes JUnit XML that validates against junit.xsd.

Two reports: a passing run (a bundled plugin) and a failing one (broken
plugins: failures, a crash, a timeout, skipped checks), each validated
with `xmllint --noout --schema`, then read back to check that the counts
agree with the runner's TAP.  Prints TAP.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

CONFORM = os.environ["AMS_CONFORM"]
BROKEN = os.environ["AMS_BROKEN"]
PLUGINS = os.environ["AMS_PLUGINS"]
TMP = os.environ.get("AMS_TEST_TMP") or tempfile.gettempdir()
XSD = sys.argv[1]

RUNS = [
    ("passing", [os.path.join(PLUGINS, "chance.so")], 0),
    ("failing", [os.path.join(BROKEN, n + ".so")
                 for n in ("bad_undo", "wrong_magic", "hangs", "crashy")]
     + ["--budget", "300"], 1),
]


def main():
    os.makedirs(TMP, exist_ok=True)
    xmllint = shutil.which("xmllint")
    print(f"1..{3 * len(RUNS)}")
    n = 0
    for label, args, want_rc in RUNS:
        out = os.path.join(TMP, f"junit-{label}.xml")
        if os.path.exists(out):
            os.unlink(out)
        p = subprocess.run([CONFORM, "--tap", "--junit", out] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, errors="replace", timeout=110)
        fails = len(re.findall(r"^not ok ", p.stdout, re.M))
        skips = len(re.findall(r"# SKIP", p.stdout))
        total = len(re.findall(r"^(?:not )?ok ", p.stdout, re.M))
        n += 1
        ok = p.returncode == want_rc and os.path.exists(out)
        print(f"{'ok' if ok else 'not ok'} {n} - {label} run wrote {out} "
              f"(exit {p.returncode}, {total} checks, {fails} failed)")
        n += 1
        if xmllint is None:
            print(f"not ok {n} - {label}: xmllint not found (install "
                  "libxml2-utils: scripts/deps.sh)")
        else:
            v = subprocess.run([xmllint, "--noout", "--schema", XSD, out],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            print(f"{'ok' if v.returncode == 0 else 'not ok'} {n} - "
                  f"{label}: xmllint --schema junit.xsd accepts it")
            for line in v.stdout.splitlines()[:20]:
                print("# " + line)
        n += 1
        try:
            root = ET.parse(out).getroot()
            cases = root.findall("./testsuite/testcase")
            got = (len(cases), len(root.findall("./testsuite/testcase/failure")),
                   len(root.findall("./testsuite/testcase/skipped")))
            agree = (got == (total, fails, skips)
                     and int(root.get("tests")) == total
                     and int(root.get("failures")) == fails)
            suites = [s.get("name") for s in root.findall("./testsuite")]
        except (ET.ParseError, OSError, TypeError, ValueError) as e:
            agree, got, suites = False, str(e), []
        print(f"{'ok' if agree else 'not ok'} {n} - {label}: one testsuite "
              f"per plugin ({', '.join(suites)}), testcases/failures/skipped "
              f"{got} agree with the TAP")
    return 0


if __name__ == "__main__":
    sys.exit(main())
