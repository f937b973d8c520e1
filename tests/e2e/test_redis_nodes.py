#!/usr/bin/env python3
"""test_redis_nodes.py -- several amsd nodes on one Redis, and Redis faults.

A real redis-server on a free loopback port (redisd.py), started, stopped,
frozen and restarted by the test; real amsd binaries with the bundled
plugins; the shipped 1003 card-binding flash sale
(conf/activities/1003-flash-sale.conf, and copies of it under other ids
and stocks).

- two nodes, one Redis: 2,000 users over 64 connections on both nodes,
  each binding on one node and grabbing on the other: exactly 100
  coupons, nobody twice, checked in the answers and in Redis (the stock
  counter, every ledger); a replay on the other node; users racing
  themselves on both nodes (many request_ids at once) get one coupon;
- Redis stopped, and separately frozen (SIGSTOP), under load on both
  nodes: grant and read requests answer 503 store_unavailable within the
  configured timeout; clients retry with the same request_id; Redis back
  (same data): service resumes without restarting amsd, the counters go
  on from where they were, every retried user gets ok or sold_out, and
  the stock counter equals the grants exactly (no grant without its
  decrement, no decrement left by an attempt that did not finish);
  /metrics counts the failures;
- Redis' script cache emptied (SCRIPT FLUSH), and Redis restarted (and
  killed -9): the next requests succeed;
- Redis away when a node starts: the node serves (503), and goes on by
  itself once Redis is there;
- a store call whose answer never comes (sent, then the connection goes
  silent: a relay between amsd and Redis holds it): 503 within the
  timeout, then a retry with the same request_id once Redis answers
  again completes the grab exactly once (one grant, one coupon, the
  user's limit counted once).

Every request carries X-AMS-Now (a clock that starts inside the
activity's window and runs on in real time), so the outcome does not
depend on the day the test runs, and TTLs (session locks) still expire.
"""
import collections
import http.client
import json
import os
import re
import statistics
import threading
import time

import harness as H
import redisd

tap = H.Tap()

FLASH_FILE = os.path.join(H.SOURCE, "conf", "activities",
                          "1003-flash-sale.conf")
PLUGINS = ("tag", "coupon", "status")  # what 1003 uses
TIMEOUT_MS = 300   # redis.timeout_ms of every node here
LOCK_MS = 1000     # session_lock_ms (accepted, no effect any more)
NOW0 = H.iso_ms("2027-06-15T12:00:00+08:00")
T0 = time.monotonic()
OK = (0, "ok")
BUSY = (1007, "busy")
SOLD_OUT = (1008, "sold_out")
LIMIT = (1006, "limit_reached")


def now_ms():
    return NOW0 + int((time.monotonic() - T0) * 1000)


def flash_conf(aid=1003, stock=100):
    """The shipped 1003 file, under another id and stock if asked."""
    with open(FLASH_FILE) as f:
        text = f.read()
    text, n1 = re.subn(r"\bid = 1003;", "id = %d;" % aid, text)
    text, n2 = re.subn(r"\bstock = 100;", "stock = %d;" % stock, text)
    if (n1, n2) != (1, 1):
        raise RuntimeError("%s changed shape: cannot derive a copy"
                           % FLASH_FILE)
    return text


def node(r, name, acts, workers=2, extra="", store=None, lock_ms=LOCK_MS):
    """An amsd on Redis r (or on store), started."""
    a = H.Amsd(tap, acts, workers=workers, plugins=PLUGINS, name=name,
               store=store or r.uri,
               extra="redis = { timeout_ms = %d; };\n"
                     "session_lock_ms = %d;\n%s" % (TIMEOUT_MS, lock_ms,
                                                     extra))
    return a.start()


# ------------------------------------------------------------------ calls

class Answer(collections.namedtuple(
        "Answer", "node method uid rid t0 t1 status code reason body")):
    @property
    def secs(self):
        return self.t1 - self.t0

    @property
    def cr(self):
        return (self.code, self.reason)


def call(a, method, uid, rid, conn=None, aid=1003):
    """One call; returns an Answer.  A network error is an Answer with
    status None (reason: the exception)."""
    t0 = time.monotonic()
    try:
        st, js, raw = a.post(aid, method, {"uid": uid, "request_id": rid},
                             headers={"X-AMS-Now": str(now_ms())},
                             conn=conn)
    except (OSError, http.client.HTTPException) as e:
        return Answer(a.name, method, uid, rid, t0, time.monotonic(), None,
                      None, repr(e), None)
    js = js if isinstance(js, dict) else {}
    return Answer(a.name, method, uid, rid, t0, time.monotonic(), st,
                  js.get("code"), js.get("reason"), raw)


