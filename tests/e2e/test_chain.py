"""test_chain.py -- the interceptor chain, end to end: idempotent replays
(byte for byte, nothing granted twice), request_id reuse (409), the
per-user session lock under real concurrency (busy, never queued),
method limits (per user, per day in the activity's time zone, for the
whole activity, given back when an operation fails), conditional
operations, the grant ledger, faults not stored, and a request cut off by
a killed worker (its retry runs the request again, its limit given back,
its lock taken over at once).
"""
import os
import signal
import threading
import time

import harness as H

tap = H.Tap()

DAY = 86400000
T0 = H.iso_ms("2027-03-01T12:00:00+00:00")

ACTS = H.activities_file(
    H.activity(700, [
        # grant + count: what a replay must not do twice
        '{ name = "take"; login = true;'
        ' operations = ( { use = "testplug.grant";'
        ' params = { kind = "coupon"; item = "c1"; amount = 5; }; },'
        ' { use = "testplug.count"; params = { key = "taken"; max = 1000; };'
        ' } ); }',
        '{ name = "taken"; handler = { use = "counter.get";'
        ' params = { key = "taken"; scope = "activity"; }; }; }',
        '{ name = "ledger"; login = true;'
        ' handler = { use = "testplug.ledger"; }; }',
        # the session lock: a slow method
        '{ name = "slow"; login = true;'
        ' handler = { use = "testplug.sleep"; params = { ms = 1500; }; }; }',
        '{ name = "slow_once"; login = true; limits = { user_total = 1; };'
        ' handler = { use = "testplug.sleep"; params = { ms = 1500; }; }; }',
        '{ name = "anon_slow";'
        ' handler = { use = "testplug.sleep"; params = { ms = 800; }; }; }',
        # limits
        '{ name = "twice"; login = true; limits = { user_total = 2; };'
        ' handler = { use = "testplug.echo"; }; }',
        '{ name = "daily"; login = true; limits = { user_daily = 1; };'
        ' handler = { use = "testplug.echo"; }; }',
        '{ name = "three"; login = true; limits = { total = 3; };'
        ' handler = { use = "testplug.echo"; }; }',
        '{ name = "soldout"; login = true; limits = { user_total = 1; };'
        ' operations = ( { use = "testplug.fail";'
        ' params = { reason = "sold_out"; }; } ); }',
        '{ name = "picky"; login = true; limits = { user_total = 1; };'
        ' rule = { use = "testplug.flag"; };'
        ' handler = { use = "testplug.echo"; }; }',
        # conditional operations
        '{ name = "maybe"; login = true;'
        ' operations = ( { use = "testplug.grant"; params = { item = "a"; };'
        ' when = { use = "testplug.flag"; }; },'
        ' { use = "testplug.grant"; params = { item = "b"; }; } ); }',
        '{ name = "fault"; login = true;'
        ' operations = ( { use = "testplug.fault"; } ); }',
    ]),
)


def body(rid, uid="u1", **params):
    b = {"request_id": rid, "uid": uid}
    if params:
        b["params"] = params
    return b


def code_of(js):
    return (js or {}).get("code"), (js or {}).get("reason")


def test_idempotency(a):
    st1, js1, raw1 = a.post(700, "take", body("once-1"))
    tap.eq(code_of(js1), (0, "ok"), "first take: ok")
    tap.check([g["item"] for g in js1["data"].get("grants", [])] == ["c1"],
              "the answer lists the grant", repr(raw1))
    st2, js2, raw2 = a.post(700, "take", body("once-1"))
    tap.check(st2 == st1 and raw2 == raw1,
              "a replay gets the first answer byte for byte",
              repr(raw1), repr(raw2))
    _, js, _ = a.post(700, "taken", body("read-1"))
    tap.eq(js["data"].get("taken"), 1, "the replay counted nothing again")
    _, js, _ = a.post(700, "ledger", body("led-1"))
    ledger = js["data"]["ledger"]
    tap.eq(len(ledger), 1, "the ledger holds one grant")
    g = ledger[0] if ledger else {}
    tap.check(g.get("kind") == "coupon" and g.get("item") == "c1" and
              g.get("amount") == 5 and g.get("request_id") == "once-1" and
              g.get("method") == "take" and isinstance(g.get("ts"), int) and
              g.get("extra") == {"note": "test"},
              "a ledger entry says what, how much, when, by which request",
              repr(g))

    st, js, _ = a.post(700, "take", body("once-1", x=1))
    tap.check(st == 409 and code_of(js) == (409, "request_id_reused"),
              "same request_id, other params: 409 request_id_reused",
              repr(js))
    st, js, _ = a.post(700, "taken", body("once-1"))
    tap.eq(st, 409, "same request_id on another method: 409")
    st, js, _ = a.post(700, "take", body("once-1", uid="u2"))
    tap.eq(code_of(js), (0, "ok"),
           "the same request_id of another user is another request")


