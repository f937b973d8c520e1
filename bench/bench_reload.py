#!/usr/bin/env python3
"""bench_reload.py -- how long a reload takes, by number of activities.

    python3 bench/bench_reload.py [--activities 1000] [--reloads 10]

Starts build/core/amsd (2 workers, LMDB sync none) twice: once with one
activity (the baseline) and once with N activities that use the bundled
plugins (a crowd tag rule, limits, a coupon kind with stock, a pool draw,
a status handler), and times POST /admin/reload from the client's side:
snapshot, two-phase prepare (every worker parses, resolves, validates and
inits the whole set) and commit.  Prints min / median / max.  Nothing is
asserted.  Loopback only; it stops by itself.
"""
import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ACTIVITY = """  {
    id = %(id)d; name = "bench %(id)d"; tenant = "bench";
    start = "2026-01-01T00:00:00+08:00"; end = "2030-12-31T23:59:59+08:00";
    crowd = { use = "tag.match"; params = { tag = "member"; }; };
    resources = {
      coupons = ( { name = "c"; value = 10; stock = 1000; } );
      pools = ( { name = "p"; prizes = (
        { name = "big"; stock = 1; weight = 1.0; value = 100; },
        { name = "small"; stock = 100; weight = 99.0; value = 1; } ); } );
    };
    methods = (
      { name = "grab"; login = true; limits = { user_total = 1; };
        operations = ( { use = "coupon.grant"; params = { coupon = "c"; }; } ); },
      { name = "draw"; login = true; limits = { user_daily = 3; };
        rule = { use = "param.compare";
                 params = { field = "amount"; op = "ge"; value = 1.0; }; };
        operations = ( { use = "pool.draw"; params = { pool = "p"; }; } ); },
      { name = "status"; login = true;
        handler = { use = "status.show"; params = { pool = "p"; }; }; }
    );
  }"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(n, reloads):
    d = tempfile.mkdtemp(prefix="amsd-bench-reload-")
    acts = os.path.join(d, "activities")
    os.makedirs(acts)
    with open(os.path.join(acts, "bench.conf"), "w") as f:
        f.write("activities = (\n%s\n);\n" % ",\n".join(
            ACTIVITY % {"id": 100000 + i} for i in range(n)))
    port, admin = free_port(), free_port()
    conf = os.path.join(d, "amsd.conf")
    with open(conf, "w") as f:
        f.write('listen = "127.0.0.1:%d";\nadmin = "127.0.0.1:%d";\n'
                'workers = 2;\nstore = "lmdb:%s/store";\n'
                'plugins = "%s/build/plugins";\nactivities = "%s";\n'
                'log_level = "warn";\nlmdb = { sync = "none"; };\n'
                % (port, admin, d, ROOT, acts))
    proc = subprocess.Popen([os.path.join(ROOT, "build/core/amsd"), "-c",
                             conf], stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - t0 > 120:
                raise SystemExit("amsd did not start")
            time.sleep(0.05)
        start_s = time.monotonic() - t0
        times = []
        for _ in range(reloads):
            c = http.client.HTTPConnection("127.0.0.1", admin, timeout=300)
            t = time.monotonic()
            c.request("POST", "/admin/reload", body=b"")
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit("reload answered %d" % r.status)
            times.append((time.monotonic() - t) * 1000)
        print("%5d activities: start %.2f s; reload ms min %.1f median %.1f "
              "max %.1f (%d reloads)" % (n, start_s, min(times),
                                        statistics.median(times),
                                        max(times), reloads))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--activities", type=int, default=1000)
    ap.add_argument("--reloads", type=int, default=10)
    a = ap.parse_args()
    run(1, a.reloads)
    run(a.activities, a.reloads)


if __name__ == "__main__":
    sys.exit(main())