def bind_all(nodes, users, nconn=16, aid=1003):
    """Bind every user (spread over the nodes); returns the bad answers."""
    bad = []

    def body(i):
        a = nodes[i % len(nodes)]
        conn = a.connect()
        try:
            for u in users[i::nconn]:
                ans = call(a, "bind", u, "bind-" + u, conn=conn, aid=aid)
                if (ans.status, ans.cr) != (200, OK):
                    bad.append(ans)
        finally:
            conn.close()

    errors = H.run_threads(nconn, body, 60)
    return bad + errors


# ------------------------------------------------------- the store itself
#
# Where the host keeps what these tests count (core/data/svc_req.c
# svc_host_key, the coupon plugin's "coupon.<kind>" counter, and the
# record layout of core/store/store_redis.c): a counter is a hash whose
# "d" field holds the value; a ledger is a list of one JSON grant per
# entry after its element 0 (the list's expiry).

def stock_used(r, aid=1003, kind="cash1000"):
    """The coupon kind's stock counter: how many were taken."""
    v = r.cmd("HGET", "c:{a%d}g:coupon.%s" % (aid, kind), "d")
    return int(v) if v is not None else 0


def ledgers(r, aid=1003):
    """{uid: [grant, ...]} of every ledger of the activity."""
    out = {}
    cursor = "0"
    pat = re.compile(r"^L:\{a%d\}hu(\d+):(.*):ledger$" % aid)
    with r.client() as c:
        while True:
            cursor, keys = c.cmd("SCAN", cursor, "MATCH",
                                 "L:{a%d}hu*:ledger" % aid, "COUNT", 1000)
            for k in keys:
                m = pat.match(k)
                if m is None or len(m.group(2)) != int(m.group(1)):
                    continue
                out[m.group(2)] = [json.loads(v) for v in
                                   c.cmd("LRANGE", k, 1, -1)]
            if cursor == "0":
                return out


def metric(a, name, **labels):
    """Sum of the samples of a metric whose labels include labels."""
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port,
                                      timeout=10)
    try:
        st, _, raw, _ = H.request(conn, "GET", "/metrics")
    finally:
        conn.close()
    if st != 200:
        raise RuntimeError("/metrics answered %s" % st)
    total = 0.0
    for line in raw.decode().splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r"^([a-z_]+)(\{(.*)\})? (\S+)$", line)
        if m is None or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"',
                               m.group(3) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            total += float(m.group(4))
    return total


# --------------------------------------------------------- a silent relay

# ------------------------------------------------- 1. two nodes, one Redis

def test_two_nodes(r):
    acts = {"1003-flash-sale.conf": flash_conf(),
            "1093-race.conf": flash_conf(1093, 100)}
    with node(r, "node A", acts) as a, node(r, "node B", acts) as b:
        nodes = (a, b)
        nconn = 64
        users = ["fs%04d" % i for i in range(2000)]
        grabs, binds = [], []
        lock = threading.Lock()

        def body(i):
            # bind on one node, grab on the other: the tag, the limits and
            # the stock are all in Redis.
            x, y = nodes[i % 2], nodes[(i + 1) % 2]
            cx, cy = x.connect(), y.connect()
            try:
                for u in users[i::nconn]:
                    bd = call(x, "bind", u, "bind-" + u, conn=cx)
                    gr = call(y, "grab", u, "grab-" + u, conn=cy)
                    with lock:
                        binds.append(bd)
                        grabs.append(gr)
            finally:
                cx.close()
                cy.close()

        t = time.monotonic()
        errors = H.run_threads(nconn, body, 120)
        took = time.monotonic() - t
        tap.diag("2,000 binds + 2,000 grabs over 64 connections on two "
                 "nodes: %.1f s (%.0f requests/s)" % (took, 4000 / took))
        tap.check(not errors, "64 clients ran to the end", *errors[:10])
        bad = [(x.uid, x.status, x.cr) for x in binds
               if (x.status, x.cr) != (200, OK)]
        tap.check(len(binds) == 2000 and not bad, "2,000 binds: all ok",
                  "%d answers" % len(binds), repr(bad[:10]))
        wins = [x for x in grabs if (x.status, x.cr) == (200, OK)]
        rest = collections.Counter((x.status, x.cr) for x in grabs
                                   if (x.status, x.cr) != (200, OK))
        winners = [x.uid for x in wins]
        tap.eq(len(grabs), 2000, "2,000 grabs answered")
        tap.eq(len(wins), 100, "exactly 100 grabs got a coupon over both "
                               "nodes")
        tap.eq(len(set(winners)), len(winners), "no user got two coupons")
        tap.check(set(rest) <= {(200, SOLD_OUT)},
                  "every other grab: sold_out", repr(rest))
        per_node = collections.Counter(x.node for x in wins)
        tap.check(per_node["node A"] > 0 and per_node["node B"] > 0,
                  "both nodes granted coupons", repr(per_node))
        tap.diag("coupons granted by node: %r" % dict(per_node))

        # The store: the stock counter and every ledger.
        tap.eq(stock_used(r), 100, "Redis: the stock counter says 100 "
                                   "taken")
        led = ledgers(r)
        tap.eq(sorted(led), sorted(winners),
               "Redis: a ledger for each winner and nobody else")
        want = {x.uid: x.rid for x in wins}
        wrong = {u: g for u, g in led.items()
                 if len(g) != 1 or g[0].get("request_id") != want.get(u)
                 or (g[0].get("kind"), g[0].get("item"),
                     g[0].get("amount")) != ("coupon", "cash1000", 1000)}
        tap.check(not wrong, "Redis: each ledger holds one cash1000 "
                             "coupon, under the winning request_id",
                  repr(list(wrong.items())[:5]))

        # Through the API, on the node that did not grant: the same.
        w = wins[0]
        other = b if w.node == "node A" else a
        st = call(other, "status", w.uid, "st-" + w.uid)
        data = (json.loads(st.body).get("data") or {}) if st.body else {}
        tap.check(st.status == 200 and st.cr == OK and
                  [g.get("request_id") for g in data.get("ledger") or []]
                  == [w.rid] and
                  (data.get("coupon") or {}).get("remaining") == 0,
                  "status on the other node: the winner's ledger, 0 "
                  "remaining", repr(st.body))
        rp = call(other, "grab", w.uid, w.rid)
        tap.check(rp.status == 200 and rp.body == w.body,
                  "a replay on the other node: the first answer, byte "
                  "for byte", repr(rp.body), repr(w.body))
        tap.eq(stock_used(r), 100, "the replay took no stock")

        test_racers(r, nodes)


