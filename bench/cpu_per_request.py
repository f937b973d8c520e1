#!/usr/bin/env python3
"""cpu_per_request.py -- CPU time the server spends per request, on the
paths of side_by_side.py (issue 12, "The HTTP path").  Run by hand.

    python3 bench/cpu_per_request.py [--duration 3] [--rounds 3]
        [--conns 64] [--store none] [--workers 2]
        [--only static,unknown,soldout,readonly,grab]
        [--perf-record DIR]

Requests per second on this shared two-core machine swing with whatever
else runs; the CPU time the server's own processes used (the run time
the kernel accounts in /proc/PID/schedstat, user and system, summed over
nginx's or amsd's workers) divided by the requests wrk saw answered is
much steadier, and is what an optimisation of the request path changes.
Printed per path: the median over the rounds of us of server CPU per
request, and of rps.  The workloads are side_by_side.py's (the same
activities, wrk script and paths): nginx static 200, amsd's unknown
activity (404), 1904/grab sold out, 1003/status (read-only) and
1903/grab (a grant).

--perf-record DIR: also run `perf record -g` on the amsd workers during
each amsd path of the first round, to DIR/<path>.data (read with `perf
report -i DIR/<path>.data --no-children`).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
import side_by_side as sbs  # noqa: E402

PATHS = {
    "static": (None, "/"),
    "unknown": (None, "/v1/activities/%d/grab" % sbs.UNKNOWN),
    "soldout": (sbs.SOLD_OUT_REASON, "/v1/activities/%d/grab" % sbs.SOLD_OUT),
    "readonly": (None, "/v1/activities/%d/status" % sbs.READ_ONLY),
    "grab": (None, "/v1/activities/%d/grab" % sbs.GRAB),
}


def children(pid):
    """The pids of pid's children (amsd's or nginx's workers)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cpu_ns(pids):
    """Run time of pids (every thread: LMDB's committer is one), in ns."""
    total = 0
    for p in pids:
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    return total


def measure(reaper, work, port, pids, path, conns, duration, want,
            perf_out=None):
    """One wrk run: (us of server CPU per request, rps, result)."""
    perf = None
    if perf_out:
        perf = subprocess.Popen(
            ["perf", "record", "-q", "-g", "-o", perf_out, "-p",
             ",".join(str(p) for p in pids)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
    c0 = cpu_ns(pids)
    r = benchlib.wrk(reaper, work, port, path, conns, duration, want=want)
    c1 = cpu_ns(pids)
    if perf is not None:
        perf.send_signal(2)
        perf.wait()
    return (c1 - c0) / 1000.0 / max(1, r["requests"]), r["rps"], r


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--store", default="none", help="full, none or redis")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default="static,unknown,soldout,readonly")
    ap.add_argument("--perf-record", default="")
    a = ap.parse_args()
    only = [k for k in a.only.split(",") if k]
    if any(k not in PATHS for k in only):
        ap.error("--only: any of %s" % ", ".join(PATHS))

    benchlib.terminate_on_signals()
    reaper = benchlib.Reaper()
    try:
        return run(a, only, reaper)
    finally:
        reaper.close()


def run(a, only, reaper):
    work = reaper.tempdir("cpr-")
    acts = os.path.join(work, "activities")
    shutil.copytree(os.path.join(benchlib.ROOT, "conf", "activities"), acts)
    with open(os.path.join(acts, "zz-side-by-side.conf"), "w") as f:
        f.write(sbs.BENCH_ACTIVITIES % ",\n".join([
            sbs.BENCH_ACTIVITY % {"id": sbs.GRAB, "stock": sbs.BIG_STOCK,
                                  "name": "bench grab"},
            sbs.BENCH_ACTIVITY % {"id": sbs.SOLD_OUT, "stock": 1,
                                  "name": "bench sold out"}]))
    nginx = (sbs.Nginx(reaper, sbs.NGINX_MODULES, lua=False)
             if "static" in only else None)
    redis = sbs.Redis(reaper) if a.store == "redis" else None
    if a.perf_record:
        os.makedirs(a.perf_record, exist_ok=True)
    res = {k: [] for k in only}
    for rnd in range(1, a.rounds + 1):
        store = redis.uri if redis else "lmdb:" + a.store
        m = benchlib.Amsd(reaper, store, acts, workers=a.workers)
        m.start()
        try:
            benchlib.wrk(reaper, work, m.port,
                         "/v1/activities/%d/grab" % sbs.GRAB, 64, 1)
            m.post("/v1/activities/%d/grab" % sbs.SOLD_OUT,
                   {"uid": "seed", "request_id": "seed"})
            apids = children(m.proc.pid)
            for k in only:
                want, path = PATHS[k]
                if k == "static":
                    port, pids = nginx.port, children(nginx.proc.pid)
                else:
                    port, pids = m.port, apids
                perf_out = (os.path.join(a.perf_record, k + ".data")
                            if a.perf_record and rnd == 1 and k != "static"
                            else None)
                us, rps, r = measure(reaper, work, port, pids, path,
                                     a.conns, a.duration, want, perf_out)
                res[k].append((us, rps))
                print("r%d %-9s %7.2f us CPU/request  %8.0f rps  non2xx %d "
                      "code0 %s" % (rnd, k, us, rps, r["non2xx"], r["ok"]),
                      flush=True)
        finally:
            m.close()
    print("== medians over %d round(s), %d workers, -c%d, store %s =="
          % (a.rounds, a.workers, a.conns, a.store))
    for k in only:
        us = statistics.median(x[0] for x in res[k])
        rps = statistics.median(x[1] for x in res[k])
        print("%-9s %7.2f us CPU/request  %8.0f rps" % (k, us, rps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
