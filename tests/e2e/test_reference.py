#!/usr/bin/env python3
"""test_reference.py -- the reference activities of conf/activities, as
shipped, end to end, plus a few activities of this test's own:

- 1003 flash sale: 2,000 users bind and grab over 64 keep-alive
  connections: exactly 100 coupons, none twice, everyone else sold_out;
  one user grabbing 50 times at once gets one coupon; replays;
- 1001 referral: crowd tags imported through the admin plane, distinct
  invitees, duplicates across inviters, the per-day limit in the
  activity's time zone, the leaderboard;
- 1002 repayment: the thresholds and the per-day limit;
- 1004 lottery: the per-day limit and the stock shown by status;
- pool.draw statistics (odds follow the weights) and exact stock under
  concurrency, on pools of this test's own;
- compensation with real plugins: a coupon given back when the budget of
  the next operation is exhausted.

Every request carries X-AMS-Now, so the outcome does not depend on the
day the test runs.
"""
import collections
import http.client
import json
import math
import os
import threading
import time

import harness as H

tap = H.Tap()

REF_DIR = os.path.join(H.SOURCE, "conf", "activities")
DAY = 86400000
# A fixed "now" inside the reference activities' window (X-AMS-Now: the
# request's clock starts there and runs on while it runs).
NOW = H.iso_ms("2027-06-15T12:00:00+08:00")
OK = (0, "ok")
NOT_ELIGIBLE = (1005, "not_eligible")
LIMIT = (1006, "limit_reached")
BUSY = (1007, "busy")
SOLD_OUT = (1008, "sold_out")
BUDGET = (1009, "budget_exhausted")
DUPLICATE = (1010, "duplicate")

# ------------------------------------------------------------ our activities

OWN = """activities = (
  {
    id = 8101;
    name = "compensation: a coupon, then credit out of a budget";
    start = "2026-01-01T00:00:00+08:00";
    end = "2030-12-31T23:59:59+08:00";
    timezone = "+08:00";
    resources = {
      coupons = ( { name = "gift"; value = 50; stock = 10; } );
      budgets = ( { name = "fund"; total = 40; } );
    };
    methods = (
      { name = "spend"; login = true;
        operations = ( { use = "credit.add";
          params = { key = "bonus"; amount = 20; budget = "fund"; }; } ); },
      { name = "combo"; login = true;
        operations = (
          { use = "coupon.grant"; params = { coupon = "gift"; }; },
          { use = "credit.add";
            params = { key = "bonus"; amount = 20; budget = "fund"; }; }
        ); },
      { name = "status"; login = true;
        handler = { use = "status.show"; params = { coupon = "gift"; }; }; },
      { name = "bonus"; login = true;
        handler = { use = "counter.get"; params = { key = "bonus"; }; }; }
    );
  },
  {
    id = 8201;
    name = "lottery odds: weights 1:3:6, ample stock, no limit";
    start = "2026-01-01T00:00:00+08:00";
    end = "2030-12-31T23:59:59+08:00";
    timezone = "+08:00";
    resources = {
      pools = (
        { name = "wheel";
          prizes = (
            { name = "gold";   stock = 100000; weight = 1.0; value = 100; },
            { name = "silver"; stock = 100000; weight = 3.0; value = 10; },
            { name = "bronze"; stock = 100000; weight = 6.0; value = 1; }
          ); }
      );
    };
    methods = (
      { name = "draw"; login = true;
        operations = ( { use = "pool.draw";
                         params = { pool = "wheel"; }; } ); }
    );
  },
  {
    id = 8202;
    name = "lottery stock: 1 phone, 10 vouchers, 50 points";
    start = "2026-01-01T00:00:00+08:00";
    end = "2030-12-31T23:59:59+08:00";
    timezone = "+08:00";
    resources = {
      pools = (
        { name = "small";
          prizes = (
            { name = "phone";   stock = 1;  weight = 1.0;  value = 5000; },
            { name = "voucher"; stock = 10; weight = 10.0; value = 50; },
            { name = "points";  stock = 50; weight = 89.0; value = 10; }
          ); }
      );
    };
    methods = (
      { name = "draw"; login = true;
        operations = ( { use = "pool.draw";
                         params = { pool = "small"; }; } ); },
      { name = "status"; login = true;
        handler = { use = "status.show"; params = { pool = "small"; }; }; }
    );
  }
);
"""


