"""test_commit.py -- the request is the unit of work (DESIGN.md §5),
end to end on the real amsd and its LMDB store:

- the last units of a stock under a race: 64 connections grab the last 10
  units while each request holds the stock it read for a while before it
  commits, so the commit-time validation fails often: exactly 10 grants,
  every other answer sold_out, no 5xx, and the books agree;
- group commit under kill -9: during a burst of grabs a worker is killed;
  after a restart every grab the client was told was ok replays as ok and
  is in the ledger, and nothing unanswered is half applied (stock taken ==
  ledger entries, exactly);
- what changes nothing writes nothing: read-only methods, a not_eligible
  refusal and a sold-out grab make no LMDB write transaction (the
  transaction id in the file's meta pages does not move), while a grant
  makes one.
"""
import http.client
import os
import signal
import struct
import threading
import time

import harness as H

tap = H.Tap()

RACE = H.activity(810, [
    # The stock is read by coupon.grant, then the handler sleeps before
    # the request commits: requests overlap between read and commit.
    '{ name = "grab"; login = true; limits = { user_total = 1; };'
    ' operations = ( { use = "coupon.grant"; params = { coupon = "c10"; };'
    ' } );'
    ' handler = { use = "testplug.sleep"; params = { ms = 30; }; }; }',
    '{ name = "given"; handler = { use = "counter.get";'
    ' params = { key = "coupon.c10"; scope = "activity"; }; }; }',
    '{ name = "ledger"; login = true;'
    ' handler = { use = "testplug.ledger"; }; }',
], extra='resources = { coupons = ( { name = "c10"; value = 5;'
         ' expire_days = 7; stock = 10; } ); };')

BURST = H.activity(820, [
    '{ name = "grab"; login = true; limits = { user_total = 1; };'
    ' operations = ( { use = "coupon.grant"; params = { coupon = "big"; };'
    ' } ); }',
    '{ name = "given"; handler = { use = "counter.get";'
    ' params = { key = "coupon.big"; scope = "activity"; }; }; }',
    '{ name = "ledger"; login = true;'
    ' handler = { use = "testplug.ledger"; }; }',
], extra='resources = { coupons = ( { name = "big"; value = 1;'
         ' expire_days = 7; stock = 1000000; } ); };')

QUIET = H.activity(830, [
    '{ name = "bind"; login = true; operations = ( { use = "tag.set";'
    ' params = { tag = "bound"; scope = "user"; }; } ); }',
    '{ name = "grab"; login = true; limits = { user_total = 1; };'
    ' rule = { use = "tag.match"; params = { tag = "bound"; scope = "user";'
    ' }; };'
    ' operations = ( { use = "coupon.grant"; params = { coupon = "one"; };'
    ' } ); }',
    '{ name = "status"; login = true; handler = { use = "status.show";'
    ' params = { coupon = "one"; }; }; }',
    '{ name = "count"; handler = { use = "counter.get";'
    ' params = { key = "hits"; scope = "activity"; }; }; }',
], extra='resources = { coupons = ( { name = "one"; value = 1;'
         ' expire_days = 7; stock = 1; } ); };')

PLUGINS = ("testplug", "counter", "coupon", "tag", "status")


def body(rid, uid):
    return {"request_id": rid, "uid": uid}


def code_of(js):
    return (js or {}).get("code"), (js or {}).get("reason")


