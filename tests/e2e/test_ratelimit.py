#!/usr/bin/env python3
"""test_ratelimit.py -- rate limits (GCRA) end to end, on the real amsd.

- a 429 carries reason rate_limited, a message naming the limit,
  Retry-After (whole seconds, rounded up) and RateLimit-Limit /
  -Remaining / -Reset / -Policy; admitted answers count Remaining down;
- attempts count, not successes: with a limit of 3, requests the rule
  refuses use the budget up too, and of 10 attempts exactly 3 get past
  the limiter;
- a shadow limit refuses nothing, and /metrics counts what it would have
  refused (amsd_ratelimit_total{limit,outcome});
- exactness under concurrency: a limit of N per window lets exactly N
  through from 64 concurrent connections, on LMDB and on mem: with 2
  workers (the node's shared-memory table) and across two amsd nodes sharing one real
  redis-server (the store's script), each node with 2 workers;
- amsd.conf's limits apply to every method, and a reload changes them;
  a bad limit in an activity file is a file:line error of `amsd -t`.

Every limit here is per hour with a burst, so nothing refills while a
test runs: the counts are exact, not statistical.
"""
import http.client
import os
import re
import socket
import subprocess
import threading

import harness as H
import redisd

tap = H.Tap()
AID = 4001
N = 50     # the concurrency limit
CONNS = 64


def methods():
    return [
        '{ name = "hit"; handler = { use = "testplug.echo"; };'
        ' rate_limits = ( { key = "uid"; rate = "1/h"; burst = 5; } ); }',
        '{ name = "flagged"; rule = { use = "testplug.flag"; };'
        ' handler = { use = "testplug.echo"; };'
        ' rate_limits = ( { key = "uid"; rate = "1/h"; burst = 3; } ); }',
        '{ name = "shadowed"; handler = { use = "testplug.echo"; };'
        ' rate_limits = ( { key = "uid"; rate = "1/h"; burst = 2;'
        ' shadow = true; } ); }',
        '{ name = "grab"; handler = { use = "testplug.echo"; };'
        ' rate_limits = ( { key = "method"; rate = "1/h"; burst = %d; } ); }'
        % N,
        '{ name = "free"; handler = { use = "testplug.echo"; }; }',
    ]


def acts():
    return {"rl.conf": H.activities_file(H.activity(AID, methods()))}


def post(a, method, uid, rid, params=None, conn=None):
    body = {"uid": uid, "request_id": rid}
    if params is not None:
        body["params"] = params
    return a.request("POST", a.path(AID, method), body, conn=conn)


def scrape(a):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=30)
    try:
        return a.request("GET", "/metrics", conn=conn)[2].decode()
    finally:
        conn.close()


def metric(text, limit, outcome):
    m = re.search(r'^amsd_ratelimit_total\{limit="%s",outcome="%s"\} (\d+)$'
                  % (re.escape(limit), outcome), text, re.M)
    return int(m.group(1)) if m else 0


def reload(a):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=60)
    try:
        return a.request("POST", "/admin/reload", b"", conn=conn)[0]
    finally:
        conn.close()


# ------------------------------------------------------------- scenarios

def test_headers(a):
    rem = []
    for k in range(5):
        st, js, raw, h = post(a, "hit", "hdr", "h%d" % k)
        rem.append((st, h.get("ratelimit-remaining")))
    tap.eq(rem, [(200, "4"), (200, "3"), (200, "2"), (200, "1"),
                 (200, "0")],
           "burst 5: five admitted, RateLimit-Remaining 4..0")
    st, js, raw, h = post(a, "hit", "hdr", "h5")
    tap.eq(st, 429, "the 6th: 429")
    tap.eq((js or {}).get("reason"), "rate_limited", "reason rate_limited")
    tap.eq((js or {}).get("code"), 429, "code 429")
    tap.eq((js or {}).get("request_id"), "h5", "the answer names the request")
    tap.check('"%d.hit:uid"' % AID in (js or {}).get("message", ""),
              "the message names the limit", raw)
    sock = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    body = b'{"uid":"hdr","request_id":"h6"}'
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n%s"
                 % (a.path(AID, "hit").encode(), len(body), body))
    status_line = H.read_all(sock, 10)[0].split(b"\r\n", 1)[0]
    sock.close()
    tap.eq(status_line, b"HTTP/1.1 429 Too Many Requests",
           "the status line says Too Many Requests")
    tap.eq(h.get("retry-after"), "3600",
           "Retry-After: the next unit in just under an hour, rounded up")
    tap.eq(h.get("ratelimit-limit"), "5", "RateLimit-Limit: the burst")
    tap.eq(h.get("ratelimit-remaining"), "0", "RateLimit-Remaining: 0")
    tap.eq(h.get("ratelimit-reset"), "18000",
           "RateLimit-Reset: the whole burst back in 5 h")
    tap.eq(h.get("ratelimit-policy"),
           '1;w=3600;burst=5;policy="%d.hit:uid"' % AID, "RateLimit-Policy")
    st, js, raw, h = post(a, "hit", "other", "o1")
    tap.eq((st, h.get("ratelimit-remaining")), (200, "4"),
           "another uid: a bucket of its own")
    st, js, raw, h = post(a, "free", "hdr", "f1")
    tap.check(st == 200 and "ratelimit-limit" not in h,
              "a method without limits: no RateLimit headers", h)