def reference_files():
    """The shipped activity files, by name."""
    files = {}
    for name in sorted(os.listdir(REF_DIR)):
        if name.endswith(".conf"):
            with open(os.path.join(REF_DIR, name)) as f:
                files[name] = f.read()
    return files


# ------------------------------------------------------------------ calls

# The loan system's secret: 1002 repay takes its amount only from it
# (signed_params), as the shipped conf/amsd.conf says with its own.
LOAN_APP = "loan-core"
LOAN_SECRET = os.urandom(32).hex().encode()
SIGNED = {(1002, "repay")}


def loan_conf(a):
    """Give instance a the loan system's secret file; its amsd.conf text."""
    os.makedirs(os.path.join(a.dir, "keys"), exist_ok=True)
    path = os.path.join(a.dir, "keys", "loan-core")
    with open(path, "wb") as f:
        f.write(LOAN_SECRET + b"\n")
    os.chmod(path, 0o600)
    return ('signed_callers = ( { app = "%s"; secret_files = ["%s"]; } );\n'
            % (LOAN_APP, path))


def call(a, aid, method, uid, rid, params=None, now=NOW, conn=None,
         signed=None):
    """One call; returns (HTTP status, JSON body or {}, raw bytes).  The
    methods of SIGNED are called as the signed caller (signed=False: as
    an end user)."""
    body = {"request_id": rid}
    if uid is not None:
        body["uid"] = uid
    if params is not None:
        body["params"] = params
    body = json.dumps(body).encode()
    headers = {"X-AMS-Now": str(now)}
    if signed if signed is not None else (aid, method) in SIGNED:
        headers["Authorization"] = H.ams_sign(
            LOAN_SECRET, LOAN_APP, a.path(aid, method), body, now // 1000)[0]
    st, js, raw = a.post(aid, method, body, conn=conn, headers=headers)
    return st, js if isinstance(js, dict) else {}, raw


def cr(js):
    return js.get("code"), js.get("reason")


def grants_of(js):
    return (js.get("data") or {}).get("grants") or []


def ledger_of(js):
    """status.show's data.ledger: the user's grants in the activity."""
    return (js.get("data") or {}).get("ledger") or []


def items(grants):
    return [(g.get("kind"), g.get("item"), g.get("amount")) for g in grants]


def run_clients(a, n, body, barrier=False, timeout=180):
    """Run body(i, conn, record) in n threads, each on a keep-alive
    connection of its own; record(x) appends x to a list shared by all, so
    the list is in completion order.  With barrier, every client connects
    first and they all start together.  Returns (records, errors)."""
    records = []
    lock = threading.Lock()
    bar = threading.Barrier(n) if barrier else None

    def record(x):
        with lock:
            records.append(x)

    def run(i):
        conn = a.connect(timeout=60)
        try:
            if bar is not None:
                conn.connect()
                bar.wait(60)
            body(i, conn, record)
        finally:
            conn.close()

    errors = H.run_threads(n, run, timeout)
    with lock:
        return list(records), errors


def admin_post(a, path, body, content_type="text/csv"):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=60)
    try:
        return H.request(conn, "POST", path, body,
                         {"Content-Type": content_type})
    finally:
        conn.close()


# ------------------------------------------------------- 1003 flash sale

