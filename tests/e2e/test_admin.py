#!/usr/bin/env python3
"""test_admin.py -- the admin plane's authentication, roles and audit log,
end to end.

With three tokens (viewer, operator, admin), every admin route is called
with no token (401, /healthz 200), a wrong token (401), a token of too
small a role (403; viewer routes have no smaller role) and the right
role (success), and by a larger role (success too).  The audit log then
holds exactly one JSON line per call but /healthz, in order, with who,
role and result; GET /admin/audit?since= returns exactly the lines since;
a reload after an activity file changed records different checksums
before and after.  The info routes say what the workers serve (live
stock and request counts included) and every JSON answer names the
generation.  A failed audit write turns the answer into a 500 that
still carries the action's own answer.  Tokens rotate with a reload.
Without tokens, loopback clients are admins and other peers get 403.
"""
import hashlib
import http.client
import json
import os
import re
import socket

import harness as H


def header_abi():
    """MAJOR.MINOR of include/ams/ams.h: what the bundled plugins are
    built against (a minor bump changes it, the test stays)."""
    with open(os.path.join(H.SOURCE, "include", "ams", "ams.h")) as f:
        text = f.read()
    v = {k: re.search(r"#define AMS_ABI_%s (\d+)" % k, text).group(1)
         for k in ("MAJOR", "MINOR")}
    return f"{v['MAJOR']}.{v['MINOR']}"

tap = H.Tap()

TOKENS = {"viewer": ("dash", "viewer-token-0123456789abcdef"),
          "operator": ("ci", "operator-token-0123456789abcdef"),
          "admin": ("root", "admin-token-0123456789abcdef")}
WRONG = "not-a-token-0123456789abcdef"
RANK = {"public": 0, "viewer": 1, "operator": 2, "admin": 3}


def tokens_conf(tokens):
    return "admin_tokens = (\n%s\n);\n" % ",\n".join(
        '  { name = "%s"; token = "%s"; role = "%s"; }' % (n, t, r)
        for r, (n, t) in tokens.items())


AID = 1001
COUPON_STOCK = 10


def acts(name="flash"):
    return H.activities_file(H.activity(
        AID,
        ['{ name = "grab"; operations = ( { use = "coupon.grant";'
         ' params = { coupon = "c1"; }; } ); }',
         '{ name = "echo"; handler = { use = "testplug.echo"; }; }'],
        name=name,
        extra='resources = { coupons = ( { name = "c1"; value = 5;'
              ' stock = %d; } ); budgets = ( { name = "b"; total = 100; } );'
              ' };' % COUPON_STOCK))


# Every admin route: (verb, path, least role, body).  GET /metrics is
# there when the metrics work is (core/admin.c's table).
ROUTES = [
    ("GET", "/healthz", "public", None),
    ("GET", "/admin/activities", "viewer", None),
    ("GET", "/admin/activities/%d" % AID, "viewer", None),
    ("GET", "/admin/plugins", "viewer", None),
    ("GET", "/metrics", "viewer", None),
    ("POST", "/admin/reload", "operator", b""),
    ("POST", "/admin/activities/%d/disable" % AID, "operator", b""),
    ("POST", "/admin/activities/%d/enable" % AID, "operator", b""),
    ("POST", "/admin/tags/import", "operator", b"uid,tag,value\nu1,lvl,gold\n"),
    ("GET", "/admin/audit", "admin", None),
]


class Admin:
    """Calls to one amsd's admin plane; every call but /healthz is
    remembered as the audit line it must leave."""

    def __init__(self, a):
        self.a = a
        self.expected = []  # (verb, path, status, who, role)

    def call(self, verb, path, token=None, body=None, headers=None,
             source=None):
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.a.admin_port, timeout=60,
            source_address=(source, 0) if source else None)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if body is not None and path.endswith("/import"):
            h["Content-Type"] = "text/csv"
        try:
            r = H.request(conn, verb, path, body, h)
        finally:
            conn.close()
        return r

    def expect(self, verb, path, status, who=None, role=None):
        if path.split("?")[0] != "/healthz":
            self.expected.append((verb, path.split("?")[0], status, who,
                                  role))


def audit_lines(a):
    with open(os.path.join(a.dir, "var", "audit.log")) as f:
        return f.read().splitlines()


def who_of(role):
    return TOKENS[role][0] if role in TOKENS else None