def test_attempts_count(a):
    got = []
    for k in range(3):  # refused by the rule: still attempts
        st, js, raw, h = post(a, "flagged", "att", "a%d" % k,
                              params={"pass": False})
        got.append((st, (js or {}).get("reason")))
    tap.eq(got, [(200, "not_eligible")] * 3,
           "three attempts the rule refuses are answered by the rule")
    st, js, raw, h = post(a, "flagged", "att", "a3", params={"pass": True})
    tap.eq((st, (js or {}).get("reason")), (429, "rate_limited"),
           "then one the rule would admit: 429, the refused three counted")
    past = 0
    for k in range(10):
        st, js, raw, h = post(a, "flagged", "att2", "b%d" % k,
                              params={"pass": k % 2 == 0})
        past += st != 429
    tap.eq(past, 3, "limit 3, 10 attempts (half refused by the rule): "
                    "exactly 3 got past the limiter")


def test_shadow(a):
    sts = [post(a, "shadowed", "sh", "s%d" % k)[0] for k in range(10)]
    tap.eq(sts, [200] * 10, "a shadow limit of 2: all 10 admitted")
    text = scrape(a)
    label = "%d.shadowed:uid" % AID
    tap.eq((metric(text, label, "allowed"),
            metric(text, label, "shadow_refused"),
            metric(text, label, "refused")), (2, 8, 0),
           "metrics: 2 allowed, 8 shadow_refused, none refused")
    tap.check(metric(text, "%d.hit:uid" % AID, "refused") >= 1,
              "metrics: the hit limit's refusals are counted")


def flood(nodes, method="grab", conns=CONNS, per_conn=4):
    """conns connections spread over nodes, each sending per_conn
    requests (distinct uids) at once; returns the statuses."""
    out, lock = [], threading.Lock()
    barrier = threading.Barrier(conns)

    def body(i):
        a = nodes[i % len(nodes)]
        conn = a.connect(timeout=60)
        try:
            barrier.wait(30)
            for k in range(per_conn):
                st = post(a, method, "u%d_%d" % (i, k), "r%d_%d" % (i, k),
                          conn=conn)[0]
                with lock:
                    out.append((a.name, st))
        finally:
            conn.close()

    errors = H.run_threads(conns, body, 120)
    tap.check(not errors, "every client finished", *errors)
    return out


def check_exact(out, nodes, where):
    ok = sum(1 for _, st in out if st == 200)
    other = [st for _, st in out if st not in (200, 429)]
    tap.eq(ok, N, "%s: %d attempts over %d connections, exactly %d admitted"
           % (where, len(out), CONNS, N))
    tap.eq(other, [], "%s: every other answer is 429" % where)
    if len(nodes) > 1:
        per = {a.name: sum(1 for n, st in out if n == a.name and st == 200)
               for a in nodes}
        tap.check(all(v > 0 for v in per.values()),
                  "%s: both nodes admitted some (%r)" % (where, per))


def test_lmdb_exact():
    with H.Amsd(tap, acts(), workers=2) as a:
        a.start()
        pids = a.worker_pids()
        tap.eq(len(pids), 2, "LMDB node: 2 workers")
        out = flood([a])
        check_exact(out, [a], "LMDB, 2 workers")
        text = scrape(a)
        tap.eq(metric(text, "%d.grab:method" % AID, "allowed"), N,
               "metrics: N allowed, summed over the workers")
        # The other scenarios on the same node.
        with tap.section("headers"):
            test_headers(a)
        with tap.section("attempts"):
            test_attempts_count(a)
        with tap.section("shadow"):
            test_shadow(a)