def test_flash_sale(a):
    """2,000 users, each bind then grab, over 64 connections."""
    st, js, _ = call(a, 1003, "grab", "never-bound", "nb-1")
    tap.check(st == 200 and cr(js) == NOT_ELIGIBLE and
              (js.get("detail") or {}).get("rule") == "tag.match" and
              (js.get("detail") or {}).get("stage") == "rule",
              "1003: a user who never bound a card: not_eligible, "
              "detail.rule tag.match", repr(js))

    nconn = 64
    users = ["fs%04d" % i for i in range(2000)]

    def body(i, conn, record):
        for u in users[i::nconn]:
            _, js, _ = call(a, 1003, "bind", u, "bind-" + u, conn=conn)
            record(("bind", u, cr(js), js))
            _, js, _ = call(a, 1003, "grab", u, "grab-" + u, conn=conn)
            record(("grab", u, cr(js), js))

    t0 = time.monotonic()
    recs, errors = run_clients(a, nconn, body)
    tap.diag("2,000 binds and 2,000 grabs in %.1f s"
             % (time.monotonic() - t0))
    tap.check(not errors, "64 clients ran to the end", *errors[:10])
    binds = [r for r in recs if r[0] == "bind"]
    grabs = [r for r in recs if r[0] == "grab"]
    bad = [r[1:3] for r in binds if r[2] != OK]
    tap.check(len(binds) == 2000 and not bad, "2,000 binds: all ok",
              "%d answers" % len(binds), repr(bad[:10]))
    tap.eq(len(grabs), 2000, "2,000 grabs answered")
    wins = [r for r in grabs if r[2] == OK]
    winners = [r[1] for r in wins]
    tap.eq(len(wins), 100, "exactly 100 grabs got a coupon (code 0)")
    tap.eq(len(set(winners)), len(winners), "no user got two coupons")
    others = collections.Counter(r[2] for r in grabs if r[2] != OK)
    tap.eq(dict(others), {SOLD_OUT: len(grabs) - len(wins)},
           "every other grab: sold_out (1008)")
    if len(wins) >= 100:
        k = grabs.index(wins[99])
        late = [r[2] for r in grabs[k + 1:]]
        tap.check(all(c == SOLD_OUT for c in late),
                  "every answer after the 100th grant, in completion order, "
                  "is sold_out (%d of them)" % len(late),
                  repr(collections.Counter(late)))
    bad = [r[3] for r in wins
           if items(grants_of(r[3])) != [("coupon", "cash1000", 1000)] or
           r[3]["data"].get("coupon") != "cash1000" or
           not NOW <= grants_of(r[3])[0].get("ts", 0) < NOW + 60000 or
           # the host clock runs during a request: the plugin's "now" and
           # the grant's timestamp may be a few ms apart (more under ASan)
           abs((grants_of(r[3])[0].get("extra") or {}).get("expires_at", 0)
               - (grants_of(r[3])[0].get("ts") + 7 * DAY)) > 5000]
    tap.check(not bad, "each grant answer names one cash1000 coupon, "
              "granted now, expiring in 7 days (expire_days)", repr(bad[:3]))

    # Every winner's ledger holds exactly their coupon.
    bad = []
    for u in winners:
        _, js, _ = call(a, 1003, "status", u, "st-" + u)
        data = js.get("data") or {}
        if (items(ledger_of(js)) != [("coupon", "cash1000", 1000)] or
                (ledger_of(js)[0].get("request_id") != "grab-" + u) or
                data.get("coupon") != {"kind": "cash1000", "remaining": 0}):
            bad.append((u, js))
    tap.check(winners and not bad,
              "status of each of the %d winners: one cash1000 coupon "
              "(kind coupon, from their grab), remaining 0" % len(winners),
              repr(bad[:3]))
    losers = [u for u in users if u not in set(winners)][:3]
    for u in losers:
        _, js, _ = call(a, 1003, "status", u, "st-" + u)
        tap.eq((js.get("data") or {}),
               {"ledger": [], "coupon": {"kind": "cash1000", "remaining": 0}},
               "status of %s, who got sold_out: no grant, remaining 0" % u)
    if winners:
        _, js, _ = call(a, 1003, "grab", winners[0], "again-1")
        tap.check(cr(js) == LIMIT and
                  (js.get("detail") or {}).get("limit") == "user_total",
                  "a winner grabbing again: limit_reached (user_total)",
                  repr(js))
    if losers:
        _, js, _ = call(a, 1003, "grab", losers[0], "again-2")
        tap.eq(cr(js), SOLD_OUT, "a loser grabbing again: sold_out (the "
               "failed grab gave its user_total back)")