def test_routes(a, adm):
    """The matrix: no token, wrong token, a role too small, the right
    role, a larger role."""
    gens = []
    for verb, path, need, body in ROUTES:
        name = "%s %s" % (verb, path)
        if path == "/metrics" and not has_metrics(adm):
            tap.diag("GET /metrics is not an admin route yet: skipped")
            continue
        public = need == "public"
        # No token.
        st, js, raw, hd = adm.call(verb, path, None, body)
        want = 200 if public else 401
        tap.eq(st, want, "%s: no token -> %d" % (name, want))
        adm.expect(verb, path, st)
        if not public:
            tap.check(hd.get("www-authenticate", "").startswith("Bearer"),
                      "%s: 401 says WWW-Authenticate: Bearer" % name,
                      repr(hd))
            tap.check(js and "generation" in js,
                      "%s: the 401 names the generation" % name, repr(raw))
        # A wrong token.
        st, js, raw, hd = adm.call(verb, path, WRONG, body)
        tap.eq(st, want, "%s: wrong token -> %d" % (name, want))
        adm.expect(verb, path, st)
        if not public:
            tap.check('error="invalid_token"' in hd.get("www-authenticate",
                                                        ""),
                      "%s: the 401 says invalid_token" % name, repr(hd))
        # Each role below the one needed.
        for role, (who, tok) in TOKENS.items():
            if public or RANK[role] >= RANK[need]:
                continue
            st, js, raw, _ = adm.call(verb, path, tok, body)
            tap.check(st == 403 and (js or {}).get("needs") == need and
                      need in (js or {}).get("message", ""),
                      "%s: the %s role -> 403 naming %s" % (name, role, need),
                      repr(raw))
            tap.check(js and "generation" in js,
                      "%s: the 403 names the generation" % name, repr(raw))
            adm.expect(verb, path, st, who, role)
        # The right role, then each larger one.
        for role, (who, tok) in TOKENS.items():
            if RANK[role] < RANK[need] or (public and role != "viewer"):
                continue
            st, js, raw, _ = adm.call(verb, path, tok, body)
            tap.eq(st, 200, "%s: the %s role -> 200" % (name, role))
            if not public:
                adm.expect(verb, path, st, who, role)
            if path != "/metrics":
                tap.check(js and isinstance(js.get("generation"), int),
                          "%s: the answer names the generation" % name,
                          repr(raw)[:300])
                gens.append(js.get("generation"))
    tap.check(gens == sorted(gens),
              "the generations answered never go back", repr(gens))


def has_metrics(adm):
    st, _, _, _ = adm.call("GET", "/metrics", TOKENS["admin"][1])
    adm.expect("GET", "/metrics", st, "root", "admin")
    return st != 404


