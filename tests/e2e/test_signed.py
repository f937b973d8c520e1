#!/usr/bin/env python3
"""test_signed.py -- signed server-to-server callers, end to end.

Real amsd binaries; requests signed here the way the operator guide
tells an upstream service to sign them (Python's hmac, the guide's
snippet), so a mismatch between the guide and the server fails here.

- a correctly signed request is accepted (either of the two secrets);
- a wrong signature, a body changed after signing, an unknown app, a
  malformed header, two Authorization headers: 401 bad_signature (with
  WWW-Authenticate); no secret or signature in any answer or log line;
- a timestamp 400 s off either way: 401 stale_request (250 s: fine);
- a replay of an accepted request: 409 replayed, and the counter it
  increments counted once; a refused signature does not use up the
  nonce (verification comes before the nonce is stored);
- a method with signed = true from an unsigned caller (or one with a
  Bearer token): 401 signature_required; a param of signed_params from
  an unsigned caller: 403 signed_param naming it;
- the query is part of the signature, in its canonical order;
- rotation: both secrets valid, then the old one removed by a reload
  (refused from then on), then a secret file rewritten and reloaded; a
  reload naming a missing secret file fails and changes nothing;
- on a listener with auth = "jwt": a signed caller speaks for the body's
  uid without a token, while the same body unsigned is refused 401
  (a uid in the body alone names nobody);
- two nodes on one Redis: a signed request accepted on node A is refused
  as replayed on node B; the same signed request sent 24 times at once to
  both nodes is accepted exactly once, and counted once.
"""
import http.client
import os
import subprocess
import threading
import time
import uuid

import harness as H
import redisd

tap = H.Tap()

APP = "loan-core"
KEY1 = b"9f2c5e8a1b4d7f0a3c6e9b2d5f8a1c4e7b0d3f6a9c2e5b8d1f4a7c0e3b6d9f2a"
KEY2 = b"rotated-7d4a1f8c5b2e9d6a3f0c7b4e1d8a5f2c9b6e3d0a7f4c1b8e5d2a9f6c3"
KEY3 = b"third-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"
SCHEME = H.SIGNED_SCHEME

METHODS = [
    '{ name = "echo"; handler = { use = "testplug.echo"; }; }',
    '{ name = "signed_echo"; signed = true;'
    ' handler = { use = "testplug.echo"; }; }',
    '{ name = "repay"; signed_params = ["amount"];'
    ' handler = { use = "testplug.echo"; }; }',
    '{ name = "inc"; signed = true;'
    ' operations = ( { use = "testplug.count";'
    ' params = { key = "stock"; max = 1000; }; } ); }',
    '{ name = "get"; handler = { use = "counter.get";'
    ' params = { key = "stock"; scope = "activity"; }; }; }',
]
ACTS = {"main.conf": H.activities_file(H.activity(100, METHODS))}


def callers_conf(files):
    return ("signed_callers = ( { app = \"%s\"; secret_files = [%s]; } );\n"
            "signed_window_s = 300;\n"
            % (APP, ", ".join('"keys/%s"' % f for f in files)))


def put_key(a, name, secret):
    d = os.path.join(a.dir, "keys")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path + ".new", "wb") as f:
        f.write(secret + b"\n")
    os.chmod(path + ".new", 0o600)
    os.replace(path + ".new", path)


def sign(secret, path, body, app=APP, ts=None, nonce=None, verb="POST",
         query=""):
    """The operator guide's recipe (harness.ams_sign); every signature
    made is kept to check that none leaks into an answer or the log."""
    ts = int(time.time()) if ts is None else ts
    auth, sig = H.ams_sign(secret, app, path, body, ts, nonce, verb, query)
    SIGS.append(sig)
    return auth


_n = [0]


def rid():
    _n[0] += 1
    return "s%d-%d" % (os.getpid(), _n[0])


def body_of(method_rid, uid="u1", params=None):
    b = '{"uid":"%s","request_id":"%s"' % (uid, method_rid)
    if params is not None:
        b += ',"params":%s' % params
    return (b + "}").encode()