def test_same_user(a):
    """One user, 50 grabs at once on 50 connections."""
    u = "same-user"
    _, js, _ = call(a, 1003, "bind", u, "bind-1")
    tap.eq(cr(js), OK, "bind")
    _, js, _ = call(a, 1003, "status", u, "st-0")
    before = ((js.get("data") or {}).get("coupon") or {}).get("remaining")

    def body(i, conn, record):
        _, js, _ = call(a, 1003, "grab", u, "grab-%d" % i, conn=conn)
        record(cr(js))

    recs, errors = run_clients(a, 50, body, barrier=True)
    counts = collections.Counter(recs)
    tap.diag("answers: %s" % dict(counts))
    tap.check(not errors, "50 clients ran to the end", *errors[:10])
    tap.eq(len(recs), 50, "50 answers")
    tap.eq(counts[OK], 1, "exactly one of 50 concurrent grabs got a coupon")
    tap.check(set(counts) <= {OK, BUSY, LIMIT},
              "the others: busy (1007) or limit_reached (1006)",
              repr(dict(counts)))
    _, js, _ = call(a, 1003, "status", u, "st-1")
    data = js.get("data") or {}
    tap.eq(items(ledger_of(js)), [("coupon", "cash1000", 1000)],
           "the user's ledger holds exactly one coupon")
    tap.eq((data.get("coupon") or {}).get("remaining"),
           None if before is None else before - 1,
           "the stock went down by one")
    _, js, _ = call(a, 1003, "grab", u, "grab-late")
    tap.eq(cr(js), LIMIT, "a later grab: limit_reached")


def test_replay(a):
    u = "replayer"
    call(a, 1003, "bind", u, "bind-1")
    st1, js1, raw1 = call(a, 1003, "grab", u, "g-1")
    tap.eq(cr(js1), OK, "grab: ok")
    _, js, _ = call(a, 1003, "status", u, "st-1")
    left = (js.get("data") or {}).get("coupon")
    st2, js2, raw2 = call(a, 1003, "grab", u, "g-1")
    tap.check(st2 == st1 and raw2 == raw1,
              "a replay of the grab returns the identical bytes",
              repr(raw1), repr(raw2))
    st, js, raw = call(a, 1003, "grab", u, "g-1", params={"x": 1})
    tap.check(st == 409 and cr(js) == (409, "request_id_reused"),
              "the same request_id with other params: 409 "
              "request_id_reused", "%r %r" % (st, raw))
    st3, _, raw3 = call(a, 1003, "grab", u, "g-1")
    tap.check(st3 == st1 and raw3 == raw1,
              "... and the original still replays byte for byte")
    _, js, _ = call(a, 1003, "status", u, "st-2")
    data = js.get("data") or {}
    tap.eq(items(ledger_of(js)), [("coupon", "cash1000", 1000)],
           "the replays granted no second coupon")
    tap.eq(data.get("coupon"), left, "the replays took no stock")


# ---------------------------------------------------------- 1001 referral