def test_racers(r, nodes):
    """Users racing themselves on both nodes: many request_ids at once."""
    racers = ["racer%d" % i for i in range(4)]
    tap.check(not bind_all(nodes, racers, nconn=4, aid=1093),
              "1093: the racers bound")
    per_racer, attempts = 16, 6  # 16 clients a racer, 8 on each node
    bar = threading.Barrier(len(racers) * per_racer)
    got, lock = [], threading.Lock()

    def body(i):
        u = racers[i % len(racers)]
        a = nodes[(i // len(racers)) % 2]
        conn = a.connect()
        try:
            conn.connect()
            bar.wait(30)
            for k in range(attempts):
                ans = call(a, "grab", u, "race-%d-%d" % (i, k), conn=conn,
                           aid=1093)
                with lock:
                    got.append(ans)
        finally:
            conn.close()

    errors = H.run_threads(len(racers) * per_racer, body, 60)
    tap.check(not errors, "racing clients ran to the end", *errors[:10])
    by = collections.defaultdict(collections.Counter)
    for x in got:
        by[x.uid][(x.status, x.cr)] += 1
    n = len(racers) * per_racer * attempts
    tap.eq(len(got), n, "%d racing grabs answered" % n)
    tap.check(all(by[u][(200, OK)] == 1 for u in racers),
              "each racer got exactly one coupon over %d attempts on two "
              "nodes" % (per_racer * attempts), repr(dict(by)))
    tap.check(all(set(c) <= {(200, OK), (200, BUSY), (200, LIMIT)}
                  for c in by.values()),
              "every other attempt: busy or limit_reached", repr(dict(by)))
    led = ledgers(r, 1093)
    oks = {x.uid: x.rid for x in got if (x.status, x.cr) == (200, OK)}
    tap.check(sorted(led) == sorted(racers) and
              all([g.get("request_id") for g in led[u]] == [oks.get(u)]
                  for u in racers),
              "Redis: each racer's ledger holds one grant, the one "
              "answered ok", repr(led))
    tap.eq(stock_used(r, 1093), len(racers),
           "Redis: 1093's stock counter says %d taken" % len(racers))


# ------------------------------------------------ 2. Redis down under load

class Load:
    """Clients grabbing for users of their own on the nodes.  Each user
    has one request_id; an answer that is not final (503, busy, a network
    error) is retried with the same request_id, as a client should, until
    the answer is final or the load is stopped."""

    def __init__(self, nodes, users, nconn):
        self.nodes = nodes
        self.users = users
        self.nconn = nconn
        self.answers = []
        self.final = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(i,),
                                         daemon=True)
                        for i in range(nconn)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, i):
        a = self.nodes[i % len(self.nodes)]
        conn = a.connect(timeout=10)
        try:
            for u in self.users[i::self.nconn]:
                while not self.stop.is_set():
                    ans = call(a, "grab", u, "grab-" + u, conn=conn)
                    with self.lock:
                        self.answers.append(ans)
                    if ans.status is None:
                        conn.close()
                        conn = a.connect(timeout=10)
                    if ans.status == 200 and ans.cr != BUSY:
                        with self.lock:
                            self.final[u] = ans
                        break
                    time.sleep(0.02)
                # A steady pace, not a burst: slow enough that the stock of
                # 100 outlasts the fault (grants must go on once Redis is
                # back), however fast amsd grants.
                time.sleep(0.04)
        except Exception as e:  # noqa: BLE001 -- reported as a failure
            with self.lock:
                self.errors.append("client %d: %r" % (i, e))
        finally:
            conn.close()

    def count(self, pred):
        with self.lock:
            return sum(1 for x in self.answers if pred(x))

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        hung = sum(t.is_alive() for t in self.threads)
        if hung:
            self.stop.set()
            for t in self.threads:
                t.join(15)
            self.errors.append("%d clients not done after %.0f s"
                               % (hung, timeout))
        return self.errors