def post(a, method, body, auth=None, headers=None, query="", conn=None):
    h = dict(headers or {})
    if auth is not None:
        h["Authorization"] = auth
    path = a.path(100, method) + ("?" + query if query else "")
    return a.request("POST", path, body, h, conn)


def signed_post(a, method, body, secret=KEY1, **kw):
    query = kw.pop("query", "")
    auth = sign(secret, a.path(100, method), body, query=query, **kw)
    return post(a, method, body, auth, query=query), auth


def check(st, js, status, reason, what, *mention):
    msg = (js or {}).get("message", "")
    return tap.check(st == status and (js or {}).get("reason") == reason
                     and all(m in msg for m in mention),
                     "%s: %d %s%s" % (what, status, reason,
                                      ", naming " + ", ".join(mention)
                                      if mention else ""),
                     "got %r %r" % (st, js))


def counter(a):
    st, js, _, _ = a.request("POST", a.path(100, "get"),
                             body_of(rid()), None)
    return ((js or {}).get("data") or {}).get("stock")


def test_accept_and_refuse(a):
    with tap.section("accepted"):
        b = body_of(rid(), params='{"amount":600}')
        (st, js, raw, _), _ = signed_post(a, "signed_echo", b)
        tap.check(st == 200 and (js or {}).get("code") == 0,
                  "a correctly signed request: 200 ok", repr(raw))
        tap.eq(((js or {}).get("data") or {}).get("uid"), "u1",
               "the signed caller speaks for the body's uid")
        b = body_of(rid())
        (st, js, raw, _), _ = signed_post(a, "signed_echo", b, KEY2)
        tap.check(st == 200 and (js or {}).get("code") == 0,
                  "signed with the second secret: 200 ok", repr(raw))
        b = body_of(rid())
        (st, js, raw, _), _ = signed_post(a, "echo", b)
        tap.check(st == 200 and (js or {}).get("code") == 0,
                  "a signed caller on a method that does not need it: ok",
                  repr(raw))

    with tap.section("bad signatures"):
        b = body_of(rid())
        auth = sign(KEY3, a.path(100, "signed_echo"), b)
        st, js, raw, hdrs = post(a, "signed_echo", b, auth)
        check(st, js, 401, "bad_signature", "signed with a secret amsd "
              "does not know", "signature does not match")
        tap.eq(hdrs.get("www-authenticate"), SCHEME,
               "401 carries WWW-Authenticate: AMS-HMAC-SHA256")
        sig = auth.rsplit("sig=", 1)[1]
        tap.check(sig not in raw.decode(errors="replace")
                  and KEY1.decode() not in raw.decode(errors="replace"),
                  "the answer holds neither the signature nor a secret")
        auth = sign(KEY1, a.path(100, "signed_echo"), b)
        st, js, _, _ = post(a, "signed_echo",
                            b.replace(b'"u1"', b'"u2"'), auth)
        check(st, js, 401, "bad_signature", "body changed after signing")
        st, js, _, _ = post(a, "repay", b, auth)
        check(st, js, 401, "bad_signature", "signed for another path")
        auth = sign(KEY1, a.path(100, "signed_echo"), b, app="wallet")
        st, js, _, _ = post(a, "signed_echo", b, auth)
        check(st, js, 401, "bad_signature", "an unknown app",
              'unknown app "wallet"')
        auth = sign(KEY1, a.path(100, "signed_echo"), b)
        st, js, _, _ = post(a, "signed_echo", b,
                            auth.rsplit(", sig=", 1)[0])
        check(st, js, 401, "bad_signature", "a header without sig=",
              "sig= missing")
        st, js, _, _ = post(a, "signed_echo", b,
                            auth.replace("nonce=", "nonce=!"))
        check(st, js, 401, "bad_signature", "a malformed nonce", "nonce:")
        st, js, _, _ = post(a, "signed_echo", b,
                            auth.replace("ts=", "ts=x"))
        check(st, js, 401, "bad_signature", "a malformed ts", "ts:")
        # Two Authorization headers: http.client sends both when given
        # as a list of tuples through putheader.
        conn = a.connect()
        try:
            conn.putrequest("POST", a.path(100, "signed_echo"))
            conn.putheader("Content-Length", str(len(b)))
            conn.putheader("Authorization", auth)
            conn.putheader("Authorization", "Bearer abcdef")
            conn.endheaders(b)
            resp = conn.getresponse()
            raw = resp.read()
            tap.check(resp.status == 401 and b"given more than once" in raw,
                      "two Authorization headers: 401 bad_signature",
                      repr(raw))
        finally:
            conn.close()

    with tap.section("time window"):
        now = int(time.time())
        for off in (-400, 400):
            b = body_of(rid())
            (st, js, _, _), _ = signed_post(a, "signed_echo", b, ts=now + off)
            check(st, js, 401, "stale_request", "ts %+d s" % off,
                  "at most 300 s")
        b = body_of(rid())
        (st, js, raw, _), _ = signed_post(a, "signed_echo", b, ts=now - 250)
        tap.check(st == 200, "ts 250 s old: accepted", repr(raw))

    with tap.section("replays"):
        before = counter(a)
        b = body_of(rid())
        (st, js, raw, _), auth = signed_post(a, "inc", b)
        tap.check(st == 200 and (js or {}).get("code") == 0,
                  "signed inc: ok", repr(raw))
        st, js, raw, _ = post(a, "inc", b, auth)
        check(st, js, 409, "replayed", "the same signed request again",
              "nonce was already used")
        b2 = body_of(rid())
        st, js, raw, _ = post(a, "inc", b2,
                              sign(KEY1, a.path(100, "inc"), b2,
                                   nonce=auth.split("nonce=")[1]
                                   .split(",")[0]))
        check(st, js, 409, "replayed", "another request with a used nonce")
        tap.eq(counter(a), (before or 0) + 1,
               "the replays counted nothing (one increment)")
        # A bad signature with a fresh nonce does not use it up.
        nonce = uuid.uuid4().hex
        b = body_of(rid())
        st, js, _, _ = post(a, "inc", b,
                            sign(KEY3, a.path(100, "inc"), b, nonce=nonce))
        check(st, js, 401, "bad_signature", "a forged request with nonce N")
        st, js, raw, _ = post(a, "inc", b,
                              sign(KEY1, a.path(100, "inc"), b, nonce=nonce))
        tap.check(st == 200 and (js or {}).get("code") == 0,
                  "then the real caller's request with nonce N: ok "
                  "(verified before the nonce is stored)", repr(raw))
        st, js, _, _ = post(a, "inc", b,
                            sign(KEY1, a.path(100, "inc"), b, nonce=nonce,
                                 ts=int(time.time()) - 1000))
        check(st, js, 401, "stale_request",
              "a stale replay: stale (the window is checked first)")

    with tap.section("unsigned callers"):
        b = body_of(rid())
        st, js, _, hdrs = post(a, "signed_echo", b)
        check(st, js, 401, "signature_required",
              "an unsigned caller of a signed method", '"signed_echo"')
        tap.eq(hdrs.get("www-authenticate"), SCHEME,
               "with WWW-Authenticate")
        st, js, _, _ = post(a, "signed_echo", b, "Bearer some.jwt.token")
        check(st, js, 401, "signature_required",
              "a Bearer token is not a signature")
        b = body_of(rid(), params='{"amount":600}')
        st, js, _, _ = post(a, "repay", b)
        check(st, js, 403, "signed_param", "amount from an unsigned caller",
              "params.amount")
        b = body_of(rid(), params='{"note":"x"}')
        st, js, raw, _ = post(a, "repay", b)
        tap.check(st == 200, "the same method without amount: ok", repr(raw))
        b = body_of(rid(), params='{"amount":600}')
        (st, js, raw, _), _ = signed_post(a, "repay", b)
        tap.check(st == 200 and
                  ((js or {}).get("data") or {}).get("params") ==
                  {"amount": 600},
                  "amount from a signed caller: ok, the amount handed on",
                  repr(raw))

    with tap.section("the query is signed"):
        b = body_of(rid())
        (st, js, raw, _), _ = signed_post(a, "signed_echo", b,
                                          query="b=2&a=1")
        tap.check(st == 200, "a query signed in canonical order: ok",
                  repr(raw))
        b = body_of(rid())
        auth = sign(KEY1, a.path(100, "signed_echo"), b)  # without it
        st, js, _, _ = post(a, "signed_echo", b, auth, query="a=1")
        check(st, js, 401, "bad_signature", "a query added after signing")


