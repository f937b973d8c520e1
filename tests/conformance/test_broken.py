#!/usr/bin/env python3
"""Every deliberately broken plugin fails exactly the checks it should.

Runs `ams-conform --tap` on each plugin of tests/conformance/ (and the
ABI variants of tests/plugins/), reads its TAP, and asserts the set of
failing checks, the key words of their reasons, and the exit status.
Prints its own TAP: two lines per plugin (the failing set, the reasons).
The runner's TAP is echoed as comments only, so its deliberate failures
are not counted as failures of the test run.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

CONFORM = os.environ["AMS_CONFORM"]
BROKEN = os.environ["AMS_BROKEN"]
TEST_PLUGINS = os.environ["AMS_TEST_PLUGINS"]
TMP = os.environ.get("AMS_TEST_TMP") or tempfile.gettempdir()


def header_abi():
    """(major, minor) of the header the runner was built with."""
    with open(os.path.join(os.environ["AMS_SOURCE"], "include", "ams",
                           "ams.h")) as f:
        text = f.read()
    return tuple(int(re.search(r"#define AMS_ABI_%s (\d+)" % k,
                               text).group(1)) for k in ("MAJOR", "MINOR"))


MAJOR, MINOR = header_abi()
HOST = f"{MAJOR}.{MINOR}"
NEXT = f"{MAJOR}.{MINOR + 1}"

TAP = re.compile(r"^(not )?ok \d+ - ([^:]+): ([^:# ]+)(.*)$")

# plugin file -> (extra args, {failing check: [reason words]}, exit status)
# Checks not listed must pass or be skipped (skips only follow a failure).
CASES = [
    ("wrong_magic", [], {
        "manifest.magic": ["magic is 0x314d5341", "AMS_PLUGIN"],
        "manifest.loader": ["wrong magic"]}),
    ("wrong_abi", [], {
        "manifest.abi": ["built for ABI 2.0",
                         f"this host speaks ABI {HOST}",
                         "rebuild"],
        "manifest.loader": ["ABI 2.0"]}),
    ("missing_sym", [], {
        "manifest.symbols": ["ms_at_least", "not exported", "AMS_ENTRY"],
        "manifest.loader": ["ms_at_least", "not exported"]}),
    ("impure_rule", [], {
        "rule.first_visit.pure": ["wrote to the store", "visits",
                                  "operation"]}),
    ("random_rule", [], {
        "rule.lucky.deterministic": ["two verdicts", "rand()"]}),
    ("bad_undo", [], {
        "op.stamp.undo": ["differs from before", "stamps", "undo"]}),
    ("leaky", [], {
        "lifecycle.repeat": ["heap grew", "per cycle", "destroy"]}),
    ("crashy", ["--request", "REQUEST"], {
        "robust.code_ok": ["crashed with SIGSEGV", "crashy.code_ok"]}),
    ("lying_reader", [], {
        "readonly.peek": ["declared read-only", "AMS_EF_READONLY",
                          "called tag_set", "last_seen", "operation"],
        "readonly.sneaky": ["declared read-only", "called tag_del",
                            "no record changed"]}),
    ("hangs", ["--budget", "300"], {
        "robust.short_name": ["timed out after 300 ms", "invalid UTF-8",
                              "hangs.short_name"]}),
]
# The ABI promise, seen through the runner (the loader's side is tested in
# tests/unit/test_plugin.c with the same plugins).
ABI_CASES = [
    ("no_manifest", [], {"load": ["not an amsd plugin",
                                  "ams_plugin_manifest"]}),
    ("abi_major", [], {"manifest.abi": ["built for ABI 2.0"],
                       "manifest.loader": ["ABI 2.0"]}),
    ("abi_needs_new", [], {"manifest.abi": [f"needs ABI {NEXT}", "min_minor"],
                           "manifest.loader": [f"needs ABI {NEXT}"]}),
    ("abi_newer_ok", [], {}),   # newer minor, needs only ours: works
    ("abi_old", [], {}),        # an older, shorter manifest: works
    ("abi_minor0", [], {}),     # the minor 0 layout (no entry_flags): works
    ("flagged", [], {}),        # honest read-only entries pass readonly.E
    ("bad_flags", [], {
        "manifest.entries": ["entry \"r\": unknown entry flag 0x6",
                             f"this host (ABI {HOST}) knows only 0x1",
                             "entry \"op\": AMS_EF_READONLY on an operation"],
        "manifest.loader": ["unknown entry flag 0x6", "on an operation"]}),
]


def run(path, args):
    p = subprocess.run([CONFORM, "--tap"] + args + [path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace", timeout=110)
    results = {}
    for line in p.stdout.splitlines():
        m = TAP.match(line)
        if m:
            skip = "# SKIP" in m.group(4)
            status = "skip" if skip else ("fail" if m.group(1) else "pass")
            results[m.group(3)] = (status, m.group(4))
    return p.returncode, results, p.stdout


def main():
    os.makedirs(TMP, exist_ok=True)
    req = os.path.join(TMP, "crashy-request.json")
    with open(req, "w") as f:
        json.dump({"code_ok": {"code": "abcd"}}, f)
    cases = [(os.path.join(BROKEN, n + ".so"), n, a, e) for n, a, e in CASES]
    cases += [(os.path.join(TEST_PLUGINS, n + ".so"), n, a, e)
              for n, a, e in ABI_CASES]
    print(f"1..{2 * len(cases)}")
    n = 0
    for path, name, args, expect in cases:
        args = [req if a == "REQUEST" else a for a in args]
        rc, results, out = run(path, args)
        failing = {k for k, (s, _) in results.items() if s == "fail"}
        passing = {k for k, (s, _) in results.items() if s == "pass"}
        want_rc = 1 if expect else 0
        problems = []
        if failing != set(expect):
            problems.append(f"failing {sorted(failing)}, expected "
                            f"{sorted(expect)}")
        if rc != want_rc:
            problems.append(f"exit status {rc}, expected {want_rc}")
        if not results:
            problems.append("no TAP from ams-conform")
        # skips only where a prerequisite failed: never on a clean plugin
        if not expect and len(passing) != len(results):
            problems.append("checks skipped on a plugin that should pass")
        n += 1
        what = ", ".join(sorted(expect)) or "nothing (passes the battery)"
        print(f"{'not ok' if problems else 'ok'} {n} - {name}: fails "
              f"exactly {what} ({len(passing)} passed)")
        for pr in problems:
            print(f"# {pr}")
        missing = []
        for check, words in expect.items():
            reason = results.get(check, ("", ""))[1]
            for w in words:
                if w.lower() not in reason.lower():
                    missing.append(f"{check}: no \"{w}\" in: {reason}")
        n += 1
        print(f"{'not ok' if missing else 'ok'} {n} - {name}: reasons name "
              f"the problem")
        for m in missing:
            print(f"# {m}")
        if problems or missing:
            for line in out.splitlines():
                print("#   | " + line.replace("#", "No."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