def test_fault_under_load(kind):
    """kind: "stop" (SIGTERM; started again on the same port and data) or
    "freeze" (SIGSTOP, then SIGCONT)."""
    r = redisd.RedisServer(persist=True)
    try:
        with node(r, "node A", {"1003.conf": flash_conf()}) as a, \
                node(r, "node B", {"1003.conf": flash_conf()}) as b:
            fault_under_load(kind, r, a, b)
    finally:
        r.close()


def fault_under_load(kind, r, a, b):
    name = "Redis %s under load" % ("stopped" if kind == "stop"
                                    else "frozen")
    users = ["u%03d" % i for i in range(300)]
    bad = bind_all((a, b), users)
    tap.check(not bad, "%s: 300 users bound" % name, repr(bad[:5]))
    load = Load((a, b), users, nconn=8).start()
    ok = lambda x: x.status == 200 and x.cr == OK  # noqa: E731
    if not H.wait_until(lambda: load.count(ok) >= 30, 20, 0.005):
        load.stop.set()
        raise AssertionError("no 30 grants within 20 s: %r"
                             % collections.Counter(
                                 (x.status, x.reason) for x in load.answers))
    if kind == "stop":
        r.stop()
    else:
        r.freeze()
    t_fault = time.monotonic()
    ok_before = load.count(ok)

    # While it is down: grants, a read-only handler, a tag write.
    probes = [call(x, m, "u000", "probe-%s-%s" % (m, x.name[-1]))
              for x in (a, b) for m in ("status", "bind")]
    H.wait_until(lambda: load.count(lambda x: x.t0 >= t_fault) >= 40 and
                 time.monotonic() - t_fault >= 1.0, 10, 0.01)
    t_back = time.monotonic()
    if kind == "stop":
        r.start()
    else:
        r.thaw()
    errors = load.join(30)
    tap.check(not errors, "%s: every client got a final answer for each "
                          "of its users" % name, *errors[:10])

    during = [x for x in load.answers if t_fault <= x.t0 < t_back]
    down = [x for x in during if x.t1 <= t_back]
    bound = (TIMEOUT_MS + 300) / 1000.0
    tap.diag("%s: %d grants before the fault, %d grab requests started "
             "while it was down; their latency: median %.0f ms, max %.0f "
             "ms (timeout_ms %d)"
             % (name, ok_before, len(during),
                1000 * statistics.median([x.secs for x in during] or [0]),
                1000 * max([x.secs for x in during] or [0]), TIMEOUT_MS))
    wrong = collections.Counter((x.status, x.reason) for x in down
                                if (x.status, x.reason) !=
                                (503, "store_unavailable"))
    tap.check(len(down) >= 20 and not wrong,
              "%s: every grab while it was down answered 503 "
              "store_unavailable" % name,
              "%d answers; others: %r" % (len(down), wrong))
    tap.check({x.node for x in down} == {"node A", "node B"},
              "%s: on both nodes" % name)
    said = collections.Counter(json.loads(x.body).get("outcome", "none")
                               for x in down if x.body)
    tap.check(set(said) <= {"none"}, "%s: none of them says it changed "
                                     "anything (if they say)" % name,
              repr(said))
    slow = sorted(x.secs for x in during if x.secs > bound)
    tap.check(not slow, "%s: each answered within %.1f s (timeout_ms %d "
                        "and slack)" % (name, bound, TIMEOUT_MS),
              "%d slower: %s" % (len(slow), ["%.3f" % s for s in slow[-10:]]))
    for p in probes:
        tap.check((p.status, p.reason) == (503, "store_unavailable") and
                  p.secs <= bound,
                  "%s: %s on %s: 503 store_unavailable, at once"
                  % (name, p.method, p.node),
                  "%s %s after %.3f s" % (p.status, p.body, p.secs))

    # Back: service resumed, counters went on.
    after_ok = [x for x in load.answers if x.t0 >= t_back and ok(x)]
    tap.check(after_ok, "%s: grants again once Redis is back, without "
                        "restarting amsd" % name)
    final = load.final
    okers = sorted(u for u, x in final.items() if ok(x))
    kinds = collections.Counter((x.status, x.cr) for x in final.values())
    tap.diag("%s: final answers: %r" % (name, dict(kinds)))
    tap.check(set(kinds) <= {(200, OK), (200, SOLD_OUT)},
              "%s: every final answer is ok or sold_out" % name,
              repr(kinds))
    retried = {x.uid for x in load.answers
               if (x.status, x.reason) == (503, "store_unavailable")}
    unknown = {x.uid for x in load.answers
               if (x.status, x.reason) == (503, "store_unavailable") and
               x.body and json.loads(x.body).get("outcome") == "unknown"}
    settled = [u for u in retried
               if final.get(u) is not None and final[u].status == 200]
    tap.check(retried and len(settled) == len(retried),
              "%s: each user answered 503 got a real outcome on a retry "
              "with the same request_id (%d users, %d of them told the "
              "outcome was unknown)" % (name, len(retried), len(unknown)),
              "%d of %d" % (len(settled), len(retried)))

    used = stock_used(r)
    led = ledgers(r)
    tap.diag("%s: stock counter %d, %d users answered ok, %d ledgers"
             % (name, used, len(okers), len(led)))
    tap.eq(sorted(led), okers, "%s: a ledger for each user answered ok, "
                               "and no other" % name)
    twice = {u: g for u, g in led.items() if len(g) != 1 or
             g[0].get("request_id") != "grab-" + u}
    tap.check(not twice, "%s: each ledger holds one grant, of the user's "
                         "request_id" % name, repr(twice))
    tap.eq(used, len(okers),
           "%s: the stock counter says exactly as many taken as granted: "
           "no grant without its decrement, and no decrement left behind "
           "by an attempt that did not finish" % name)
    tap.check(used == 100 and kinds[(200, SOLD_OUT)] > 0,
              "%s: the counter went on from where it was: the stock ran "
              "out, then sold_out" % name,
              "counter %d, %r" % (used, kinds))

    # /metrics: every 503 counted, and the store errors.
    for x in (a, b):
        mine = sum(1 for y in load.answers if y.node == x.name and
                   (y.status, y.reason) == (503, "store_unavailable"))
        got = metric(x, "amsd_requests_total", activity="1003",
                     method="grab", reason="store_unavailable")
        tap.eq(int(got), mine, "%s: %s /metrics counts each grab answered "
                               "store_unavailable" % (name, x.name))
        errs = metric(x, "amsd_store_errors_total")
        tap.check(errs >= 1, "%s: %s /metrics counts store errors (%d)"
                  % (name, x.name, errs))