def reload(a):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=60)
    try:
        return a.request("POST", "/admin/reload", b"", conn=conn)
    finally:
        conn.close()


def test_rotation(a):
    with tap.section("rotation"):
        a.extra = callers_conf(["lc.2"])
        a.write_conf()
        st, js, raw, _ = reload(a)
        tap.check(st == 200, "reload with the old secret removed", repr(raw))
        b = body_of(rid())
        (st, js, _, _), _ = signed_post(a, "signed_echo", b, KEY1)
        check(st, js, 401, "bad_signature", "after the reload, the removed "
              "secret")
        b = body_of(rid())
        (st, js, raw, _), _ = signed_post(a, "signed_echo", b, KEY2)
        tap.check(st == 200, "the remaining secret: ok", repr(raw))
        put_key(a, "lc.2", KEY3)
        st, js, raw, _ = reload(a)
        tap.check(st == 200, "reload after the secret file changed",
                  repr(raw))
        b = body_of(rid())
        (st, js, _, _), _ = signed_post(a, "signed_echo", b, KEY2)
        check(st, js, 401, "bad_signature", "the file's old content")
        b = body_of(rid())
        (st, js, raw, _), _ = signed_post(a, "signed_echo", b, KEY3)
        tap.check(st == 200, "the file's new content: ok", repr(raw))
        a.extra = callers_conf(["lc.2", "missing"])
        a.write_conf()
        st, js, raw, _ = reload(a)
        tap.check(st != 200 and b"missing" in raw,
                  "a reload naming a missing secret file fails, naming it",
                  repr(raw))
        b = body_of(rid())
        (st, js, raw, _), _ = signed_post(a, "signed_echo", b, KEY3)
        tap.check(st == 200, "and the secrets in force stay", repr(raw))
        a.extra = callers_conf(["lc.2"])
        a.write_conf()


