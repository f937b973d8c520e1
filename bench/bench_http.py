#!/usr/bin/env python3
"""bench_http.py -- requests per second through the real amsd, with a
baseline in the same run.

    python3 bench/bench_http.py [--requests N] [--conns C] [--workers W]
                                [--stores none,full,redis]

For each store (LMDB with sync none, LMDB with sync full, a private
redis-server with no persistence) it starts build/core/amsd with the
shipped activities and drives, over C keep-alive connections:
  baseline  9001/balance for a user: the whole chain (idempotency record,
            session lock, one counter read) but no grant;
  bind      1003/bind: the chain plus one tag write;
  grab      1003/grab: the chain, limits, a stocked coupon and the ledger
            (each user once; most answers are sold_out after 100);
and prints requests/s and latency percentiles.  Nothing is asserted:
compare the lines of one run.  Loopback only; it stops by itself.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import redisd  # noqa: E402  (a private redis-server)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(mode, workers, redis):
    d = tempfile.mkdtemp(prefix="amsd-bench-")
    port, admin = free_port(), free_port()
    conf = os.path.join(d, "amsd.conf")
    store = redis.uri if redis else "lmdb:%s/store" % d
    with open(conf, "w") as f:
        f.write('listen = "127.0.0.1:%d";\nadmin = "127.0.0.1:%d";\n'
                'workers = %d;\nstore = "%s";\n'
                'plugins = "%s/build/plugins";\n'
                'activities = "%s/conf/activities";\nlog_level = "warn";\n'
                'auth = "body";\n'
                % (port, admin, workers, store, ROOT, ROOT))
        if not redis:
            f.write('lmdb = { sync = "%s"; };\n' % mode)
    proc = subprocess.Popen([os.path.join(ROOT, "build/core/amsd"), "-c",
                             conf], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", admin, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc, port, d
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("amsd did not start")


def drive(port, path, bodies, conns):
    """POST every body over conns connections; returns (seconds,
    latencies in ms, non-200 count)."""
    lat, bad = [], [0]
    lock = threading.Lock()
    slices = [bodies[i::conns] for i in range(conns)]

    def one(chunk):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for b in chunk:
            t = time.perf_counter()
            c.request("POST", path, json.dumps(b),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            mine.append((time.perf_counter() - t) * 1000)
            if r.status != 200:
                with lock:
                    bad[0] += 1
        c.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=one, args=(s,)) for s in slices]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, sorted(lat), bad[0]


def report(sync, name, n, secs, lat, bad):
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))]
    print("%-5s %-9s %7d req  %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms%s"
          % (sync, name, n, n / secs, pct(0.5), pct(0.99),
             "  (%d non-200)" % bad if bad else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stores", default="none,full,redis")
    a = ap.parse_args()
    n = a.requests
    print("amsd %d workers, %d connections, %d requests per line"
          % (a.workers, a.conns, n))
    for sync in a.stores.split(","):
        redis = redisd.RedisServer() if sync == "redis" else None
        proc, port, d = start(sync, a.workers, redis)
        try:
            for name, path, mk in [
                    ("baseline", "/v1/activities/9001/balance",
                     lambda i: {"uid": "u%d" % (i % 500),
                                "request_id": "b%d" % i}),
                    ("bind", "/v1/activities/1003/bind",
                     lambda i: {"uid": "u%d" % i, "request_id": "n%d" % i}),
                    ("grab", "/v1/activities/1003/grab",
                     lambda i: {"uid": "u%d" % i, "request_id": "g%d" % i})]:
                secs, lat, bad = drive(port, path, [mk(i) for i in range(n)],
                                       a.conns)
                report(sync, name, n, secs, lat, bad)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            shutil.rmtree(d, ignore_errors=True)
            if redis:
                redis.close()


if __name__ == "__main__":
    sys.exit(main())