def test_audit_log(a, adm):
    lines = audit_lines(a)
    recs = []
    for l in lines:
        try:
            recs.append(json.loads(l))
        except ValueError:
            recs.append(None)
    tap.check(lines and all(isinstance(r, dict) for r in recs),
              "the audit log exists and every line is a JSON object",
              *lines[:3])
    recs = [r for r in recs if isinstance(r, dict)]
    got = [(r.get("verb"), r.get("path"), r.get("status"), r.get("who"),
            r.get("role")) for r in recs]
    tap.eq(len(got), len(adm.expected),
           "one audit line per admin call (/healthz is not audited)")
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, adm.expected))
           if g != w]
    tap.check(not bad, "each line records the call: verb, path, status, "
              "who, role, in order", *[repr(b) for b in bad[:5]])
    keys = ("ts", "who", "role", "auth", "verb", "path", "route", "client",
            "status", "reason", "generation_before", "generation_after")
    tap.check(all(all(k in r for k in keys) for r in recs),
              "every line has %s" % ", ".join(keys),
              *[json.dumps(r) for r in recs if not all(k in r for k in keys)
                ][:3])
    tap.check(all(list(r)[0] == "ts" for r in recs),
              "\"ts\" comes first in every line")
    ts = [r["ts"] for r in recs]
    tap.check(ts == sorted(ts), "ts never goes back in file order")
    tap.check(all(r["client"].startswith("127.0.0.1:") for r in recs),
              "the client address is recorded")
    posts = [r for r in recs if r["verb"] == "POST" and r["status"] == 200]
    tap.check(posts and all(
        isinstance(r.get("checksums", {}).get("before"), dict) and
        isinstance(r["checksums"].get("after"), dict) for r in posts),
        "changes (POST) record checksums before and after")
    gets = [r for r in recs if r["verb"] == "GET"]
    tap.check(all("checksums" not in r for r in gets),
              "reads record no checksums")
    r401 = [r for r in recs if r["status"] == 401]
    tap.check(r401 and all(r["who"] is None and r["auth"] == "none" and
                           r["reason"] == "unauthorized" for r in r401),
              "a 401 line: who null, auth none, reason unauthorized")
    tap.check(not any(TOKENS[k][1] in l or WRONG in l for k in TOKENS
                      for l in lines),
              "no token, right or wrong, is ever written to the log")

    # GET /admin/audit?since= returns exactly the lines since.
    since = recs[len(recs) // 2]["ts"]
    want = [r for r in recs if r["ts"] >= since]
    st, js, raw, _ = adm.call("GET", "/admin/audit?since=%d" % since,
                              TOKENS["admin"][1])
    adm.expect("GET", "/admin/audit", st, "root", "admin")
    tap.eq(st, 200, "GET /admin/audit?since=: 200")
    tap.check((js or {}).get("records") == want,
              "it returns exactly the %d lines with ts >= since, oldest "
              "first" % len(want),
              "got %d records" % len((js or {}).get("records") or []))
    tap.eq(((js or {}).get("count"), (js or {}).get("truncated")),
           (len(want), False), "count and truncated")
    st, js, raw, _ = adm.call("GET", "/admin/audit?since=0&limit=3",
                              TOKENS["admin"][1])
    adm.expect("GET", "/admin/audit", st, "root", "admin")
    lines_now = [json.loads(l) for l in audit_lines(a)][:-1]
    tap.check(st == 200 and js["records"] == lines_now[-3:] and
              js["truncated"] and js["matched"] == len(lines_now),
              "limit=3: the 3 newest, truncated, matched counts them all",
              repr(raw)[:300])
    st, js, raw, _ = adm.call("GET", "/admin/audit?since=x",
                              TOKENS["admin"][1])
    adm.expect("GET", "/admin/audit", st, "root", "admin")
    tap.eq(st, 400, "since=x: 400")
    st, js, raw, _ = adm.call("GET", "/admin/audit?until=5",
                              TOKENS["admin"][1])
    adm.expect("GET", "/admin/audit", st, "root", "admin")
    tap.check(st == 400 and "until" in (js or {}).get("message", ""),
              "an unknown parameter: 400 naming it", repr(raw))


def test_checksums(a, adm):
    path = os.path.join(a.activities_dir, "main.conf")
    with open(path, "w") as f:
        f.write(acts(name="flash, renamed"))
    st, js, raw, _ = adm.call("POST", "/admin/reload", TOKENS["operator"][1],
                              b"")
    adm.expect("POST", "/admin/reload", st, "ci", "operator")
    tap.eq(st, 200, "reload after an activity file changed: 200")
    rec = json.loads(audit_lines(a)[-1])
    before, after = rec["checksums"]["before"], rec["checksums"]["after"]
    with open(path, "rb") as f:
        now = hashlib.sha256(f.read()).hexdigest()
    tap.check(before.get("activities/main.conf") !=
              after.get("activities/main.conf") and
              after.get("activities/main.conf") == now,
              "its line: the activity file's sha256 differs before and "
              "after, and after is the new file's", json.dumps(rec)[:600])
    tap.check(before.get("config") == after.get("config") and
              len(before.get("config", "")) == 64,
              "the config file's sha256 is recorded (unchanged)")
    so = {k: v for k, v in after.items() if k.startswith("plugins/")}
    real = {}
    for name in os.listdir(a.plugins_dir):
        with open(os.path.join(a.plugins_dir, name), "rb") as f:
            real["plugins/" + name] = hashlib.sha256(f.read()).hexdigest()
    tap.eq(so, real, "every plugin file's sha256 is recorded")
    tap.eq(rec["generation_after"], rec["generation_before"] + 1,
           "the reload's line: generation before and after")
    st, js, raw, _ = adm.call("GET", "/admin/activities/%d" % AID,
                              TOKENS["viewer"][1])
    adm.expect("GET", "/admin/activities/%d" % AID, st, "dash", "viewer")
    tap.eq((js or {}).get("activity", {}).get("name"), "flash, renamed",
           "the new definition is served")


def test_info(a, adm):
    for i in range(3):
        st, js, _ = a.post(AID, "grab", {"uid": "g%d" % i,
                                         "request_id": "grab-%d" % i})
        tap.check(st == 200 and js.get("code") == 0, "grab %d granted" % i,
                  repr(js))
    a.post(AID, "echo", {"uid": "e", "request_id": "echo-1"})
    st, js, raw, _ = adm.call("GET", "/admin/activities/%d" % AID,
                              TOKENS["viewer"][1])
    adm.expect("GET", "/admin/activities/%d" % AID, st, "dash", "viewer")
    act = (js or {}).get("activity") or {}
    tap.eq((act.get("id"), act.get("enabled"), act.get("timezone"),
            act.get("start")),
           (AID, True, "+00:00", "2000-01-01T00:00:00+00:00"),
           "an activity: id, enabled, timezone, start (ISO)")
    methods = {m["name"]: m for m in act.get("methods", [])}
    tap.eq(sorted(methods), ["echo", "grab"], "its methods")
    tap.eq([o["use"] for o in methods.get("grab", {}).get("operations", [])],
           ["coupon.grant"], "grab's operations by entry ref")
    tap.eq(methods.get("echo", {}).get("handler"), "testplug.echo",
           "echo's handler")
    tap.eq(act.get("resources", {}).get("coupons", {}).get("c1", {})
           .get("stock"), COUPON_STOCK, "resources as declared")
    c1 = act.get("live", {}).get("stock", {}).get("coupons", {}).get("c1")
    tap.eq(c1, {"stock": COUPON_STOCK, "given": 3,
                "remaining": COUPON_STOCK - 3},
           "live stock: 3 coupons given, 7 remaining")
    tap.eq(act.get("live", {}).get("stock", {}).get("budgets", {}).get("b"),
           {"stock": 100, "given": 0, "remaining": 100},
           "live budget: untouched")
    req = act.get("live", {}).get("requests")
    tap.check(req is not None and req.get("by_reason", {}).get("ok", 0) >= 4
              and req.get("total", 0) >= 4,
              "live requests by reason, summed over the workers",
              repr(req))
    tap.eq((js or {}).get("workers", {}).get("answered"), 2,
           "both workers answered")

    st, js, raw, _ = adm.call("GET", "/admin/activities", TOKENS["viewer"][1])
    adm.expect("GET", "/admin/activities", st, "dash", "viewer")
    tap.check(st == 200 and [x["id"] for x in js["activities"]] == [AID] and
              js["total"] == 1 and js["next_offset"] is None,
              "the list: one activity, no next page", repr(raw)[:300])
    st, js, raw, _ = adm.call("GET", "/admin/activities?offset=1&limit=5",
                              TOKENS["viewer"][1])
    adm.expect("GET", "/admin/activities", st, "dash", "viewer")
    tap.check(st == 200 and js["activities"] == [] and js["offset"] == 1,
              "offset past the end: empty page", repr(raw)[:300])
    st, js, raw, _ = adm.call("GET", "/admin/activities?limit=0",
                              TOKENS["viewer"][1])
    adm.expect("GET", "/admin/activities", st, "dash", "viewer")
    tap.eq(st, 400, "limit=0: 400")
    st, js, raw, _ = adm.call("GET", "/admin/activities/999",
                              TOKENS["viewer"][1])
    adm.expect("GET", "/admin/activities/999", st, "dash", "viewer")
    tap.check(st == 404 and "generation" in (js or {}),
              "an unknown activity: 404 with the generation", repr(raw))

    st, js, raw, _ = adm.call("GET", "/admin/plugins", TOKENS["viewer"][1])
    adm.expect("GET", "/admin/plugins", st, "dash", "viewer")
    plugs = {p["name"]: p for p in (js or {}).get("plugins", [])}
    tap.eq(sorted(plugs), sorted(n[:-3] for n in os.listdir(a.plugins_dir)),
           "plugins: every plugin loaded")
    real = {}
    for n in os.listdir(a.plugins_dir):
        with open(os.path.join(a.plugins_dir, n), "rb") as f:
            real[n[:-3]] = hashlib.sha256(f.read()).hexdigest()
    tap.eq({k: v["sha256"] for k, v in plugs.items()}, real,
           "plugins: the sha256 of each file")
    cg = {e["name"]: e for e in plugs.get("coupon", {}).get("entries", [])}
    tap.eq(cg.get("grant"), {"name": "grant", "kind": "operation",
                             "undo": True},
           "plugins: entries with kind and undo")
    tap.check(all(p["abi"] == header_abi()
                  and p["generation"] == js["generation"]
                  and p["version"] for p in plugs.values()),
              "plugins: version, ABI, the generation they serve in")

    st, js, raw, _ = adm.call("POST", "/admin/activities/999/disable",
                              TOKENS["operator"][1], b"")
    adm.expect("POST", "/admin/activities/999/disable", st, "ci", "operator")
    tap.eq(st, 404, "disable an unknown activity: 404 (audited too)")
    st, js, raw, _ = adm.call("GET", "/admin/nope", None)
    adm.expect("GET", "/admin/nope", st)
    tap.eq(st, 401, "an unknown path without a token: 401")
    st, js, raw, _ = adm.call("GET", "/admin/nope", TOKENS["viewer"][1])
    adm.expect("GET", "/admin/nope", st, "dash", "viewer")
    tap.eq(st, 404, "with a token: 404")
    st, js, raw, _ = adm.call("GET", "/admin/reload", TOKENS["viewer"][1])
    adm.expect("GET", "/admin/reload", st, "dash", "viewer")
    tap.eq(st, 405, "the wrong verb with a token: 405")
    st, js, raw, _ = adm.call("GET", "/admin/plugins", None,
                              headers={"Authorization": "Basic eDp5"})
    adm.expect("GET", "/admin/plugins", st)
    tap.eq(st, 401, "another auth scheme: 401")


def test_audit_failure(a, adm):
    log = os.path.join(a.dir, "var", "audit.log")
    keep = log + ".keep"
    os.rename(log, keep)
    os.mkdir(log)  # appending to a directory fails
    try:
        st, js, raw, _ = adm.call("POST", "/admin/activities/%d/disable" % AID,
                                  TOKENS["operator"][1], b"")
    finally:
        os.rmdir(log)
        os.rename(keep, log)
    js = js or {}
    tap.check(st == 500 and js.get("reason") == "audit_failed" and
              js.get("result_status") == 200 and
              (js.get("result") or {}).get("enabled") is False,
              "an action that cannot be audited: 500 audit_failed, with "
              "its own answer in result", repr(raw))
    tap.check("is NOT recorded" in a.log(),
              "the server log says the action is not recorded")
    st, js, raw, _ = adm.call("POST", "/admin/activities/%d/enable" % AID,
                              TOKENS["operator"][1], b"")
    adm.expect("POST", "/admin/activities/%d/enable" % AID, st, "ci",
               "operator")
    tap.eq(st, 200, "with the log back, actions are audited again")


def test_rotation(a, adm):
    new = dict(TOKENS)
    new["operator"] = ("ci2", "rotated-operator-token-0123456789")
    a.extra = tokens_conf(new)
    a.write_conf()
    st, js, raw, _ = adm.call("POST", "/admin/reload", TOKENS["operator"][1],
                              b"")
    adm.expect("POST", "/admin/reload", st, "ci", "operator")
    tap.eq(st, 200, "reload with a rotated operator token: 200")
    st, _, _, _ = adm.call("GET", "/admin/plugins", TOKENS["operator"][1])
    adm.expect("GET", "/admin/plugins", st)
    tap.eq(st, 401, "the old token is refused at once")
    st, _, _, _ = adm.call("GET", "/admin/plugins", new["operator"][1])
    adm.expect("GET", "/admin/plugins", st, "ci2", "operator")
    tap.eq(st, 200, "the new one is accepted")
    a.extra = tokens_conf(TOKENS)
    a.write_conf()
    st, _, _, _ = adm.call("POST", "/admin/reload", new["operator"][1], b"")
    adm.expect("POST", "/admin/reload", st, "ci2", "operator")
    tap.eq(st, 200, "and rotated back")


def non_loopback_address():
    for probe in ("192.0.2.1", "10.255.255.255", "8.8.8.8"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))  # UDP: no packet is sent
                addr = s.getsockname()[0]
            if addr.startswith("127.") or addr == "0.0.0.0":
                continue
            with socket.socket() as s:
                s.bind((addr, 0))
            return addr
        except OSError:
            continue
    return None