def test_describe(a):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=30)
    try:
        st, js, raw, _ = a.request("GET", "/admin/activities/100", conn=conn)
    finally:
        conn.close()
    methods = {m.get("name"): m for m in
               ((js or {}).get("activity") or {}).get("methods", [])}
    tap.check(st == 200 and methods.get("signed_echo", {}).get("signed")
              is True and methods.get("repay", {}).get("signed_params") ==
              ["amount"] and methods.get("echo", {}).get("signed") is False,
              "GET /admin/activities/100 shows signed and signed_params",
              repr(raw[:300]))


SIGS = []  # signatures sent, to look for in the log


def test_check(a):
    """amsd -t names a bad secret file at its line."""
    put_key(a, "short", b"tooshort")
    bad = os.path.join(a.dir, "bad.conf")
    with open(a.conf_path) as f:
        text = f.read().replace('secret_files = ["keys/lc.2"]',
                                'secret_files = ["keys/short"]')
    with open(bad, "w") as f:
        f.write(text)
    line = text[:text.index("keys/short")].count("\n") + 1
    p = subprocess.run([H.AMSD, "-t", "-c", bad], capture_output=True,
                       text=True, timeout=60)
    out = p.stdout + p.stderr
    tap.check(p.returncode != 0 and
              ("bad.conf:%d: signed_callers: secret file keys/short: 8 "
               "bytes" % line) in out,
              "amsd -t: a short secret file is an error at file:line", out)