def test_busy(a):
    results = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def one(i):
        conn = a.connect()
        try:
            start.wait()
            t0 = time.monotonic()
            st, js, raw = a.post(700, "slow", body("slow-%d" % i), conn=conn)
            with lock:
                results.append((code_of(js), time.monotonic() - t0))
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    oks = [r for r in results if r[0] == (0, "ok")]
    busy = [r for r in results if r[0] == (1007, "busy")]
    tap.check(len(results) == 20 and len(oks) == 1 and len(busy) == 19,
              "20 concurrent calls of one user: exactly 1 runs, 19 busy",
              repr(results))
    tap.check(busy and max(t for _, t in busy) < 1.0,
              "busy is answered at once, not queued behind the sleeper",
              repr(busy))
    st, js, _ = a.post(700, "slow", body("slow-3"))
    tap.eq(code_of(js), (0, "ok"),
           "busy was not stored: the same request_id runs later")

    # Without a uid there is no user to lock: anonymous callers of a
    # method without login run side by side.
    anon = []
    gate = threading.Barrier(8)

    def anon_one(i):
        conn = a.connect()
        try:
            gate.wait()
            _, js, _ = a.post(700, "anon_slow",
                              {"request_id": "anon-%d" % i}, conn=conn)
            with lock:
                anon.append(code_of(js))
        finally:
            conn.close()

    ts = [threading.Thread(target=anon_one, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    tap.eq(anon, [(0, "ok")] * 8,
           "8 concurrent anonymous calls (no login, no uid) all run: no "
           "shared lock makes them busy")


def test_limits(a):
    got = [code_of(a.post(700, "twice", body("tw-%d" % i))[1])
           for i in range(3)]
    tap.eq(got, [(0, "ok"), (0, "ok"), (1006, "limit_reached")],
           "user_total = 2: the third call is limit_reached")
    _, js, _ = a.post(700, "twice", body("tw-9"))
    tap.eq((js.get("detail") or {}).get("limit"), "user_total",
           "detail names the limit")
    _, js, _ = a.post(700, "twice", body("tw-x", uid="other"))
    tap.eq(code_of(js), (0, "ok"), "another user has limits of its own")

    def day(rid, t):
        return code_of(a.post(700, "daily", body(rid),
                              headers={"X-AMS-Now": str(t)})[1])
    tap.eq([day("d1", T0), day("d2", T0 + 3600000), day("d3", T0 + DAY)],
           [(0, "ok"), (1006, "limit_reached"), (0, "ok")],
           "user_daily = 1: again the same day is refused, the next day "
           "runs")

    got = [code_of(a.post(700, "three", body("th-%d" % i, uid="t%d" % i))[1])
           for i in range(4)]
    tap.eq(got, [(0, "ok")] * 3 + [(1006, "limit_reached")],
           "total = 3 across users: the fourth user is refused")

    got = [code_of(a.post(700, "soldout", body("so-%d" % i))[1])
           for i in range(2)]
    tap.eq(got, [(1008, "sold_out")] * 2,
           "a failed operation gives its limit back (sold_out twice, not "
           "limit_reached)")
    got = [code_of(a.post(700, "picky", body("pk-%d" % i))[1])
           for i in range(2)]
    tap.eq(got, [(1005, "not_eligible")] * 2,
           "a failing rule takes no limit")
    _, js, _ = a.post(700, "picky", body("pk-3", **{"pass": True}))
    tap.eq(code_of(js), (0, "ok"), "and the limit is still there to use")


def test_when(a):
    _, js, _ = a.post(700, "maybe", body("w1", **{"pass": True}))
    items = [g["item"] for g in js["data"].get("grants", [])]
    tap.eq(items, ["a", "b"], "when passes: both operations run")
    _, js, _ = a.post(700, "maybe", body("w2"))
    items = [g["item"] for g in js["data"].get("grants", [])]
    tap.eq(items, ["b"], "when fails: that operation is skipped")


def test_faults_not_stored(a):
    st1, js1, _ = a.post(700, "fault", body("f1"))
    st2, js2, _ = a.post(700, "fault", body("f1"))
    tap.check(st1 == 500 and st2 == 500 and
              code_of(js2) == (500, "plugin_fault"),
              "a fault is not stored: the retry runs again (500 again, not "
              "a replay or a 409)", repr(js1), repr(js2))


def test_cut_off(a):
    """A worker killed while a request holds its session lock and has
    taken its user_total limit in its write set: nothing of it reached the
    store (its lock died with the worker), so the retry with the same
    request_id runs it again at once, and it is done exactly once."""
    pids = a.wait_workers(1)
    result = {}

    def sleeper():
        try:
            conn = a.connect(timeout=10)
            result["r"] = a.post(700, "slow_once",
                                 body("cut-1", uid="victim"), conn=conn)
        except Exception as e:  # the worker dies under it
            result["e"] = e

    t = threading.Thread(target=sleeper)
    t.start()
    time.sleep(0.5)
    os.kill(pids[0], signal.SIGKILL)
    t.join(15)
    tap.check("e" in result or (result.get("r") or (0,))[0] != 200,
              "the cut-off request got no answer", repr(result))
    a.wait_workers(1, exclude=pids)
    H.wait_until(lambda: a.healthz()[0] == 200, 15)
    t0 = time.monotonic()
    st, js, _ = a.post(700, "slow_once", body("cut-1", uid="victim"))
    secs = time.monotonic() - t0
    tap.check(st == 200 and code_of(js) == (0, "ok"),
              "its retry with the same request_id: ok (run again, not "
              "limit_reached: the cut-off attempt's limit was given back)",
              repr(js))
    tap.check(secs < 1.5 + 1.0,
              "at once: one run of the method (%.2f s), the dead worker's "
              "session lock taken over" % secs)
    st, js2, _ = a.post(700, "slow_once", body("cut-1", uid="victim"))
    tap.eq(js2, js, "a replay of the retry: the same answer")
    st, js, _ = a.post(700, "slow_once", body("cut-2", uid="victim"))
    tap.eq(code_of(js), (1006, "limit_reached"),
           "a new request_id: limit_reached (the limit is counted once)")


def main():
    a = H.Amsd(tap, {"chain.conf": ACTS}, workers=1,
               plugins=("testplug", "counter"), lmdb={"sync": "none"})
    with a:
        a.start()
        for name, fn in [("idempotency", test_idempotency),
                         ("busy", test_busy), ("limits", test_limits),
                         ("when", test_when),
                         ("faults are not stored", test_faults_not_stored),
                         ("cut off", test_cut_off)]:
            with tap.section(name):
                fn(a)


tap.run(main)
