#!/usr/bin/env python3
"""test_overload.py -- overload protection at the gateway (admission.c).

A flood far beyond what the worker may run at once gets fast 503
"overloaded" answers with Retry-After, and every request gets an answer
(nothing lost, nothing hung); an activity with its own max_in_flight is
capped without starving the others; a request that waited past
overload.max_wait_ms after its headers is refused without running; the
refusals are counted in /metrics.  The latency figures of admitted
requests under such a flood are bench/flood.py's to report.
"""
import os
import signal
import socket
import threading
import time

import harness as H

tap = H.Tap()

SLEEP = '{ name = "sleep"; handler = { use = "testplug.sleep"; }; }'
ECHO = '{ name = "echo"; handler = { use = "testplug.echo"; }; }'
ACTS = {"a.conf": H.activities_file(
    H.activity(100, [SLEEP, ECHO]),
    H.activity(200, [SLEEP], extra="max_in_flight = 2;"))}
BOARD = {"b.conf": H.activities_file(H.activity(300, [
    '{ name = "inc"; operations = ( { use = "counter.add";'
    ' params = { key = "pts"; max = 1000; board = "b"; }; } ); }',
    '{ name = "top"; handler = { use = "board.top";'
    ' params = { board = "b"; }; }; }']))}


def body(rid, ms):
    return {"uid": "u%s" % rid, "request_id": "r%s" % rid,
            "params": {"ms": ms}}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else None


def flood(a):
    # max_in_flight 8, each admitted request sleeps 100 ms: capacity
    # 80/s; 40 clients that never pause offer far more than 10x that.
    stop = threading.Event()
    lock = threading.Lock()
    res = {"sent": 0, "answered": 0, "ok": [], "shed": [], "other": [],
           "errors": [], "no_retry_after": 0}

    def client(i):
        conn = a.connect(timeout=10)
        k = 0
        while not stop.is_set():
            k += 1
            with lock:
                res["sent"] += 1
            t0 = time.monotonic()
            try:
                st, js, raw, hd = H.request(conn, "POST", a.path(100, "sleep"),
                                            body("%d-%d" % (i, k), 100))
            except (OSError, H.http.client.HTTPException) as e:
                with lock:
                    res["errors"].append(repr(e))
                conn.close()
                conn = a.connect(timeout=10)
                continue
            dt = time.monotonic() - t0
            with lock:
                res["answered"] += 1
                if st == 200:
                    res["ok"].append(dt)
                elif st == 503 and js and js.get("reason") == "overloaded":
                    res["shed"].append(dt)
                    if "retry-after" not in hd:
                        res["no_retry_after"] += 1
                else:
                    res["other"].append((st, raw[:200]))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(20)
    hung = sum(t.is_alive() for t in threads)
    tap.check(hung == 0, "flood: no client hung", "%d hung" % hung)
    tap.check(not res["errors"] and res["sent"] == res["answered"],
              "flood: every request got an answer (%d sent)" % res["sent"],
              res["errors"][:5], "answered %d" % res["answered"])
    tap.check(not res["other"], "flood: only 200 and 503 overloaded",
              res["other"][:5])
    tap.check(len(res["shed"]) > 5 * len(res["ok"]) > 0,
              "flood: most of it was shed, some admitted",
              "%d shed, %d ok" % (len(res["shed"]), len(res["ok"])))
    tap.eq(res["no_retry_after"], 0, "flood: every 503 has Retry-After")
    p99 = pct(res["shed"], 0.99)
    tap.check(p99 is not None and p99 < 0.1,
              "flood: refusals are fast (p99 %.1f ms)" % ((p99 or 0) * 1000),
              "p50 %.1f ms" % ((pct(res["shed"], 0.5) or 0) * 1000))
    okp = pct(res["ok"], 0.5)
    tap.check(okp is not None and okp < 0.5,
              "flood: admitted requests still ran (p50 %.0f ms)"
              % ((okp or 0) * 1000))
    return len(res["shed"])


def per_activity(a):
    out = []
    lock = threading.Lock()

    def one(i):
        conn = a.connect(timeout=10)
        r = H.request(conn, "POST", a.path(200, "sleep"), body("c%d" % i, 600))
        conn.close()
        with lock:
            out.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    # Activity 100 is not held back by 200's cap.
    t0 = time.monotonic()
    st = a.post(100, "echo", {"uid": "o", "request_id": "other"})[0]
    other = time.monotonic() - t0
    for t in threads:
        t.join(10)
    ok = [r for r in out if r[0] == 200]
    shed = [r for r in out if r[0] == 503]
    tap.check(len(ok) == 2 and len(shed) == 4,
              "activity max_in_flight = 2: 2 of 6 concurrent run, 4 are 503",
              [(r[0], r[2][:120]) for r in out])
    tap.check(shed and all(r[1] and r[1].get("reason") == "overloaded" and
                           "activity 200" in r[1].get("message", "")
                           for r in shed),
              "... overloaded, naming the activity",
              shed[0][2][:200] if shed else "")
    tap.check(st == 200 and other < 0.3,
              "another activity is served meanwhile",
              "%s in %.3f s" % (st, other))


