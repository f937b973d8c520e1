#!/usr/bin/env python3
"""Run one libFuzzer target as a meson test, reporting TAP.

Usage: run.py --name NAME --corpus DIR --dict FILE --work DIR [--seconds N] EXE

Two checks:
  1. every seed of the committed corpus (fuzz/corpus/NAME) replays
     without a crash, a leak, a sanitizer report or a timeout;
  2. N seconds of fuzzing from those seeds ($AMS_FUZZ_SECONDS, default 3)
     find none either.
A failure names the input that caused it: a seed's path, or the file
libFuzzer saved under WORK/artifacts/ (kept across runs), and the command
that reproduces it.  New inputs found while fuzzing go to WORK/corpus/,
never into the committed corpus (scripts/fuzz.sh says how to keep them).
The target runs with stdin from /dev/null in an empty directory of its
own, so no input can make it read the terminal or a file beside it.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

TAIL = 40


def env():
    e = dict(os.environ)
    # The reports must be in the output read here, not in a log file.
    e["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    e["LSAN_OPTIONS"] = "suppressions=" + os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "lsan.supp")
    return e


def run(cmd, cwd, timeout):
    try:
        p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env(), timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return None, out + "\n(killed: no answer in %d s)" % timeout


def comment(out):
    lines = out.splitlines()
    for line in lines[-TAIL:]:
        print("#   " + line)


def why(out):
    for pat in (r"ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|"
                r"UndefinedBehaviorSanitizer)[^\n]*",
                r"runtime error:[^\n]*", r"SUMMARY:[^\n]*"):
        m = re.search(pat, out)
        if m:
            return m.group(0).strip()
    return "the target failed"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--dict", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seconds", type=int,
                    default=int(os.environ.get("AMS_FUZZ_SECONDS", "3")))
    ap.add_argument("exe")
    a = ap.parse_args()
    a.exe = os.path.abspath(a.exe)  # it runs in a directory of its own

    cwd = os.path.join(a.work, "cwd")
    found = os.path.join(a.work, "corpus")
    arts = os.path.join(a.work, "artifacts")
    for d in (cwd, found):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    os.makedirs(arts, exist_ok=True)
    flags = ["-timeout=10", "-rss_limit_mb=2048",
             "-artifact_prefix=" + arts + "/"]
    if os.path.exists(a.dict):
        flags.append("-dict=" + a.dict)
    seeds = sorted(os.path.join(a.corpus, f) for f in os.listdir(a.corpus)) \
        if os.path.isdir(a.corpus) else []
    print("1..2")

    # 1. Replay: each seed once (files given one by one, so a failure
    # names its seed).
    if not seeds:
        print("not ok 1 - %s: no seeds in %s" % (a.name, a.corpus))
    else:
        rc, out = run([a.exe] + flags + seeds, cwd, 120)
        if rc == 0:
            print("ok 1 - %s: the %d seeds of fuzz/corpus/%s replay cleanly"
                  % (a.name, len(seeds), os.path.basename(a.corpus)))
        else:
            ran = re.findall(r"^Running: (.*)$", out, re.M)
            seed = ran[-1] if ran else "?"
            print("not ok 1 - %s: seed %s: %s (reproduce: %s %s)"
                  % (a.name, seed, why(out), a.exe, seed))
            comment(out)

    # 2. Fuzz for a few seconds from the seeds.
    cmd = [a.exe] + flags + ["-max_total_time=%d" % a.seconds,
                             "-print_final_stats=1", found]
    if seeds:
        cmd.append(a.corpus)
    rc, out = run(cmd, cwd, a.seconds + 120)
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", out)
    if rc == 0:
        print("ok 2 - %s: %d s of fuzzing (%s runs) found nothing"
              % (a.name, a.seconds, runs[-1] if runs else "?"))
    else:
        saved = re.findall(r"Test unit written to (\S+)", out)
        at = saved[-1] if saved else "(not saved: see the output below)"
        print("not ok 2 - %s: %s; input saved at %s (reproduce: %s %s)"
              % (a.name, why(out), at, a.exe, at))
        comment(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