# ------------------------------------------- 3. the script cache emptied

def test_script_cache():
    r = redisd.RedisServer(persist=True)
    try:
        with node(r, "node A", {"1003.conf": flash_conf()}) as a:
            script_cache(r, a)
    finally:
        r.close()


def test_down_at_start():
    """A node started while Redis is away serves (503 store_unavailable,
    nothing changed) and goes on by itself once Redis is there."""
    r = redisd.RedisServer()
    try:
        r.stop()
        with node(r, "node A", {"1003.conf": flash_conf()}) as a:
            tap.eq(a.healthz()[0], 200, "Redis away: the node starts and "
                                        "answers /healthz")
            x = call(a, "bind", "early", "bind-early")
            tap.check((x.status, x.reason) == (503, "store_unavailable")
                      and json.loads(x.body).get("outcome") == "none",
                      "a request: 503 store_unavailable, outcome none",
                      repr(x.body))
            r.start()
            y = H.wait_until(lambda: (lambda z: z if z.status == 200 else
                                      None)(call(a, "bind", "early",
                                                 "bind-early")), 5, 0.05)
            tap.check(y is not None and y.cr == OK,
                      "Redis started: the same request succeeds, without "
                      "restarting amsd", repr(y and y.body))
            z = call(a, "grab", "early", "grab-early")
            tap.check((z.status, z.cr) == (200, OK), "and a grab too",
                      repr(z.body))
            tap.check("not reachable" in a.log(),
                      "the log said Redis was not reachable at start")
    finally:
        r.close()


def first_try(a, what, n, tag):
    """n bind+grab+status rounds for new users; returns the answers that
    were not ok at the first try."""
    bad = []
    for i in range(n):
        u = "%s%d" % (tag, i)
        for m in ("bind", "grab", "status"):
            x = call(a, m, u, "%s-%s" % (m, u))
            if (x.status, x.cr) != (200, OK):
                bad.append((what, m, u, x.status, x.reason, x.body))
    return bad


