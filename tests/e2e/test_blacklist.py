#!/usr/bin/env python3
"""test_blacklist.py -- blacklists of uids and IPs, end to end.

One node on LMDB (two workers, three admin tokens) and two nodes sharing a
real redis-server:

- roles: a viewer lists, only an operator (or admin) adds, removes and
  imports; no token is 401; every call is one audit line, a change's
  line naming what it changed (op, kind, value);
- a blacklisted uid, a blacklisted client address (a /32 and an address
  inside a v4 CIDR, and a v6 CIDR on a [::1] listener) are 403
  "blacklisted" on every worker, before any store write: LMDB's last
  transaction id does not move (and does for a request that is let
  through, so the check can fail); on Redis, every key and value is the
  same (DUMP of each) after the refusals;
- the answer says the scope, not the reason (unless blacklist.show_reason)
  nor whether the uid or the address matched;
- per-activity entries do not touch other activities;
- expiry lifts an entry with nothing run (the request clock moved past
  it, and a real 1 s expiry waited out); remove lifts it at once;
- a change on one node applies on the other node sharing Redis within
  blacklist.poll_ms; on one node, on every worker when the admin call
  answers; a restart on LMDB keeps the blacklist;
- bulk import of 100,000 lines (uids and prefixes) with bad lines refused
  by line number; imported entries apply; list filters; refusal metrics.
"""
import http.client
import json
import os
import time

import harness as H
import redisd

tap = H.Tap()

TOKENS = {"viewer": ("dash", "viewer-token-0123456789abcdef"),
          "operator": ("ops", "operator-token-0123456789abcdef"),
          "admin": ("root", "admin-token-0123456789abcdef")}
V, O, A = (TOKENS[r][1] for r in ("viewer", "operator", "admin"))


def tokens_conf():
    return "admin_tokens = (\n%s\n);\n" % ",\n".join(
        '  { name = "%s"; token = "%s"; role = "%s"; }' % (n, t, r)
        for r, (n, t) in TOKENS.items())


def acts():
    bind = ('{ name = "bind"; login = true; operations = ( { use = '
            '"tag.set"; params = { tag = "bound"; scope = "user"; }; } ); }')
    return {"a.conf": H.activities_file(H.activity(901, [bind]),
                                        H.activity(902, [bind]))}


PLUGINS = ("testplug", "tag")