def test_logs(a):
    log = a.log()
    leaked = [s for s in (KEY1, KEY2, KEY3) if s.decode() in log]
    tap.check(not leaked, "no secret in the amsd log", repr(leaked))
    leaked = [s for s in SIGS if s in log]
    tap.check(SIGS and not leaked, "no signature in the amsd log",
              repr(leaked[:3]))


def test_two_nodes():
    r = redisd.RedisServer()
    try:
        nodes = []
        for name in ("node A", "node B"):
            n = H.Amsd(tap, ACTS, workers=2, name=name, store=r.uri,
                       extra=callers_conf(["lc.1"]))
            put_key(n, "lc.1", KEY1)
            nodes.append(n)
        with nodes[0] as a, nodes[1] as b:
            a.start()
            b.start()
            with tap.section("a replay on the other node"):
                body = body_of(rid())
                (st, js, raw, _), auth = signed_post(a, "inc", body)
                tap.check(st == 200 and (js or {}).get("code") == 0,
                          "node A: signed inc ok", repr(raw))
                st, js, raw, _ = post(b, "inc", body, auth)
                check(st, js, 409, "replayed",
                      "node B: the same signed request")
                tap.eq(counter(b), 1, "counted once, on both nodes' store")
            with tap.section("one signed request, 24 times at once"):
                body = body_of(rid())
                auth = sign(KEY1, a.path(100, "inc"), body)
                answers = []
                lock = threading.Lock()
                go = threading.Barrier(24)

                def one(i):
                    node = (a, b)[i % 2]
                    conn = node.connect()
                    try:
                        go.wait(10)
                        st, js, _, _ = post(node, "inc", body, auth,
                                            conn=conn)
                    finally:
                        conn.close()
                    with lock:
                        answers.append((st, (js or {}).get("reason")))

                errors = H.run_threads(24, one, 60)
                tap.check(not errors, "every client got an answer", *errors)
                oks = [x for x in answers if x == (200, "ok")]
                replays = [x for x in answers if x == (409, "replayed")]
                tap.check(len(oks) == 1 and len(replays) == 23,
                          "exactly one accepted, 23 replayed",
                          repr(sorted(answers)))
                tap.eq(counter(a), 2, "counted once more")
    finally:
        r.close()


def test_jwt_listener():
    """Identity and signatures together: the end users' listener checks
    tokens; the loan system, which has none, signs instead."""
    a = H.Amsd(tap, ACTS, workers=1, name="jwt", auth=None,
               extra=callers_conf(["lc.1"]) +
               'auth = "jwt";\njwt = { keys = ( { kid = "h1"; alg = "HS256";'
               ' secret_file = "keys/jwt"; } ); };\n')
    put_key(a, "lc.1", KEY1)
    put_key(a, "jwt", KEY3)
    with a, tap.section("signed callers on a jwt listener"):
        a.start()
        b = body_of(rid(), uid="u77", params='{"amount":600}')
        (st, js, raw, _), _ = signed_post(a, "repay", b)
        tap.check(st == 200 and (js or {}).get("code") == 0,
                  "a signed caller without a token: 200 ok", repr(raw))
        tap.eq(((js or {}).get("data") or {}).get("uid"), "u77",
               "and the user is the body's uid it speaks for")
        st, js, raw, _ = post(a, "repay", body_of(rid(), uid="u77"))
        check(st, js, 401, "unauthenticated",
              "the same body unsigned and without a token")


def main():
    test_jwt_listener()
    a = H.Amsd(tap, ACTS, workers=2, name="amsd",
               extra=callers_conf(["lc.1", "lc.2"]))
    put_key(a, "lc.1", KEY1)
    put_key(a, "lc.2", KEY2)
    with a:
        a.start()
        test_accept_and_refuse(a)
        test_rotation(a)
        test_describe(a)
        test_check(a)
        test_logs(a)
    test_two_nodes()


tap.run(main)