def metric(a, name, **labels):
    """The value of one series of GET /metrics on the admin plane (0 when
    absent, None when the scrape failed)."""
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=30)
    try:
        st, _, raw, _ = a.request("GET", "/metrics", conn=conn)
    finally:
        conn.close()
    if st != 200:
        return None
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in raw.decode().splitlines():
        if line.startswith(name + "{" + want + "}") or (
                not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0


def given(a, aid):
    _, js, _ = a.post(aid, "given", {"request_id": "given-%f" % time.time()})
    data = (js or {}).get("data") or {}
    return data.get("coupon.c10", data.get("coupon.big"))


def ledger_of(a, aid, uid):
    _, js, _ = a.post(aid, "ledger",
                      body("ledger-%s-%f" % (uid, time.time()), uid))
    return ((js or {}).get("data") or {}).get("ledger") or []


def lmdb_txnid(store_dir):
    """The last committed write transaction of an LMDB file: the larger
    txnid of its two meta pages (MDB_meta after the 16-byte page header:
    magic, version, address, mapsize, two 48-byte MDB_db, last_pg, then
    txnid).  Read from the file, past amsd: it moves only when a write
    transaction commits."""
    path = os.path.join(store_dir, "data.mdb")
    page = os.sysconf("SC_PAGE_SIZE")
    best = 0
    with open(path, "rb") as f:
        for pgno in (0, 1):
            f.seek(pgno * page + 16)
            meta = f.read(136)
            magic, version = struct.unpack_from("<II", meta, 0)
            if magic != 0xBEEFC0DE:
                return None
            (txnid,) = struct.unpack_from("<Q", meta, 128)
            best = max(best, txnid)
    return best


def test_last_units(a):
    results = []
    lock = threading.Lock()
    gate = threading.Barrier(64)

    def one(i):
        conn = a.connect()
        try:
            gate.wait(20)
            st, js, _ = a.post(810, "grab", body("r%d" % i, "racer%d" % i),
                               conn=conn)
            with lock:
                results.append((st, code_of(js)))
        finally:
            conn.close()

    conflicts0 = metric(a, "amsd_commits_total", event="conflict")
    errors = H.run_threads(64, one, 60)
    tap.check(not errors, "64 racers ran", repr(errors))
    oks = [r for r in results if r[1] == (0, "ok")]
    sold = [r for r in results if r[1] == (1008, "sold_out")]
    other = [r for r in results if r not in oks and r not in sold]
    tap.eq(len(oks), 10, "exactly 10 grants for the last 10 units")
    tap.eq(len(sold), 54, "every other racer: sold_out")
    tap.check(not other, "no other answer (no 5xx, no busy)", repr(other))
    conflicts = metric(a, "amsd_commits_total", event="conflict")
    tap.check(conflicts is not None and conflicts > conflicts0,
              "the commit-time validation failed and the requests ran "
              "again (%s conflicts)" % conflicts)
    tap.eq(given(a, 810), 10, "the stock counter says 10 given")
    entries = sum(len(ledger_of(a, 810, "racer%d" % i)) for i in range(64))
    tap.eq(entries, 10, "10 ledger entries in all")


def test_writes_nothing(a):
    store = a.store_dir
    a.post(830, "bind", body("b1", "u1"))
    t0 = lmdb_txnid(store)
    tap.check(t0 is not None and t0 > 0, "the LMDB meta pages are readable",
              repr(t0))
    for i in range(20):
        a.post(830, "status", body("s%d" % i, "u1"))
        a.post(830, "count", {"request_id": "c%d" % i})
        a.post(830, "grab", body("n%d" % i, "stranger%d" % i))
    time.sleep(0.2)
    tap.eq(lmdb_txnid(store), t0,
           "20 status, 20 counter.get and 20 not_eligible answers: no "
           "write transaction")
    st, js, _ = a.post(830, "grab", body("g1", "u1"))
    tap.eq(code_of(js), (0, "ok"), "a bound user's grab: ok")
    t1 = lmdb_txnid(store)
    tap.check(t1 is not None and t1 > t0,
              "a grant is one write transaction (txnid %s -> %s)" % (t0, t1))
    a.post(830, "bind", body("b2", "u2"))
    t1 = lmdb_txnid(store)
    for i in range(20):
        _, js, _ = a.post(830, "grab", body("late%d" % i, "u2"))
        if i == 0:
            tap.eq(code_of(js), (1008, "sold_out"),
                   "the stock of 1 is gone: sold_out")
    time.sleep(0.2)
    tap.eq(lmdb_txnid(store), t1,
           "20 sold_out answers: no write transaction")
    mem = metric(a, "amsd_commits_total", event="sold_out_memory")
    tap.check(mem is not None and mem > 0,
              "sold_out answered from the worker's memory (%s)" % mem)


def test_burst_kill(a):
    oks = []
    lock = threading.Lock()
    stop = threading.Event()
    users = 32
    tried = [0] * users  # client i used uids b<i>-0 .. b<i>-(tried[i]-1)

    def client(i):
        conn = a.connect()
        k = 0
        while not stop.is_set():
            uid, rid = "b%d-%d" % (i, k), "q%d-%d" % (i, k)
            k += 1
            tried[i] = k
            try:
                st, js, _ = a.post(820, "grab", body(rid, uid), conn=conn)
            except OSError:
                conn.close()
                conn = a.connect()
                continue
            if code_of(js) == (0, "ok"):
                with lock:
                    oks.append((uid, rid))
        conn.close()

    batches0 = metric(a, "amsd_commits_total", event="batch")
    committed0 = metric(a, "amsd_commits_total", event="committed")
    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(users)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    batches = metric(a, "amsd_commits_total", event="batch") - batches0
    committed = metric(a, "amsd_commits_total",
                       event="committed") - committed0
    pids = a.worker_pids()
    os.kill(pids[0], signal.SIGKILL)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(30)
    tap.check(len(oks) > 50, "grabs answered ok during the burst (%d)"
              % len(oks))
    tap.check(0 < batches < committed,
              "group commit: %d commits in %d store transactions"
              % (committed, batches))
    a.stop()
    a.start()
    replayed = bad = 0
    for uid, rid in oks:
        _, js, _ = a.post(820, "grab", body(rid, uid))
        if code_of(js) == (0, "ok"):
            replayed += 1
        else:
            bad += 1
    tap.eq((replayed, bad), (len(oks), 0),
           "after kill -9 and a restart, every grab answered ok replays ok")
    in_ledger = sum(1 for uid, rid in oks
                    if any(g.get("request_id") == rid
                           for g in ledger_of(a, 820, uid)))
    tap.eq(in_ledger, len(oks), "... and is in its user's ledger")
    # Every grab that committed, answered or not, took one unit and wrote
    # one ledger entry: nothing is half applied.  Its user is one of the
    # ones the clients made.
    total = sum(len(ledger_of(a, 820, "b%d-%d" % (i, k)))
                for i in range(users) for k in range(tried[i]))
    tap.eq(given(a, 820), total,
           "stock taken == ledger entries (%d): nothing half applied" % total)


def main():
    acts = H.activities_file(RACE, BURST, QUIET)
    a = H.Amsd(tap, {"commit.conf": acts}, workers=2, plugins=PLUGINS)
    with a:
        a.start()
        for name, fn in [("the last units", test_last_units),
                         ("what changes nothing writes nothing",
                          test_writes_nothing),
                         ("group commit under kill -9", test_burst_kill)]:
            with tap.section(name):
                fn(a)


tap.run(main)