def admin(a, verb, path, token=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=120)
    h = {}
    if token:
        h["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    try:
        st, js, raw, _ = H.request(conn, verb, path, body, h)
    finally:
        conn.close()
    return st, js


def add(a, kind, value, token=O, **kw):
    b = {"kind": kind, "value": value}
    b.update(kw)
    return admin(a, "POST", "/admin/blacklist", token, b)


def remove(a, kind, value, token=O, **kw):
    b = {"kind": kind, "value": value}
    b.update(kw)
    return admin(a, "POST", "/admin/blacklist/remove", token, b)


SEQ = [0]


def call(a, aid, uid, source="127.0.0.1", host="127.0.0.1", now=None,
         port=None):
    """One bind on a new connection (so the kernel spreads them over the
    workers), from source.  Returns (status, json)."""
    SEQ[0] += 1
    conn = http.client.HTTPConnection(host, port or a.port, timeout=30,
                                      source_address=(source, 0))
    h = {"X-AMS-Now": str(now)} if now else {}
    try:
        st, js, _, _ = H.request(conn, "POST", a.path(aid, "bind"),
                                 {"uid": uid, "request_id": "r%d" % SEQ[0]},
                                 h)
    finally:
        conn.close()
    return st, js


def refused(a, aid, uid, n=8, **kw):
    """n calls all 403 blacklisted; returns the last answer's json."""
    last = None
    for _ in range(n):
        st, js = call(a, aid, uid, **kw)
        if st != 403 or (js or {}).get("reason") != "blacklisted":
            return None
        last = js
    return last


def passes(a, aid, uid, n=4, **kw):
    for _ in range(n):
        st, js = call(a, aid, uid, **kw)
        if st != 200 or (js or {}).get("code") != 0:
            tap.diag("passes: %s %r" % (st, js))
            return False
    return True


def lmdb_txnid(store_dir):
    """The last committed write transaction of the LMDB file (see
    test_commit.py)."""
    import struct
    page = os.sysconf("SC_PAGE_SIZE")
    best = 0
    with open(os.path.join(store_dir, "data.mdb"), "rb") as f:
        for pgno in (0, 1):
            f.seek(pgno * page + 16)
            meta = f.read(136)
            (txnid,) = struct.unpack_from("<Q", meta, 128)
            best = max(best, txnid)
    return best


def metric(a, name, **labels):
    st, _, raw, _ = a.request("GET", "/metrics", headers={
        "Authorization": "Bearer " + V}, conn=http.client.HTTPConnection(
        "127.0.0.1", a.admin_port, timeout=30))
    want = ['%s="%s"' % kv for kv in labels.items()]
    for line in raw.decode().splitlines():
        if line.startswith(name + "{") and all(w in line for w in want):
            return float(line.rsplit(" ", 1)[1])
    return 0


# ----------------------------------------------------------------- LMDB

def test_roles(a):
    st, _ = admin(a, "GET", "/admin/blacklist")
    tap.eq(st, 401, "list without a token: 401")
    st, js = admin(a, "GET", "/admin/blacklist", V)
    tap.check(st == 200 and js.get("total") == 0 and js.get("entries") == [],
              "a viewer lists (empty)", repr(js))
    st, js = add(a, "uid", "x1", token=V)
    tap.check(st == 403 and js.get("needs") == "operator",
              "a viewer cannot add: 403 needs operator", repr(js))
    st, _ = remove(a, "uid", "x1", token=V)
    tap.eq(st, 403, "a viewer cannot remove")
    st, _ = admin(a, "POST", "/admin/blacklist/import", V, b"uid,x,y,\n")
    tap.eq(st, 403, "a viewer cannot import")
    st, js = add(a, "uid", "x1", token=A, reason="admin may too")
    tap.check(st == 200 and js.get("workers_refreshed") == 2,
              "an admin adds; both workers read it before the answer",
              repr(js))
    st, js = remove(a, "uid", "x1")
    tap.eq(st, 200, "an operator removes")
    st, js = remove(a, "uid", "x1")
    tap.eq(st, 404, "removing what is not there: 404")
    for bad, what in (({"kind": "uid"}, "value missing"),
                      ({"kind": "user", "value": "u"}, "kind"),
                      ({"kind": "ip", "value": "10.0.0.300"}, "value"),
                      ({"kind": "uid", "value": "u", "ttl_s": 0}, "ttl_s"),
                      ({"kind": "uid", "value": "u", "expires_at": 1000},
                       "expires_at"),
                      ({"kind": "uid", "value": "u", "colour": 1}, "colour")):
        st, js = admin(a, "POST", "/admin/blacklist", O, bad)
        tap.check(st == 400 and what.split()[0] in (js or {}).get(
            "message", ""), "bad add (%s): 400 naming it" % what, repr(js))


def test_uid_and_ip(a):
    st, js = add(a, "uid", "mallory", reason="chargeback fraud, ticket 7")
    tap.eq(st, 200, "add a global uid")
    add(a, "ip", "127.0.0.2", reason="bot")
    add(a, "ip", "127.0.8.0/21", reason="scanner range")
    t0 = lmdb_txnid(a.store_dir)
    js = refused(a, 901, "mallory", n=12)
    tap.check(js is not None and js.get("scope") == "global",
              "the uid is 403 blacklisted, scope global, on new connections",
              repr(js))
    tap.check(js is not None and "chargeback" not in json.dumps(js) and
              "uid" not in js.get("message", ""),
              "the answer shows neither the reason nor which field matched",
              repr(js))
    tap.check(refused(a, 902, "mallory") is not None,
              "a global uid: refused in the other activity too")
    tap.check(refused(a, 901, "alice", source="127.0.0.2") is not None,
              "a blacklisted address (/32): refused whatever the uid")
    tap.check(refused(a, 901, "alice", source="127.0.13.200") is not None,
              "an address inside a blacklisted v4 CIDR: refused")
    tap.eq(lmdb_txnid(a.store_dir), t0,
           "none of those refusals wrote to the store (LMDB txnid unchanged)")
    tap.check(passes(a, 901, "alice", source="127.0.16.1"),
              "just outside the CIDR: served")
    tap.check(lmdb_txnid(a.store_dir) > t0,
              "a served bind writes (the txnid check can fail)")
    tap.check(metric(a, "amsd_blacklist_refusals_total", scope="global",
                     kind="uid") >= 20 and
              metric(a, "amsd_blacklist_refusals_total", scope="global",
                     kind="ip") >= 16,
              "refusals counted by scope and kind in /metrics")


def test_activity_scope(a):
    add(a, "uid", "eve", activity=901, reason="only here")
    add(a, "ip", "127.0.5.0/24", activity=902)
    js = refused(a, 901, "eve")
    tap.check(js is not None and js.get("scope") == "activity",
              "a per-activity uid: refused there, scope activity", repr(js))
    tap.check(passes(a, 902, "eve"), "... and served in the other activity")
    tap.check(refused(a, 902, "bob", source="127.0.5.9") is not None,
              "a per-activity prefix: refused there")
    tap.check(passes(a, 901, "bob", source="127.0.5.9"),
              "... and served in the other activity")


def test_expiry_and_remove(a):
    now = int(time.time() * 1000)
    add(a, "uid", "temp", ttl_s=60, reason="cool down")
    tap.check(refused(a, 901, "temp", now=now + 59000) is not None,
              "before its expiry: refused")
    tap.check(passes(a, 901, "temp", now=now + 61000),
              "past its expiry (request clock): served, nothing ran")
    add(a, "ip", "127.0.3.3", ttl_s=1)
    tap.check(refused(a, 901, "carol", n=2, source="127.0.3.3") is not None,
              "an address with a 1 s expiry: refused")
    time.sleep(1.3)
    tap.check(passes(a, 901, "carol", source="127.0.3.3"),
              "after 1.3 s: served without any action")
    st, _ = remove(a, "uid", "mallory")
    tap.eq(st, 200, "remove the uid")
    tap.check(passes(a, 901, "mallory", n=8),
              "removed: served at once on every worker")
    remove(a, "ip", "127.0.8.0/21")
    tap.check(passes(a, 901, "alice", source="127.0.13.200"),
              "the CIDR removed: served")


def test_list(a):
    st, js = admin(a, "GET", "/admin/blacklist?kind=ip&activity=0", V)
    vals = sorted(e["value"] for e in (js or {}).get("entries", []))
    tap.eq(vals, ["127.0.0.2/32"],
           "list kind=ip activity=0: the live global prefixes")
    st, js = admin(a, "GET", "/admin/blacklist?kind=ip&include_expired=1", V)
    vals = sorted(e["value"] for e in (js or {}).get("entries", []))
    tap.eq(vals, ["127.0.0.2/32", "127.0.3.3/32", "127.0.5.0/24"],
           "include_expired=1 lists the expired one too")
    st, js = admin(a, "GET", "/admin/blacklist?match=127.0.5.77", V)
    ent = (js or {}).get("entries", [])
    tap.check(len(ent) == 1 and ent[0]["value"] == "127.0.5.0/24" and
              ent[0]["scope"] == "activity" and ent[0]["activity"] == 902,
              "match=ADDRESS finds the prefix holding it", repr(js))
    st, js = admin(a, "GET", "/admin/blacklist?match=eve", V)
    ent = (js or {}).get("entries", [])
    tap.check(len(ent) == 1 and ent[0]["reason"] == "only here",
              "match=UID finds its entry with its reason", repr(js))
    st, js = admin(a, "GET", "/admin/blacklist?colour=red", V)
    tap.check(st == 400 and "colour" in js.get("message", ""),
              "an unknown filter: 400 naming it", repr(js))


def test_import(a):
    lines = ["kind,value,reason,expires_at"]
    bad = {}
    for i in range(100000):
        if i % 2:
            lines.append("uid,bulk%d,imported,%s" % (i, "" if i % 3 else
                                                     "2099-01-01T00:00:00Z"))
        else:
            lines.append("ip,10.%d.%d.0/24,\"list, v3\"," % (i // 256 % 256,
                                                             i % 256))
    for n, text, why in ((101, "uid,bad uid,x,", "value"),
                         (5000, "ip,999.1.1.1,x,", "value"),
                         (77777, "uid,u,x,yesterday", "expires_at"),
                         (99999, "uid,only,three", "3 fields")):
        lines[n - 1] = text
        bad[n] = why
    body = ("\n".join(lines) + "\n").encode()
    t0 = time.monotonic()
    st, js = admin(a, "POST", "/admin/blacklist/import", O, body)
    secs = time.monotonic() - t0
    tap.diag("import of 100,000 lines: %.2f s (parse, store, both workers "
             "read it)" % secs)
    tap.check(st == 200 and js.get("loaded") == 100000 - 4 and
              js.get("rejected") == 4,
              "import: 99,996 loaded, 4 rejected", repr(js)[:500])
    errs = (js or {}).get("errors", [])
    tap.check(all(any(e.startswith("line %d: " % n) and why in e
                      for e in errs) for n, why in bad.items()),
              "each bad line named by its number and field", repr(errs))
    tap.check(refused(a, 901, "bulk12345", n=4) is not None and
              refused(a, 902, "bulk99995", n=4) is not None,
              "imported uids are refused at once on every worker")
    st, js = admin(a, "GET", "/admin/blacklist?kind=uid&limit=5", V)
    tap.check(st == 200 and js.get("total", 0) >= 49998 and
              len(js.get("entries", [])) == 5,
              "list: total counts all, limit bounds the entries", repr(js)[:300])
    # The check stays cheap with 100,000 entries: a served request's time
    # barely moves (the unit test measures the check itself).
    t0 = time.monotonic()
    ok = passes(a, 901, "someone", n=50)
    tap.check(ok, "50 requests served with 100,000 entries (%.1f ms each, "
              "new connection each)" % ((time.monotonic() - t0) * 20))


def test_audit(a):
    with open(a.audit_path) as f:
        recs = [json.loads(l) for l in f if l.strip()]
    bl = [r for r in recs if r.get("path", "").startswith("/admin/blacklist")]
    adds = [r for r in bl if r.get("path") == "/admin/blacklist" and
            r.get("verb") == "POST" and r.get("status") == 200]
    tap.check(any(r.get("detail", {}).get("value") == "mallory" and
                  r.get("detail", {}).get("op") == "add" and
                  r.get("who") == "ops" and r.get("role") == "operator"
                  for r in adds),
              "the audit line of an add names who, op and value",
              repr(adds[:2]))
    tap.check(any(r.get("detail", {}).get("op") == "remove" and
                  r.get("detail", {}).get("value") == "127.0.8.0/21"
                  for r in bl),
              "a remove is audited with its value")
    tap.check(any(r.get("detail", {}).get("op") == "import" and
                  r.get("detail", {}).get("loaded") == 99996 for r in bl),
              "an import is audited with its counts")
    tap.check(any(r.get("status") == 403 and r.get("who") == "dash"
                  for r in bl),
              "a refused viewer's attempt is audited too")


def test_restart(a):
    a.stop()
    a.start()
    tap.check(refused(a, 901, "eve", n=4) is not None and
              refused(a, 901, "bulk12345", n=2) is not None,
              "after a restart (LMDB): the blacklist still refuses at once")


def test_v6():
    """A node listening on [::1]: a v6 client inside a blacklisted v6
    prefix is refused before any store write."""
    a = H.Amsd(tap, acts(), workers=1, plugins=PLUGINS, name="v6",
               extra=tokens_conf())
    with open(a.conf_path) as f:
        text = f.read()
    text = text.replace('listen = "127.0.0.1:%d"' % a.port,
                        'listen = "[::1]:%d"' % a.port)
    with open(a.conf_path, "w") as f:
        f.write(text)
    a.write_conf = lambda: None
    try:
        a.start()
    except RuntimeError as e:
        tap.check(False, "amsd listens on [::1]", str(e)[-500:])
        return
    try:
        add(a, "ip", "::1/128", activity=901)
        add(a, "ip", "::/8", activity=902)
        t0 = lmdb_txnid(a.store_dir)
        tap.check(refused(a, 901, "v6user", source="::1", host="::1")
                  is not None, "a v6 client on a blacklisted v6 address: "
                  "refused")
        tap.check(refused(a, 902, "v6user", source="::1", host="::1")
                  is not None, "a v6 client inside a blacklisted v6 CIDR: "
                  "refused")
        tap.eq(lmdb_txnid(a.store_dir), t0,
               "v6 refusals wrote nothing (LMDB txnid unchanged)")
    finally:
        a.end()


# ----------------------------------------------------------------- Redis

def snapshot(r):
    with r.client() as c:
        keys = sorted(c.cmd("KEYS", "*"))
        return {k: c.cmd("DUMP", k) for k in keys}


def test_redis():
    r = redisd.RedisServer()
    try:
        extra = tokens_conf() + "blacklist = { poll_ms = 200; " \
            "show_reason = true; };\n"
        n1 = H.Amsd(tap, acts(), workers=2, plugins=PLUGINS, name="n1",
                    store=r.uri, extra=extra).start()
        n2 = H.Amsd(tap, acts(), workers=2, plugins=PLUGINS, name="n2",
                    store=r.uri, extra=extra).start()
        tap.check(passes(n2, 901, "trudy"), "redis: trudy served on n2")
        st, _ = add(n1, "uid", "trudy", reason="shared fraud list")
        tap.eq(st, 200, "redis: add on n1")
        js = refused(n1, 901, "trudy", n=4)
        tap.check(js is not None and
                  js.get("blacklist_reason") == "shared fraud list",
                  "redis: refused on n1 at once, the reason shown "
                  "(show_reason = true)", repr(js))
        t0 = time.monotonic()
        H.wait_until(lambda: call(n2, 901, "trudy")[0] == 403, 5)
        lag = time.monotonic() - t0
        tap.check(refused(n2, 901, "trudy", n=8) is not None,
                  "redis: refused on the other node within %.2f s "
                  "(poll_ms 200)" % lag)
        add(n2, "ip", "127.0.0.0/16", activity=902)
        H.wait_until(lambda: call(n1, 902, "probe", source="127.0.9.9")[0]
                     == 403, 5)
        before = snapshot(r)
        for a in (n1, n2):
            refused(a, 901, "trudy", n=10)
            refused(a, 902, "whoever", n=10, source="127.0.9.9")
        after = snapshot(r)
        tap.check(after == before,
                  "redis: 40 refusals on two nodes left every key and value "
                  "as it was (%d keys)" % len(before),
                  *["changed: %r" % k for k in sorted(set(before) | set(after))
                    if before.get(k) != after.get(k)])
        remove(n2, "uid", "trudy")
        H.wait_until(lambda: call(n1, 901, "trudy")[0] == 200, 5)
        tap.check(passes(n1, 901, "trudy", n=4) and passes(n2, 901, "trudy"),
                  "redis: removed on n2, served on both nodes")
        # Redis emptied under the nodes (a restart without persistence):
        # the journal there now is the truth, and its first change is not
        # skipped because the nodes had read further in the old one.
        add(n1, "uid", "oldie")
        H.wait_until(lambda: call(n2, 901, "oldie")[0] == 403, 5)
        r.cmd("FLUSHALL")
        add(n1, "uid", "newbie")
        ok = H.wait_until(lambda: call(n2, 901, "newbie")[0] == 403, 5)
        tap.check(ok and refused(n2, 901, "newbie", n=4) is not None and
                  refused(n1, 901, "newbie", n=4) is not None,
                  "redis emptied: a new entry applies on both nodes")
        tap.check(passes(n1, 901, "oldie", n=4) and passes(n2, 901, "oldie"),
                  "redis emptied: the lost entries no longer apply (the "
                  "store is the truth)")
        tap.check("not the one read before" in n2.log(),
                  "redis emptied: the nodes log that they read the new "
                  "journal")
        n1.end()
        n2.end()
    finally:
        r.close()


def main():
    a = H.Amsd(tap, acts(), workers=2, plugins=PLUGINS, extra=tokens_conf())
    a.audit_path = os.path.join(a.dir, "audit.log")
    a.extra += 'audit_log = "%s";\n' % a.audit_path
    a.write_conf()
    a.start()
    with tap.section("roles"):
        test_roles(a)
    with tap.section("uid and ip"):
        test_uid_and_ip(a)
    with tap.section("activity scope"):
        test_activity_scope(a)
    with tap.section("expiry and remove"):
        test_expiry_and_remove(a)
    with tap.section("list"):
        test_list(a)
    with tap.section("import"):
        test_import(a)
    with tap.section("audit"):
        test_audit(a)
    with tap.section("restart"):
        test_restart(a)
    a.end()
    with tap.section("v6"):
        test_v6()
    with tap.section("redis"):
        test_redis()


tap.run(main)