def test_mem_exact():
    """mem: is process-local, but the limits are the node's table."""
    with H.Amsd(tap, acts(), workers=2, store="mem:") as a:
        a.start()
        check_exact(flood([a]), [a], "mem:, 2 workers")


def test_redis_exact():
    r = redisd.RedisServer()
    try:
        nodes = []
        for name in ("node-a", "node-b"):
            nodes.append(H.Amsd(tap, acts(), workers=2, name=name,
                                store=r.uri).start())
        out = flood(nodes)
        check_exact(out, nodes, "two nodes on one Redis")
        pre = 0
        for a in nodes:
            m = re.search(r'^amsd_ratelimit_events_total\{event="prefilter"\}'
                          r' (\d+)$', scrape(a), re.M)
            pre += int(m.group(1)) if m else 0
        tap.check(pre > 0, "the pre-filter refused %d of the %d refusals "
                  "without a store call" % (pre, len(out) - N))
        with redisd.Client(r.port) as c:
            keys = c.cmd("KEYS", "R:*")
        tap.check(any("grab:method" in k for k in keys),
                  "the bucket is in Redis", keys)
        # One bucket for both nodes: the headers agree across them.
        st, js, raw, h = post(nodes[0], "hit", "xn", "x1")
        st2, js2, raw2, h2 = post(nodes[1], "hit", "xn", "x2")
        tap.eq((h.get("ratelimit-remaining"), h2.get("ratelimit-remaining")),
               ("4", "3"), "a uid's bucket is shared by the nodes")
        # Redis away: the limits let the attempt through, and it meets
        # the store fault itself (503, not 429).
        r.stop()
        st, js, raw, h = post(nodes[0], "hit", "down", "d1")
        tap.eq((st, (js or {}).get("reason")), (503, "store_unavailable"),
               "Redis stopped: 503 store_unavailable, not 429")
        m = re.search(r'^amsd_ratelimit_events_total\{event="store_error"\}'
                      r' (\d+)$', scrape(nodes[0]), re.M)
        tap.check(m and int(m.group(1)) >= 1,
                  "metrics: the limiter counted the store error", m)
        for a in nodes:
            a.end()
    finally:
        r.close()


def test_global_and_reload():
    limit = ('rate_limits = ( { key = "uid"; rate = "1/h"; burst = %d; } );\n')
    a = H.Amsd(tap, acts(), extra=limit % 2)
    with a:
        a.start()
        sts = [post(a, "free", "g", "g%d" % k)[0] for k in range(3)]
        tap.eq(sts, [200, 200, 429],
               "amsd.conf's limit (burst 2) applies to a method of its own")
        st, js, raw, h = post(a, "free", "g", "g3")
        tap.check('"uid"' in (js or {}).get("message", ""),
                  "its label is its name", raw)
        st, js, raw, h = post(a, "hit", "g", "g4")
        tap.eq(st, 200, "the method's own uid limit replaces amsd.conf's")
        a.extra = limit % 10
        a.write_conf()
        tap.eq(reload(a), 200, "reload: 200")
        st = post(a, "free", "g", "g5")[0]
        tap.eq(st, 200, "after a reload raising the burst to 10: admitted")


def test_check_errors():
    bad = H.activities_file(H.activity(AID, [
        '{ name = "m"; handler = { use = "testplug.echo"; };\n'
        ' rate_limits = ( { key = "uid"; rate = "lots"; } ); }']))
    a = H.Amsd(tap, {"bad.conf": bad})
    with a:
        p = subprocess.run([H.AMSD, "-t", "-c", a.conf_path],
                           capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        path = os.path.join(a.activities_dir, "bad.conf")
        tap.check(p.returncode != 0 and
                  re.search(re.escape(path) + r':\d+: rate_limits: rate '
                            r'"lots"', out),
                  "amsd -t: a bad rate is file:line", out)


def main():
    with tap.section("LMDB"):
        test_lmdb_exact()
    with tap.section("mem"):
        test_mem_exact()
    with tap.section("Redis"):
        test_redis_exact()
    with tap.section("global and reload"):
        test_global_and_reload()
    with tap.section("amsd -t"):
        test_check_errors()


tap.run(main)