def test_referral(a):
    # 23:00 at +08:00 and 00:30 the next day there are the same UTC day:
    # a limit counted in UTC days would not start again.
    d1 = H.iso_ms("2027-03-10T23:00:00+08:00")
    d2 = H.iso_ms("2027-03-11T00:30:00+08:00")

    def invite(uid, rid, invitee=None, now=d1):
        params = {} if invitee is None else {"invitee": invitee}
        return call(a, 1001, "invite", uid, rid, params, now=now)[1]

    def quota(uid):
        rid = "q-%s-%d" % (uid, time.monotonic_ns())
        js = call(a, 1001, "quota", uid, rid, now=d2)[1]
        return (js.get("data") or {}).get("credit_quota"), js

    st, js, raw, _ = admin_post(a, "/admin/tags/import",
                                "uid,tag,value\n"
                                "ref_a,old_user,1\n"
                                "ref_b,old_user,1\n"
                                "ref_c,old_user,1\n" +
                                "".join("race%02d,old_user,1\n" % i
                                        for i in range(20)))
    if not tap.check(st == 200 and js and js.get("loaded") == 23,
                     "crowd tags imported with POST /admin/tags/import",
                     "%r %r" % (st, raw)):
        return

    js = invite("ref_new", "n-1", "someone")
    det = js.get("detail") or {}
    tap.check(cr(js) == NOT_ELIGIBLE and det.get("stage") == "crowd" and
              det.get("rule") == "tag.match",
              "a user without the crowd tag old_user: not_eligible, "
              "detail.stage crowd", repr(js))

    js = invite("ref_b", "b-1", "inv_b1")
    tap.eq(cr(js), OK, "ref_b invites inv_b1: ok")

    got, dup = [], []
    for i in range(1, 11):
        js = invite("ref_a", "a-%d" % i, "inv%d" % i)
        got.append((cr(js), (js.get("data") or {}).get("credit_quota"),
                    (js.get("data") or {}).get("invites")))
        if i == 5:
            # duplicates in the middle: another inviter's and our own
            dup.append(invite("ref_a", "a-dup-1", "inv_b1"))
            dup.append(invite("ref_a", "a-dup-2", "inv1"))
    tap.eq(got, [(OK, 20 * i, i) for i in range(1, 11)],
           "ref_a invites 10 distinct invitees: each adds 20 to "
           "credit_quota and 1 to invites")
    tap.check(all(cr(j) == DUPLICATE and
                  (j.get("detail") or {}).get("operation") == "unique.claim"
                  for j in dup),
              "an invitee already counted (by another inviter, or by the "
              "same one): duplicate (1010) from unique.claim", repr(dup))
    tap.eq(quota("ref_b")[0], 20,
           "ref_b's quota: 20 (inv_b1 counted for ref_b only)")

    js = invite("ref_a", "a-11", "inv11", now=d1 + 40 * 60000)
    tap.check(cr(js) == LIMIT and
              (js.get("detail") or {}).get("limit") == "user_daily",
              "the 11th distinct invitee the same day (23:40 +08:00): "
              "limit_reached (user_daily); the duplicates took no part of "
              "the limit", repr(js))
    tap.eq(quota("ref_a")[0], 200, "ref_a's quota: 200 after 10 invites")

    js = invite("ref_a", "a-12", "inv11", now=d2)
    tap.check(cr(js) == OK and
              (js.get("data") or {}).get("credit_quota") == 220,
              "the next day in +08:00 (00:30, the same UTC day): the same "
              "invitee counts (the refused call claimed nothing)", repr(js))
    tap.eq(quota("ref_a")[0], 220, "ref_a's quota: 220")

    js = invite("ref_c", "c-0", None, now=d2)
    det = js.get("detail") or {}
    tap.check(js.get("code") == 1099 and js.get("reason") == "missing_param"
              and det.get("operation") == "unique.claim",
              "an invite without params.invitee fails: 1099 missing_param "
              "from unique.claim", repr(js))
    js = invite("ref_c", "c-dup", "inv3", now=d2)
    tap.eq(cr(js), DUPLICATE, "ref_c inviting ref_a's invitee: duplicate")
    for i in range(1, 4):
        invite("ref_c", "c-%d" % i, "inv_c%d" % i, now=d2)
    q, js = quota("ref_c")
    tap.eq(q, 60, "ref_c's quota: 60 (3 distinct invitees; the failures "
           "added nothing)")

    st, js, _ = call(a, 1001, "leaderboard", "ref_b", "lb-1", now=d2)
    data = js.get("data") or {}
    tap.eq(data.get("top"),
           [{"rank": 1, "uid": "ref_a", "score": 11},
            {"rank": 2, "uid": "ref_c", "score": 3},
            {"rank": 3, "uid": "ref_b", "score": 1}],
           "leaderboard: inviters ranked by invites")
    tap.eq(data.get("me"), {"rank": 3, "score": 1},
           "leaderboard: the caller's own rank and score (me)")
    st, js, _ = call(a, 1001, "leaderboard", "ref_a", "lb-2", now=d2)
    tap.eq((js.get("data") or {}).get("me"), {"rank": 1, "score": 11},
           "leaderboard: me for the leader")

    # 20 inviters claim one invitee at the same moment: one counts.
    def body(i, conn, record):
        js = call(a, 1001, "invite", "race%02d" % i, "race",
                  {"invitee": "contested"}, now=d2, conn=conn)[1]
        record(("race%02d" % i, cr(js)))

    recs, errors = run_clients(a, 20, body, barrier=True)
    tap.check(not errors, "20 racing inviters ran to the end", *errors[:5])
    counts = collections.Counter(c for _, c in recs)
    tap.eq(dict(counts), {OK: 1, DUPLICATE: 19},
           "one invitee claimed by 20 inviters at once: one ok, 19 "
           "duplicate")
    quotas = [quota(u)[0] for u, _ in recs]
    tap.eq(sorted(quotas), [0] * 19 + [20],
           "only the winner's quota grew (by 20)")