def script_cache(r, a):
    bad = first_try(a, "before", 4, "pre")
    tap.check(not bad, "scripts: requests served", *map(repr, bad))
    used = stock_used(r)

    tap.eq(r.cmd("SCRIPT", "FLUSH"), "OK", "SCRIPT FLUSH")
    bad = first_try(a, "after SCRIPT FLUSH", 6, "flush")
    tap.check(not bad, "scripts flushed: the next requests succeed at the "
                       "first try (each worker reloads them)",
              *map(repr, bad))

    for how in ("stop", "kill"):
        getattr(r, how)()
        # Down for half a second, as a restart takes at least that: longer
        # than amsd's reconnect back-off, so the next request reconnects.
        time.sleep(0.5)
        r.start()
        t = time.monotonic()
        bad = first_try(a, "after a restart (%s)" % how, 6, how)
        tap.diag("restart (%s): first requests answered within %.0f ms"
                 % (how, 1000 * (time.monotonic() - t)))
        tap.check(not bad, "Redis restarted (%s, empty script cache): the "
                           "next requests succeed" % how, *map(repr, bad))
    tap.eq(stock_used(r), used + 6 + 12,
           "the stock counter kept every grant across the restarts")
    refused_writes(r, a)


def refused_writes(r, a):
    """Redis up but refusing writes: no replica for min-replicas-to-write,
    out of memory under noeviction.  Fail closed, then serve again."""
    used = stock_used(r)
    for what, on, off in (
            ("no replica (min-replicas-to-write 1)",
             [("min-replicas-to-write", "1")],
             [("min-replicas-to-write", "0")]),
            ("out of memory (maxmemory, noeviction)",
             [("maxmemory-policy", "noeviction"), ("maxmemory", "1")],
             [("maxmemory", "0")])):
        for k, v in on:
            r.cmd("CONFIG", "SET", k, v)
        got = [call(a, m, "refused", "%s-refused-%s" % (m, on[-1][0]))
               for m in ("bind", "grab", "status")]
        for k, v in off:
            r.cmd("CONFIG", "SET", k, v)
        # bind writes: refused.  The grab of a user whose bind was refused
        # and status write nothing (a refusal and a read-only method), so
        # a store that refuses writes does not stop them.
        tap.check([(x.status, x.reason) for x in got] ==
                  [(503, "store_unavailable"), (200, "not_eligible"),
                   (200, "ok")],
                  "Redis refuses writes, %s: a write answers 503 "
                  "store_unavailable, what writes nothing is answered" % what,
                  *[x.body for x in got])
        said = {json.loads(x.body).get("outcome", "none") for x in got
                if x.body}
        tap.check(said <= {"none"}, "%s: nothing changed, if it says"
                  % what, repr(said))
    tap.eq(stock_used(r), used, "no stock taken while writes were refused")
    bad = first_try(a, "after the refusals", 2, "unrefused")
    tap.check(not bad, "writes accepted again: the next requests succeed",
              *map(repr, bad))


# ---------------------------------------- 4. an answer that never comes

def test_unknown_outcome():
    r = redisd.RedisServer(persist=True)
    relay = redisd.Relay(r.port)
    try:
        with node(r, "node A", {"1003.conf": flash_conf()},
                  store=relay.uri, workers=1) as a:
            unknown_outcome(r, relay, a)
        lock_left_behind(r, relay)
    finally:
        relay.close()
        r.close()


def lock_left_behind(r, relay):
    """A request cut off on node A (an answer held, then Redis stopped
    for a while) leaves nothing in the store that would make the user's
    retry on node B wait: the session lock lives in node A's worker, not
    in Redis, so the retry completes the request long before the 30 s a
    stored lock would have lived."""
    acts = {"1003.conf": flash_conf()}
    name = "a lock left behind"
    with node(r, "node A", acts, store=relay.uri, workers=1,
              lock_ms=30000) as a, \
            node(r, "node B", acts, workers=1, lock_ms=30000) as b:
        u = "moved"
        x = call(a, "bind", u, "bind-" + u)
        tap.check((x.status, x.cr) == (200, OK), "%s: bound" % name,
                  repr(x.body))
        base = stock_used(r)
        relay.hold(b"coupon.cash1000", 0)
        x = call(a, "grab", u, "g-" + u)
        tap.check((x.status, x.reason) == (503, "store_unavailable"),
                  "%s: the grab on node A answers 503 (the stock "
                  "read's answer held)" % name, repr(x.body))
        # Redis away for a while: node A's tries to release the lock fail
        # meanwhile, and it must go on trying.
        r.stop()
        time.sleep(2.5)
        r.start()
        x = x._replace(t1=time.monotonic())
        seen = []

        def settled():
            y = call(b, "grab", u, "g-" + u)
            seen.append((round(y.t0 - x.t1, 2), y.status, y.reason))
            return y if y.status == 200 and y.cr != BUSY else None

        y = H.wait_until(settled, 10, 0.1)
        secs = seen[-1][0] if seen else None
        tap.diag("%s: retries on node B: %s" % (name, seen[:2]) +
                 (" ... %s" % seen[-2:] if len(seen) > 2 else ""))
        tap.check(y is not None and y.cr == OK and secs < 5,
                  "%s: once Redis is back, the retry with the same "
                  "request_id on node B completes it within seconds (%s "
                  "s), not after the lock's 30 s" % (name, secs),
                  repr(seen[-3:]))
        tap.eq(stock_used(r) - base, 1,
               "%s: exactly one coupon taken for it" % name)
        tap.eq([g.get("request_id") for g in ledgers(r).get(u, [])],
               ["g-" + u], "%s: one grant in the ledger" % name)
        locks = []
        with r.client() as c:
            cursor = "0"
            while True:
                cursor, keys = c.cmd("SCAN", cursor, "MATCH", "l:*",
                                     "COUNT", 1000)
                locks += keys
                if cursor == "0":
                    break
        tap.eq(locks, [], "%s: no lock record in Redis" % name)