def test_no_tokens():
    with H.Amsd(tap, {"main.conf": acts()}, workers=1,
                plugins=("testplug", "coupon"), name="no tokens") as a:
        a.start()
        tap.check("no admin_tokens configured" in a.log(),
                  "no tokens: a warning at start")
        adm = Admin(a)
        st, js, raw, _ = adm.call("GET", "/admin/activities")
        tap.check(st == 200 and js["activities"][0]["id"] == AID,
                  "no tokens: a loopback client reads without a token",
                  repr(raw)[:200])
        st, js, raw, _ = adm.call("POST", "/admin/reload", None, b"")
        tap.eq(st, 200, "no tokens: and reloads (as admin)")
        st, js, raw, _ = adm.call("GET", "/admin/audit")
        recs = (js or {}).get("records", [])
        tap.check(st == 200 and len(recs) == 2 and
                  all(r["who"] == "loopback" and r["role"] == "admin" and
                      r["auth"] == "loopback" for r in recs),
                  "no tokens: audited as loopback, admin", repr(raw)[:400])
        src = non_loopback_address()
        if src is None:
            tap.diag("no non-loopback address on this host: the 403 for "
                     "other peers is not checked end to end")
            return
        st, js, raw, _ = adm.call("GET", "/admin/activities", source=src)
        tap.check(st == 403 and "loopback" in (js or {}).get("message", ""),
                  "no tokens: a peer at %s gets 403 (loopback only)" % src,
                  repr(raw))
        st, js, raw, _ = adm.call("POST", "/admin/tags/import", source=src,
                                  body=b"m,lvl,gold\n")
        tap.eq(st, 403, "no tokens: an import from %s too" % src)
        st, _, _, _ = adm.call("GET", "/healthz", source=src)
        tap.eq(st, 200, "no tokens: /healthz answers everyone")
        st, js, raw, _ = adm.call("GET", "/admin/audit")
        last = ((js or {}).get("records") or [{}])[-1]
        tap.check(last.get("status") == 403 and last.get("who") is None and
                  last.get("client", "").startswith(src + ":"),
                  "the refused peer is audited with its address",
                  repr(last))