# --------------------------------------------------------- 1002 repayment

def test_repayment(a):
    d1 = H.iso_ms("2027-04-20T23:00:00+08:00")
    d2 = H.iso_ms("2027-04-21T00:30:00+08:00")  # same UTC day
    u = "payer"

    def repay(rid, amount, now=d1, uid=u):
        params = {} if amount is None else {"amount": amount}
        return call(a, 1002, "repay", uid, rid, params, now=now)[1]

    st, js, _ = call(a, 1002, "repay", u, "r-user", {"amount": 5000},
                     now=d1, signed=False)
    tap.check(st == 403 and js.get("reason") == "signed_param" and
              "params.amount" in js.get("message", ""),
              "repay from the user, not the loan system: 403 signed_param "
              "(an amount is a fact only the loan system reports)", repr(js))
    js = repay("r-499", 499)
    det = js.get("detail") or {}
    tap.check(cr(js) == NOT_ELIGIBLE and det.get("stage") == "rule" and
              det.get("rule") == "param.compare" and
              det.get("reason") == "below_threshold",
              "repay 499: not_eligible (param.compare below_threshold)",
              repr(js))
    js = repay("r-none", None)
    tap.check(cr(js) == NOT_ELIGIBLE and
              (js.get("detail") or {}).get("reason") == "missing_param",
              "repay without an amount: not_eligible (missing_param)",
              repr(js))
    want = [(500, "c20", 20), (1999, "c20", 20), (2000, "c100", 100)]
    for amount, item, value in want:
        js = repay("r-%d" % amount, amount)
        tap.check(cr(js) == OK and
                  items(grants_of(js)) == [("coupon", item, value)],
                  "repay %d: exactly one %s coupon" % (amount, item),
                  repr(js))
    js = repay("r-5000", 5000, now=d1 + 50 * 60000)
    tap.check(cr(js) == LIMIT and
              (js.get("detail") or {}).get("limit") == "user_daily",
              "the 4th rewarded repayment the same day: limit_reached "
              "(user_daily); the refused ones took no part of it", repr(js))
    js = repay("r-5000b", 5000, now=d2)
    tap.check(cr(js) == OK and
              items(grants_of(js)) == [("coupon", "c100", 100)],
              "the next day in +08:00 (the same UTC day): repay 5000 gives "
              "one c100 coupon", repr(js))
    js = repay("r-1999.5", 1999.5, now=d2)
    tap.eq(items(grants_of(js)), [("coupon", "c20", 20)],
           "repay 1999.5: one c20 coupon")
    js = repay("o-2000", 2000, uid="payer2")
    tap.eq(items(grants_of(js)), [("coupon", "c100", 100)],
           "another user repaying 2000: c100 only, never both")

    _, js, _ = call(a, 1002, "coupons", u, "cp-1", now=d2)
    led = ledger_of(js)
    tap.eq([(g.get("kind"), g.get("item"), g.get("request_id"))
            for g in led],
           [("coupon", "c20", "r-500"), ("coupon", "c20", "r-1999"),
            ("coupon", "c100", "r-2000"), ("coupon", "c100", "r-5000b"),
            ("coupon", "c20", "r-1999.5")],
           "coupons: the user's ledger, oldest first")
    tap.check(led and all(abs((g.get("extra") or {}).get("expires_at", 0)
                              - (g.get("ts") + 30 * DAY)) <= 5000
                          for g in led),
              "each coupon in the ledger expires 30 days after its grant",
              repr(led))


# ----------------------------------------------------------- 1004 lottery