def max_wait(a):
    data = b'{"uid":"w","request_id":"w1"}'
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"POST /v1/activities/100/echo HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: %d\r\n\r\n" % len(data))
    time.sleep(0.4)
    s.sendall(data)
    got, _ = H.read_all(s, 5, done=lambda d: d.endswith(b"}"))
    s.close()
    tap.check(H.parse_raw_response(got) == 503 and b"max_wait_ms" in got,
              "a request that waited 400 ms after its headers is 503 "
              "(max_wait_ms 200)", got[:300])
    st = a.post(100, "echo", {"uid": "w", "request_id": "w2"})[0]
    tap.eq(st, 200, "one that did not wait is served")


def metrics(a, shed):
    conn = H.http.client.HTTPConnection("127.0.0.1", a.admin_port,
                                        timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    n = 0
    for line in text.splitlines():
        if (line.startswith("amsd_requests_total{") and
                'reason="overloaded"' in line):
            n += float(line.rsplit(" ", 1)[1])
    tap.check(n >= shed, "/metrics counts the shed requests",
              "%s counted, %d seen" % (n, shed))


def admin(a, verb, path):
    conn = H.http.client.HTTPConnection("127.0.0.1", a.admin_port,
                                        timeout=30)
    try:
        return H.request(conn, verb, path)
    finally:
        conn.close()


def entry_calls(a):
    text = admin(a, "GET", "/metrics")[2].decode()
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
               if ln.startswith("amsd_plugin_entry_duration_seconds_count"))


def degrade(a):
    k = [0]

    def inc(uid):
        k[0] += 1
        return a.post(300, "inc", {"uid": uid, "request_id": "d%d" % k[0]})

    def board():
        st, js, _ = a.post(300, "top", {"uid": "x", "request_id":
                                        "t%d" % time.monotonic_ns()})
        return sorted(e["uid"] for e in (js or {}).get("data", {})
                      .get("top", [])) if st == 200 else ("error", st)

    def state():
        js = admin(a, "GET", "/admin/degrade")[1] or {}
        return {n: v.get("on") for n, v in js.get("switches", {}).items()}

    inc("a")
    tap.eq(board(), ["a"], "degrade: with every switch on the board is "
           "updated")
    tap.eq(state(), {"board_updates": True, "plugin_timing": True},
           "degrade: GET /admin/degrade shows every switch on")
    st, js, raw, _ = admin(a, "POST", "/admin/degrade?off=board_updates")
    tap.check(st == 200 and js["switches"]["board_updates"]["on"] is False
              and js.get("workers_missing") == 0,
              "degrade: POST ?off=board_updates turns it off in every "
              "worker", raw[:300])
    st, js, _ = inc("b")
    tap.check(st == 200 and js.get("code") == 0,
              "degrade: the operation still succeeds", js)
    tap.eq(board(), ["a"], "degrade: ... but the board is not updated")
    recs = (admin(a, "GET", "/admin/audit")[1] or {}).get("records", [])
    tap.check(any(r.get("path") == "/admin/degrade" and
                  r.get("query") == "off=board_updates" and
                  r.get("status") == 200 for r in recs),
              "degrade: the change is in the audit log", recs[-2:])
    st, _, _, _ = admin(a, "POST", "/admin/reload")
    tap.check(st == 200 and state()["board_updates"] is False,
              "degrade: the switch survives a reload")
    inc("c")
    tap.eq(board(), ["a"], "... and is still applied after it")
    old = a.worker_pids()
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    a.wait_workers(2, exclude=old)
    H.wait_until(lambda: a.healthz()[0] == 200, 10)
    inc("d")
    tap.eq(board(), ["a"], "degrade: a restarted worker inherits the "
           "switch")
    n0 = entry_calls(a)
    st, _, _, _ = admin(a, "POST",
                        "/admin/degrade?on=board_updates&off=plugin_timing")
    for _ in range(3):
        inc("e")
    n1 = entry_calls(a)
    tap.check(st == 200 and board() == ["a", "e"],
              "degrade: ?on=board_updates turns it back on", board())
    admin(a, "POST", "/admin/degrade?on=plugin_timing")
    inc("f")
    n2 = entry_calls(a)
    tap.check(n1 == n0 and n2 > n1,
              "degrade: plugin_timing off stops the per-plugin timing "
              "metrics, on starts them again", (n0, n1, n2))
    st, js, raw, _ = admin(a, "POST", "/admin/degrade?off=nope")
    tap.check(st == 400 and b"nope" in raw and b"board_updates" in raw,
              "degrade: an unknown switch is 400 naming it and the known "
              "ones", raw[:300])


def main():
    with tap.section("flood"), H.Amsd(
            tap, ACTS, workers=1,
            extra="overload = { max_in_flight = 8; max_wait_ms = 200; };\n"
            ) as a:
        a.start()
        shed = flood(a)
        per_activity(a)
        max_wait(a)
        metrics(a, shed)
    with tap.section("degrade"), H.Amsd(
            tap, BOARD, workers=2,
            plugins=("counter", "board")) as a:
        a.start()
        degrade(a)


tap.run(main)