def unknown_outcome(r, relay, a):
    users = ("other", "dec", "lread", "lwrite")
    bad = [x for x in (call(a, "bind", u, "bind-" + u) for u in users)
           if (x.status, x.cr) != (200, OK)]
    tap.check(not bad, "held answers: users bound", repr(bad))

    # A retry after a plain 503 (Redis down before the request): the real
    # outcome once it is back.
    r.stop()
    x = call(a, "grab", "other", "g-other")
    tap.check((x.status, x.reason) == (503, "store_unavailable"),
              "Redis down: grab 503 store_unavailable", repr(x.body))
    outcome = json.loads(x.body).get("outcome", "none") if x.body else None
    tap.eq(outcome, "none", "an answer that says what happened (if it "
                            "does) says nothing did")
    r.start()
    y = H.wait_until(lambda: (lambda z: z if z.status == 200 else None)(
        call(a, "grab", "other", "g-other")), 5, 0.05)
    tap.check(y and y.cr == OK,
              "the retry with the same request_id once Redis is back: ok",
              repr(y and y.body))
    z = call(a, "grab", "other", "g-other")
    tap.check(y and z.body == y.body, "a replay of it: the same answer")
    tap.eq(stock_used(r), 1, "one coupon taken for it")

    # One store call of a grab is sent (and runs, or not), its answer
    # never comes.  A read changed nothing: the outcome is known ("none").
    # The commit carries everything the grab changes (the ledger key is
    # one of its keys): its outcome is unknown to amsd, and it happened
    # whole or not at all.
    held_answer("dec", "the stock read", b"coupon.cash1000", 0, r, relay,
                a, ran=None)
    held_answer("lread", "the idempotency lookup", b":idem:g-lread", 0, r,
                relay, a, ran=None)
    held_answer("lwrite", "the commit", b":lwrite:ledger", 0, r, relay, a,
                ran="ledger")


def held_answer(u, what, pattern, skip, r, relay, a, ran):
    """Grab for u with the answer to the command holding pattern (after
    skip earlier ones) held.  ran: "ledger" when that command was the
    commit (it wrote the ledger, took the stock), None when it changed
    nothing."""
    name = "%s held" % what
    base = stock_used(r)
    relay.hold(pattern, skip)
    x = call(a, "grab", u, "g-" + u)
    bound = (TIMEOUT_MS + 300) / 1000.0
    tap.check(relay.held and relay.pattern is None,
              "%s: the relay held it" % name)
    tap.diag("%s: first answer after %.3f s: %s %s"
             % (name, x.secs, x.status, x.body))
    tap.check(x.secs <= bound, "%s: answered within %.1f s" % (name, bound),
              "after %.3f s" % x.secs)
    led = [g for g in ledgers(r).get(u, [])]
    tap.eq(len(led), 1 if ran == "ledger" else 0,
           "%s: the ledger %s the grant" % (name, "holds" if ran ==
                                            "ledger" else "does not hold"))
    if x.status == 200:
        tap.check(x.cr == OK and len(led) == 1,
                  "%s: an ok answer only with the grant in the ledger"
                  % name, repr(x.body), "ledger: %r" % (led,))
    else:
        tap.eq((x.status, x.reason), (503, "store_unavailable"),
               "%s: otherwise 503 store_unavailable" % name)
        said = json.loads(x.body).get("outcome", "unknown")
        if ran is None:
            tap.eq(said, "none", "%s: the answer says nothing happened "
                                 "(nothing had been written)" % name)
        else:
            tap.eq(said, "unknown", "%s: the answer does not say nothing "
                                    "happened (the commit was sent)" % name)

    # Retries with the same request_id until a final answer (busy only
    # while the cut-off request still runs on its worker).
    seen = []

    def settled():
        y = call(a, "grab", u, "g-" + u)
        seen.append((round(y.t0 - x.t1, 2), y.status, y.reason))
        return y if (y.status == 200 and y.cr != BUSY) or \
            y.status == 500 else None

    y = H.wait_until(settled, 10, 0.1)
    tap.diag("%s: retries: %s" % (name, seen[:2]) +
             (" ... %s" % seen[-2:] if len(seen) > 2 else ""))
    led = ledgers(r).get(u, [])
    mine = [g for g in led if g.get("request_id") == "g-" + u]
    tap.diag("%s: the retry's answer %s; ledger %s; stock counter %d"
             % (name, y and y.body, [g.get("request_id") for g in led],
                stock_used(r)))
    tap.check(y is not None and (y.status, y.cr) == (200, OK) and
              len(led) == len(mine) == 1 and
              json.loads(y.body)["data"].get("grants") == mine,
              "%s: a retry with the same request_id once Redis answers "
              "completes the grab: ok with the one grant the ledger holds"
              % name, "retries: %r" % (seen[-3:],), "ledger: %r" % (led,))
    again = call(a, "grab", u, "g-" + u)
    tap.check(y is not None and again.body == y.body,
              "%s: a replay: the same answer again" % name,
              repr(again.body))
    used = stock_used(r)
    tap.eq(used - base, 1, "%s: exactly one coupon taken for it" % name)
    nxt = call(a, "grab", u, "g2-" + u)
    tap.check((nxt.status, nxt.cr) == (200, LIMIT),
              "%s: a new request_id of the same user: limit_reached (the "
              "limit is counted once)" % name, repr(nxt.body))