def test_lottery(a):
    d1 = H.iso_ms("2027-05-05T23:00:00+08:00")
    d2 = H.iso_ms("2027-05-06T00:10:00+08:00")  # same UTC day
    won = collections.Counter()
    mine = []

    def draw(uid, rid, now):
        js = call(a, 1004, "draw", uid, rid, now=now)[1]
        if cr(js) == OK:
            g = grants_of(js)
            if len(g) == 1:
                won[g[0].get("item")] += 1
                if uid == "lucky":
                    mine.append(g[0].get("item"))
        return js

    _, js, _ = call(a, 1004, "status", "lucky", "st-0", now=d1)
    tap.eq((js.get("data") or {}).get("pool"),
           {"phone": 1, "voucher": 10, "points": 1000000},
           "status before any draw: the full stock")
    got = [draw("lucky", "d-%d" % i, d1 + i * 60000) for i in range(3)]
    tap.check(all(cr(j) == OK and
                  (j.get("data") or {}).get("prize") in
                  ("phone", "voucher", "points") and
                  len(grants_of(j)) == 1 and
                  grants_of(j)[0].get("kind") == "prize"
                  for j in got),
              "three draws the same day: each wins one prize",
              *map(repr, got))
    js = draw("lucky", "d-4", d1 + 50 * 60000)
    tap.check(cr(js) == LIMIT and
              (js.get("detail") or {}).get("limit") == "user_daily",
              "the 4th draw the same day: limit_reached (user_daily)",
              repr(js))
    js = draw("lucky", "d-5", d2)
    tap.eq(cr(js), OK, "the next day in +08:00 (the same UTC day): a draw "
           "runs again")
    for i in range(5):
        draw("other%d" % i, "o-%d" % i, d1)
    _, js, _ = call(a, 1004, "status", "lucky", "st-1", now=d2)
    data = js.get("data") or {}
    tap.eq([g.get("item") for g in ledger_of(js)], mine,
           "status: the user's prizes, oldest first")
    tap.eq(data.get("pool"),
           {"phone": 1 - won["phone"], "voucher": 10 - won["voucher"],
            "points": 1000000 - won["points"]},
           "status: the stock left of each prize (%d drawn)"
           % sum(won.values()))


def test_distribution(a):
    """Weights 1:3:6 with ample stock: the counts follow the weights."""
    n, nconn = 3000, 16
    users = ["odds%04d" % i for i in range(n)]

    def body(i, conn, record):
        for u in users[i::nconn]:
            js = call(a, 8201, "draw", u, "d-" + u, conn=conn)[1]
            record((cr(js), (js.get("data") or {}).get("prize")))

    t0 = time.monotonic()
    recs, errors = run_clients(a, nconn, body)
    tap.check(not errors, "16 clients ran to the end", *errors[:10])
    codes = collections.Counter(r[0] for r in recs)
    tap.eq(dict(codes), {OK: n}, "%d draws, every one wins" % n)
    counts = collections.Counter(r[1] for r in recs if r[0] == OK)
    total = sum(counts.values())
    tap.diag("counts of %d draws in %.1f s: gold %d, silver %d, bronze %d "
             "(expected %.0f, %.0f, %.0f)"
             % (total, time.monotonic() - t0, counts["gold"],
                counts["silver"], counts["bronze"], total * 0.1,
                total * 0.3, total * 0.6))
    for prize, p in (("gold", 0.1), ("silver", 0.3), ("bronze", 0.6)):
        exp = total * p
        sigma = math.sqrt(total * p * (1 - p))
        tap.check(total > 0 and abs(counts[prize] - exp) <= 5 * sigma,
                  "%s: %d within 5 sigma of %.0f (sigma %.1f)"
                  % (prize, counts[prize], exp, sigma))


def test_exact_stock(a):
    """Small stocks under concurrency: exactly the stock, then sold_out."""
    n, nconn = 200, 32
    users = ["ex%03d" % i for i in range(n)]

    def body(i, conn, record):
        for u in users[i::nconn]:
            js = call(a, 8202, "draw", u, "d-" + u, conn=conn)[1]
            record((cr(js), (js.get("data") or {}).get("prize")))

    recs, errors = run_clients(a, nconn, body)
    tap.check(not errors, "32 clients ran to the end", *errors[:10])
    tap.eq(len(recs), n, "%d draws answered" % n)
    won = collections.Counter(r[1] for r in recs if r[0] == OK)
    tap.diag("granted: %s" % dict(won))
    tap.eq(dict(won), {"phone": 1, "voucher": 10, "points": 50},
           "exactly 1 phone, 10 vouchers and 50 points granted")
    tap.eq(collections.Counter(r[0] for r in recs)[SOLD_OUT], n - 61,
           "every other draw: sold_out")
    oks = [i for i, r in enumerate(recs) if r[0] == OK]
    if len(oks) >= 61:
        late = [r[0] for r in recs[oks[60] + 1:]]
        tap.check(all(c == SOLD_OUT for c in late),
                  "every answer after the 61st prize, in completion order, "
                  "is sold_out (%d of them)" % len(late))
    js = call(a, 8202, "draw", "ex-late", "d-late")[1]
    tap.eq(cr(js), SOLD_OUT, "a further draw: sold_out")
    js = call(a, 8202, "status", "ex-late", "st-1")[1]
    tap.eq((js.get("data") or {}).get("pool"),
           {"phone": 0, "voucher": 0, "points": 0},
           "status: 0 left of each prize")