def test_with_tokens():
    a = H.Amsd(tap, {"main.conf": acts()}, workers=2,
               plugins=("testplug", "counter", "param", "coupon", "credit"),
               extra=tokens_conf(TOKENS), lmdb={"sync": "none"})
    with a:
        a.start()
        tap.check("admin: 3 token(s)" in a.log(), "the tokens are loaded")
        adm = Admin(a)
        for name, fn in [("every route, every caller", test_routes),
                         ("what the workers serve", test_info),
                         ("checksums across a reload", test_checksums),
                         ("a failed audit write", test_audit_failure),
                         ("tokens rotate with a reload", test_rotation),
                         ("the audit log", test_audit_log)]:
            with tap.section(name):
                fn(a, adm)


def test_bad_tokens():
    with H.Amsd(tap, {"main.conf": acts()}, workers=1,
                plugins=("testplug", "coupon"), name="bad tokens",
                extra='admin_tokens = ( { name = "x"; token = "short";'
                      ' role = "boss"; } );\n') as a:
        with open(a.conf_path) as f:
            line = 1 + [i for i, l in enumerate(f.read().splitlines())
                        if l.startswith("admin_tokens")][0]
        r = H.subprocess.run([H.AMSD, "-c", a.conf_path],
                             capture_output=True, text=True, timeout=30)
        tap.check(r.returncode == 1 and
                  "amsd.conf:%d: admin_tokens: token of \"x\" has 5" % line
                  in r.stderr and "role \"boss\"" in r.stderr,
                  "a bad token: amsd refuses to start, naming file:line",
                  r.stderr)
        blocker = os.path.join(a.dir, "not-a-dir")
        with open(blocker, "w") as f:
            f.write("x")
        a.extra = 'audit_log = "%s/audit.log";\n' % blocker
        a.write_conf()
        r = H.subprocess.run([H.AMSD, "-c", a.conf_path],
                             capture_output=True, text=True, timeout=30)
        tap.check(r.returncode == 1 and "audit_log: cannot" in r.stderr and
                  "not-a-dir" in r.stderr,
                  "an audit log that cannot be created: amsd does not "
                  "start, saying why", r.stderr)


def main():
    with tap.section("three tokens"):
        test_with_tokens()
    with tap.section("no tokens"):
        test_no_tokens()
    with tap.section("bad tokens"):
        test_bad_tokens()


tap.run(main)
