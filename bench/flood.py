#!/usr/bin/env python3
"""flood.py -- what overload protection buys: the latency of admitted
requests under a flood of 10x capacity, against the same requests
unloaded, and how fast the refusals are.

    python3 bench/flood.py [--seconds S] [--base C] [--factor F]
                           [--workers W] [--procs P]

It starts build/core/amsd (W workers, LMDB with sync none) serving one
method whose chain adds to a per-user counter, with
overload.max_in_flight = C per worker, and drives it twice with
closed-loop keep-alive clients spread over P client processes:
  unloaded  C x W clients: the capacity (requests/s) and latency at it;
  flood     F x C x W clients: the same method, F times the concurrency
            the server admits; the answers are 200 (admitted) or 503
            overloaded (shed).
It prints requests/s and p50/p99/max of each kind, and the ratio of the
admitted p99 to the unloaded p99 (the issue's bound is 2x).  Nothing is
asserted.  Loopback only; it stops by itself.  Standard library only: a
Python client costs CPU on the same machine, so on a small machine the
figures are the server's and the clients' together.
"""
import argparse
import http.client
import json
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

ACTS = """activities = ( {
  id = 7001; name = "flood"; enabled = true;
  start = "2000-01-01T00:00:00+00:00"; end = "2099-12-31T23:59:59+00:00";
  timezone = "+00:00";
  methods = ( { name = "add"; operations = ( { use = "counter.add";
    params = { key = "n"; max = 1000000000; }; } ); } );
} );
"""


def client(port, n, seconds, start_at, q, tag):
    """n connections in threads of this process, each a closed loop until
    the end; puts [(status, seconds)] on q."""
    import threading

    out = []
    lock = threading.Lock()

    def run(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, k = [], 0
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.time() < end:
            k += 1
            body = json.dumps({"uid": "%s-%d-%d" % (tag, i, k % 64),
                               "request_id": "%s-%d-%d" % (tag, i, k)})
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/activities/7001/add", body,
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                mine.append((r.status, time.perf_counter() - t0))
            except (OSError, http.client.HTTPException):
                mine.append((0, time.perf_counter() - t0))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=30)
        conn.close()
        with lock:
            out.extend(mine)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put(out)


def drive(port, conns, procs, seconds, tag):
    q = mp.Queue()
    start_at = time.time() + 1.0
    per = [conns // procs + (1 if i < conns % procs else 0)
           for i in range(procs)]
    ps = [mp.Process(target=client,
                     args=(port, n, seconds, start_at, q, "%s%d" % (tag, i)))
          for i, n in enumerate(per) if n > 0]
    for p in ps:
        p.start()
    res = []
    for _ in ps:
        res.extend(q.get())
    for p in ps:
        p.join()
    return res


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def line(name, lat, seconds):
    print("  %-10s %7d answers %8.0f /s   p50 %7.2f ms  p99 %7.2f ms  "
          "max %7.2f ms" % (name, len(lat), len(lat) / seconds,
                            pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3,
                            max(lat) * 1e3 if lat else float("nan")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--base", type=int, default=4,
                    help="overload.max_in_flight per worker")
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    reaper = benchlib.Reaper()
    benchlib.terminate_on_signals()
    try:
        d = reaper.tempdir("amsd-flood-")
        acts = os.path.join(d, "activities")
        os.makedirs(acts)
        with open(os.path.join(acts, "flood.conf"), "w") as f:
            f.write(ACTS)
        srv = benchlib.Amsd(reaper, "lmdb:none", acts, workers=a.workers,
                            extra_conf="overload = { max_in_flight = %d; };\n"
                            % a.base)
        srv.start()
        base_c = a.base * a.workers
        print("amsd: %d worker(s), overload.max_in_flight = %d; %d client "
              "process(es)" % (a.workers, a.base, a.procs))
        print("unloaded: %d clients for %.0f s" % (base_c, a.seconds))
        r = drive(srv.port, base_c, a.procs, a.seconds, "u")
        ok0 = [t for s, t in r if s == 200]
        line("200", ok0, a.seconds)
        other = len(r) - len(ok0)
        if other:
            print("  (%d answers were not 200)" % other)
        print("flood: %d clients (%dx) for %.0f s"
              % (base_c * a.factor, a.factor, a.seconds))
        r = drive(srv.port, base_c * a.factor, a.procs, a.seconds, "f")
        ok = [t for s, t in r if s == 200]
        shed = [t for s, t in r if s == 503]
        lost = [t for s, t in r if s not in (200, 503)]
        line("admitted", ok, a.seconds)
        line("shed 503", shed, a.seconds)
        print("  %d connection errors or other answers" % len(lost))
        print("admitted p99 / unloaded p99 = %.2f (bound: 2)"
              % (pct(ok, 0.99) / pct(ok0, 0.99)))
    finally:
        reaper.close()


if __name__ == "__main__":
    main()