# ------------------------------------------------------------ compensation

def test_compensation(a):
    def status(uid, rid):
        js = call(a, 8101, "status", uid, rid)[1]
        return ((js.get("data") or {}).get("coupon") or {}).get(
            "remaining"), items(ledger_of(js))

    tap.eq(status("cp0", "st-0"), (10, []), "10 gift coupons in stock")
    js = call(a, 8101, "spend", "cp0", "sp-1")[1]
    tap.eq(cr(js), OK, "spend: 20 of the budget of 40 paid out")
    js = call(a, 8101, "combo", "cp1", "co-1")[1]
    tap.check(cr(js) == OK and
              items(grants_of(js)) == [("coupon", "gift", 50),
                                       ("credit", "bonus", 20)],
              "combo while 20 are left: a coupon and 20 credit", repr(js))
    tap.eq(status("cp1", "st-1"),
           (9, [("coupon", "gift", 50), ("credit", "bonus", 20)]),
           "9 coupons left; the ledger holds both grants")

    before = status("cp2", "st-2")[0]
    js = call(a, 8101, "combo", "cp2", "co-2")[1]
    det = js.get("detail") or {}
    tap.check(cr(js) == BUDGET and det.get("operation") == "credit.add" and
              det.get("index") == 1 and js.get("data") == {},
              "combo with the budget exhausted: budget_exhausted (1009) "
              "from credit.add, empty data", repr(js))
    tap.eq(status("cp2", "st-3"), (before, []),
           "the coupon it took was given back: the stock is unchanged "
           "(%r) and the ledger empty" % (before,))
    js = call(a, 8101, "bonus", "cp2", "b-1")[1]
    tap.eq((js.get("data") or {}).get("bonus"), 0,
           "no credit was added")
    for i in range(3):
        call(a, 8101, "combo", "cp3", "co-3-%d" % i)
    tap.eq(status("cp3", "st-4")[0], before,
           "three more failed combos: still %r left" % (before,))


# ------------------------------------------------------------------- main

def main():
    flash = H.Amsd(tap, reference_files(), workers=2, plugins=H.BUNDLED,
                   lmdb={"sync": "none"}, name="amsd (flash sale)")
    with flash:
        flash.start()
        with tap.section("1003 flash sale: 2,000 users on 64 connections"):
            test_flash_sale(flash)
        tap.eq(flash.stop(), 0, "amsd (flash sale) stops cleanly")

    acts = reference_files()
    acts["zz-own.conf"] = OWN
    a = H.Amsd(tap, acts, workers=2, plugins=H.BUNDLED,
               lmdb={"sync": "none"}, name="amsd (reference)")
    a.extra = loan_conf(a)
    a.write_conf()
    with a:
        a.start()
        for name, fn in [
                ("1003: one user, 50 concurrent grabs", test_same_user),
                ("1003: idempotent replay", test_replay),
                ("1001 referral", test_referral),
                ("1002 repayment", test_repayment),
                ("1004 lottery", test_lottery),
                ("pool.draw odds follow the weights", test_distribution),
                ("pool.draw exact stock under concurrency",
                 test_exact_stock),
                ("compensation with real plugins", test_compensation)]:
            with tap.section(name):
                fn(a)
        tap.eq(a.stop(), 0, "amsd (reference) stops cleanly")


if __name__ == "__main__":
    tap.run(main)