# ------------------------------------- 5. what a request costs in Redis

# Commands that change data (INFO commandstats names, lower case).
WRITES = {"hset", "hincrby", "hdel", "del", "unlink", "set", "rpush",
          "lpush", "pexpire", "expire", "persist", "zadd", "zrem", "incr",
          "incrby", "hsetnx", "lset", "ltrim"}


def commandstats(r):
    """{command: calls} since the last CONFIG RESETSTAT."""
    out = {}
    for line in r.cmd("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            out[name] = int(rest.split("calls=")[1].split(",")[0])
    out.pop("config", None)
    out.pop("info", None)
    return out


def test_costs():
    """Round trips and commands of a grab, once its method is learned; a
    read-only method and a refusal send no write command at all."""
    r = redisd.RedisServer()
    try:
        with node(r, "node C", {"1003.conf": flash_conf(stock=100000)},
                  workers=1) as a:
            for i in range(3):  # the method learns what it reads
                call(a, "bind", "w%d" % i, "bind-w%d" % i)
                call(a, "grab", "w%d" % i, "grab-w%d" % i)
            n = 20
            for i in range(n):
                call(a, "bind", "c%d" % i, "bind-c%d" % i)
            r.cmd("CONFIG", "RESETSTAT")
            got = [call(a, "grab", "c%d" % i, "grab-c%d" % i)
                   for i in range(n)]
            stats = commandstats(r)
            tap.check(all(x.cr == OK for x in got), "%d grabs: ok" % n)
            rtt = stats.get("evalsha", 0) / n
            total = sum(stats.values()) / n
            tap.check(rtt <= 2, "a grab is %.1f round trips (one read "
                      "ahead, one commit): at most 2" % rtt, repr(stats))
            tap.diag("a grab costs %.1f Redis commands: %r" % (total, stats))
            r.cmd("CONFIG", "RESETSTAT")
            for i in range(n):
                call(a, "grab", "stranger%d" % i, "grab-s%d" % i)
                call(a, "grab", "c%d" % i, "again-c%d" % i)  # limit_reached
            refusals = commandstats(r)
            r.cmd("CONFIG", "RESETSTAT")
            for i in range(n):
                call(a, "status", "c%d" % i, "status-c%d" % i)
            status = commandstats(r)
            wrote = {k: v for k, v in list(refusals.items()) +
                     list(status.items()) if k in WRITES}
            tap.eq(wrote, {}, "%d not_eligible, %d limit_reached and %d "
                   "status answers: no write command" % (n, n, n))
            tap.eq(refusals.get("evalsha", 0), 2 * n,
                   "a refusal is one round trip (the read ahead)")
            tap.diag("a status costs %.1f round trips (its ledger read "
                     "too): %r" % (status.get("evalsha", 0) / n, status))
    finally:
        r.close()


# ------------------------------------------------------------------ main

def main():
    r = redisd.RedisServer()
    try:
        with tap.section("two nodes, one Redis: the 1003 flash sale"):
            test_two_nodes(r)
    finally:
        r.close()
    for kind in ("stop", "freeze"):
        with tap.section("Redis %s under load" % kind):
            test_fault_under_load(kind)
    with tap.section("Redis' script cache emptied, Redis restarted"):
        test_script_cache()
    with tap.section("Redis away when the node starts"):
        test_down_at_start()
    with tap.section("an answer from Redis that never comes"):
        test_unknown_outcome()
    with tap.section("what a request costs in Redis"):
        test_costs()


tap.run(main)
