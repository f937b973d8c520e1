#!/usr/bin/env python3
"""bench_reload_scale.py -- a reload among thousands of activity files,
and what it costs the requests served meanwhile.

    python3 bench/bench_reload_scale.py [--scale 10000] [--reloads 10]
                                        [--plugin-reloads 2] [--conns 4]
                                        [--log FILE]

Writes N activity files of one activity each (the shipped 1003 flash
sale under distinct ids), starts build/core/amsd on them (2 workers, LMDB
sync none, a private copy of build/plugins) and reports what grows with
N: the time of `amsd -t`, the start, reloads after editing one file
(each reload edits another one) and after changing one plugin file
(--plugin-reloads: a byte appended to status.so, so every plugin is
loaded and every activity parsed again), and the latency of requests to
one activity (its `status` method, over --conns keep-alive connections
from Python, a steady trickle) while nothing happens and while the
reloads run: p50 / p99 / max, and the extra p99 / max a reload costs.
Nothing is asserted.  Loopback only; it stops by itself.  (bench_reload.py
is the same under wrk; this one also changes a plugin.)
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scale_activity(path, aid, tag):
    """Write the shipped flash sale (conf/activities/1003-flash-sale.conf)
    to path as activity aid; tag changes its name (an edit)."""
    with open(os.path.join(ROOT, "conf/activities/1003-flash-sale.conf")) as f:
        text = f.read()
    text = text.replace("id = 1003;", "id = %d;" % aid)
    text = text.replace('name = "card binding flash sale";',
                        'name = "flash sale %d %s";' % (aid, tag))
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def wait_healthy(admin, limit_s):
    t0 = time.monotonic()
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        if time.monotonic() - t0 > limit_s:
            raise SystemExit("amsd did not start")
        time.sleep(0.05)


class Prober:
    """conns threads each POSTing status calls to one activity in a loop;
    every answer's (start, latency ms) is kept."""

    def __init__(self, port, aid, conns):
        self.port, self.aid, self.stop = port, aid, False
        self.samples, self.bad = [], 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(i,))
                        for i in range(conns)]
        for t in self.threads:
            t.start()

    def loop(self, k):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        i = 0
        while not self.stop:
            body = json.dumps({"uid": "u%d" % (i % 100),
                               "request_id": "p%d-%d" % (k, i)})
            i += 1
            t = time.monotonic()
            c.request("POST", "/v1/activities/%d/status" % self.aid, body,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            ms = (time.monotonic() - t) * 1000
            with self.lock:
                self.samples.append((t, ms))
                self.bad += r.status != 200
            time.sleep(0.002)  # a steady trickle, not a saturating load
        c.close()

    def window(self, t0, t1):
        with self.lock:
            return sorted(ms for t, ms in self.samples if t0 <= t < t1)

    def end(self):
        self.stop = True
        for t in self.threads:
            t.join()


def pcts(lat):
    if not lat:
        return (0.0, 0.0, 0.0)
    p = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]
    return (p(0.5), p(0.99), lat[-1])


def timed_reloads(admin, probe, count, change):
    """count reloads, each after change(k); returns (reload ms list,
    latencies of the requests started during them or 0.1 s before)."""
    times, lat = [], []
    for k in range(count):
        change(k)
        c = http.client.HTTPConnection("127.0.0.1", admin, timeout=300)
        t = time.monotonic()
        c.request("POST", "/admin/reload", body=b"")
        r = c.getresponse()
        r.read()
        t1 = time.monotonic()
        if r.status != 200:
            raise SystemExit("reload answered %d" % r.status)
        times.append((t1 - t) * 1000)
        time.sleep(0.3)  # requests still queued behind it
        lat.extend(probe.window(t - 0.1, t1))
    return times, sorted(lat)


def run_scale(n, reloads, conns, log=None, plugin_reloads=0):
    d = tempfile.mkdtemp(prefix="amsd-bench-reload-")
    acts = os.path.join(d, "activities")
    plugins = os.path.join(d, "plugins")
    os.makedirs(acts)
    shutil.copytree(os.path.join(ROOT, "build/plugins"), plugins,
                    ignore=lambda _, names: [x for x in names
                                             if not x.endswith(".so")])
    files = []
    for i in range(n):
        path = os.path.join(acts, "%06d-sale.conf" % i)
        scale_activity(path, 100000 + i, "v0")
        files.append(path)
    port, admin = free_port(), free_port()
    conf = os.path.join(d, "amsd.conf")
    with open(conf, "w") as f:
        f.write('listen = "127.0.0.1:%d";\nadmin = "127.0.0.1:%d";\n'
                'workers = 2;\nstore = "lmdb:%s/store";\n'
                'plugins = "%s";\nactivities = "%s";\n'
                'log_level = "warn";\nlmdb = { sync = "none"; };\n'
                'auth = "body";\n'
                % (port, admin, d, plugins, acts))
    amsd = os.path.join(ROOT, "build/core/amsd")
    t = time.monotonic()
    chk = subprocess.run([amsd, "-t", "-c", conf], capture_output=True)
    check_s = time.monotonic() - t
    if chk.returncode != 0:
        raise SystemExit("amsd -t failed: %s" % chk.stderr.decode()[-2000:])
    logf = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen([amsd, "-c", conf], stderr=logf)

    def edit(k):
        i = (k * 7919) % n
        scale_activity(files[i], 100000 + i, "v%d" % (k + 1))

    def rebuild_plugin(k):
        # Another sha256 for status.so (a byte after the ELF image): every
        # plugin is loaded again and every activity parsed again.
        with open(os.path.join(plugins, "status.so"), "ab") as f:
            f.write(b"\0")

    try:
        start_s = wait_healthy(admin, 300)
        probe = Prober(port, 100000 + n // 2, conns)
        time.sleep(1.0)  # warm up
        quiet0 = time.monotonic()
        time.sleep(3.0)
        quiet1 = time.monotonic()
        times, during = timed_reloads(admin, probe, reloads, edit)
        ptimes, pduring = timed_reloads(admin, probe, plugin_reloads,
                                        rebuild_plugin)
        probe.end()
        quiet = probe.window(quiet0, quiet1)
        base = pcts(quiet)
        print("%d activity files: amsd -t %.2f s; start %.2f s" %
              (n, check_s, start_s))
        print("  status latency ms without reload: p50 %.2f p99 %.2f max "
              "%.2f (%d requests)" % (base + (len(quiet),)))
        for what, tms, lat in (("one activity file edited", times, during),
                               ("one plugin file changed", ptimes,
                                pduring)):
            if not tms:
                continue
            dur = pcts(lat)
            print("  reload, %s, ms: min %.1f median %.1f max %.1f "
                  "(%d reloads)" % (what, min(tms), statistics.median(tms),
                                    max(tms), len(tms)))
            print("    status latency ms during them: p50 %.2f p99 %.2f "
                  "max %.2f (%d requests); extra p99 %+.2f ms, max %+.2f "
                  "ms" % (dur + (len(lat), dur[1] - base[1],
                                 dur[2] - base[2])))
        print("  %d answers were not 200" % probe.bad)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=10000,
                    help="activity files (one activity each)")
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--plugin-reloads", type=int, default=2,
                    help="reloads after a plugin file changed")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--log", help="amsd's log to this file")
    a = ap.parse_args()
    run_scale(a.scale, a.reloads, a.conns, a.log, a.plugin_reloads)


if __name__ == "__main__":
    sys.exit(main())
