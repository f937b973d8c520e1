#!/usr/bin/env python3
"""test_identity.py -- who the end user is, end to end, on the real amsd
with two listeners:

- a jwt listener (HS256 from a secret file, RS256 and ES256 from PEM
  public keys; issuer and audience checked) with CORS for one origin:
  valid tokens of each algorithm; forged, expired, not-yet-valid,
  wrong-audience, wrong-issuer, wrong-key, unknown-kid and alg-none
  tokens are 401 with WWW-Authenticate and the check that failed; a body
  uid that differs from the token's is 403 uid_mismatch; an anonymous
  method (auth = "none") needs nothing; CORS preflight and answers;
- a gateway listener (trusted_proxies = 127.0.0.1): a signed X-AMS-Uid
  from the trusted peer is accepted, from 127.0.0.2 it is 401, a bad
  signature or stale timestamp is 401; X-Forwarded-For names the client
  only when the peer is trusted (the echo plugin shows the client IP the
  request runs with);
- a reload with a new secret file rotates the keys; a broken key file
  makes the reload refused and the old keys keep working;
- a reload changes a listener's settings (a CORS origin added); one that
  would make a login method anonymous is refused by the workers' check;
- `amsd -t`: warns about auth = "body" (listener and method), refuses
  login = true on an anonymous method (its own auth or its listener's), refuses a config that says nothing
  about identity and has no keys, and passes on the shipped conf/amsd.conf.

Keys are made at test time with the openssl command, in a temp dir.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time

import harness as H

tap = H.Tap()

ISS, AUD = "test-idp", "amsd-test"
ORIGIN = "https://h5.example.com"

ACTS = H.activities_file(H.activity(500, [
    '{ name = "who"; login = true; handler = { use = "testplug.echo"; }; }',
    '{ name = "peek"; handler = { use = "testplug.echo"; }; }',
    '{ name = "open"; auth = "none"; handler = { use = "testplug.echo"; }; }',
]))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(("openssl",) + args, input=data, check=True,
                          capture_output=True).stdout


def der_to_raw(der):
    """An ECDSA DER signature (SEQUENCE of two INTEGERs) as JOSE r || s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(32, b"\0")
        i += 2 + n
    return out


class Keys:
    def __init__(self, d):
        self.d = d
        self.hs = os.urandom(24).hex().encode()  # 48 bytes
        self.write("hs.secret", self.hs + b"\n")
        self.gw = os.urandom(24).hex().encode()
        self.write("gw.secret", self.gw + b"\n")
        for name, args in (("rs", ("-algorithm", "RSA", "-pkeyopt",
                                   "rsa_keygen_bits:2048")),
                           ("rs2", ("-algorithm", "RSA", "-pkeyopt",
                                    "rsa_keygen_bits:2048")),
                           ("es", ("-algorithm", "EC", "-pkeyopt",
                                   "ec_paramgen_curve:P-256"))):
            key = self.path(name + ".key.pem")
            openssl("genpkey", *args, "-out", key)
            openssl("pkey", "-in", key, "-pubout", "-out",
                    self.path(name + ".pub.pem"))

    def path(self, name):
        return os.path.join(self.d, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)

    def token(self, alg="HS256", kid="h1", key=None, **claims):
        c = {"sub": "alice", "iss": ISS, "aud": AUD,
             "exp": int(time.time()) + 600}
        c.update(claims)
        c = {k: v for k, v in c.items() if v is not None}
        hdr = {"alg": alg, "typ": "JWT"}
        if kid:
            hdr["kid"] = kid
        si = (b64u(json.dumps(hdr).encode()) + "." +
              b64u(json.dumps(c).encode()))
        if alg == "HS256":
            sig = hmac.new(key or self.hs, si.encode(),
                           hashlib.sha256).digest()
        elif alg == "RS256":
            sig = openssl("dgst", "-sha256", "-sign",
                          self.path((key or "rs") + ".key.pem"),
                          data=si.encode())
        elif alg == "ES256":
            sig = der_to_raw(openssl("dgst", "-sha256", "-sign",
                                     self.path((key or "es") + ".key.pem"),
                                     data=si.encode()))
        else:
            sig = b""
        return si + "." + b64u(sig)


def conf_text(k, port2):
    return (
        'jwt = { keys = (\n'
        '  { kid = "h1"; alg = "HS256"; secret_file = "%s"; },\n'
        '  { kid = "r1"; alg = "RS256"; pem_file = "%s"; },\n'
        '  { kid = "e1"; alg = "ES256"; pem_file = "%s"; } );\n'
        '  issuer = "%s"; audience = "%s"; leeway_s = 5; };\n'
        'gateway_auth = { secret_file = "%s"; window_s = 60; };\n'
        % (k.path("hs.secret"), k.path("rs.pub.pem"), k.path("es.pub.pem"),
           ISS, AUD, k.path("gw.secret")))


def listeners_text(port1, port2):
    return (
        'listeners = (\n'
        '  { listen = "127.0.0.1:%d"; auth = "jwt";\n'
        '    cors_origins = ["%s"]; },\n'
        '  { listen = "127.0.0.1:%d"; auth = "gateway";\n'
        '    trusted_proxies = ["127.0.0.1"]; } );\n' % (port1, ORIGIN, port2))


def call(a, method, body, headers=None, port=None, source=None):
    conn = http.client.HTTPConnection(
        "127.0.0.1", port or a.port, timeout=30,
        source_address=(source, 0) if source else None)
    try:
        return H.request(conn, "POST", "/v1/activities/500/" + method, body,
                         headers)
    finally:
        conn.close()


def bearer(t):
    return {"Authorization": "Bearer " + t}


def refused_401(a, what, tok, words, method="who"):
    st, js, raw, hdrs = call(a, method, {"request_id": "r"}, bearer(tok))
    www = hdrs.get("www-authenticate", "")
    msg = (js or {}).get("message", "")
    tap.check(st == 401 and (js or {}).get("reason") == "unauthenticated",
              "%s: 401 unauthenticated" % what, repr(raw))
    tap.check('error="invalid_token"' in www and words in www,
              "%s: WWW-Authenticate: Bearer error=\"invalid_token\" with the "
              "failed check (%s)" % (what, words), www)
    tap.check(words in msg and tok not in msg and tok not in www,
              "%s: the message says which check failed, not the token"
              % what, msg)


def test_jwt(a, k):
    for alg, kid in (("HS256", "h1"), ("RS256", "r1"), ("ES256", "e1"),
                     ("RS256", None)):
        st, js, raw, _ = call(a, "who", {"request_id": "r"},
                              bearer(k.token(alg, kid)))
        tap.check(st == 200 and js["data"]["uid"] == "alice",
                  "%s token%s: 200 as the token's uid"
                  % (alg, " (kid %s)" % kid if kid else " without kid"),
                  repr(raw))

    good = k.token()
    head, payload, sig = good.split(".")
    forged = ".".join([head, b64u(json.dumps(
        {"sub": "mallory", "iss": ISS, "aud": AUD,
         "exp": int(time.time()) + 600}).encode()), sig])
    refused_401(a, "forged payload", forged, "bad signature")
    refused_401(a, "expired token", k.token(exp=int(time.time()) - 60),
                "expired")
    refused_401(a, "token not valid yet",
                k.token(nbf=int(time.time()) + 120), "not valid yet")
    refused_401(a, "wrong audience", k.token(aud="someone-else"),
                "wrong audience")
    refused_401(a, "wrong issuer", k.token(iss="evil-idp"), "wrong issuer")
    refused_401(a, "wrong key (another RSA key, kid r1)",
                k.token("RS256", "r1", key="rs2"), "bad signature")
    refused_401(a, "wrong key (HS256 with another secret)",
                k.token(key=b"x" * 48), "bad signature")
    refused_401(a, "unknown kid", k.token(kid="nope"), "unknown kid")
    refused_401(a, "alg none", k.token("none", None), "alg none")
    refused_401(a, "HS256 signed with the RSA public key as secret",
                k.token("HS256", "r1",
                        key=open(k.path("rs.pub.pem"), "rb").read()),
                "does not match")
    refused_401(a, "garbage token", "not-a-token", "malformed")

    st, js, raw, hdrs = call(a, "who", {"request_id": "r"})
    tap.check(st == 401 and hdrs.get("www-authenticate") ==
              'Bearer realm="amsd"',
              "no token on a login method: 401 with a Bearer challenge",
              repr(raw), repr(hdrs))
    st, js, raw, _ = call(a, "who", {"request_id": "r", "uid": "bob"},
                          bearer(good))
    tap.check(st == 403 and js.get("reason") == "uid_mismatch",
              "a body uid that differs from the token's: 403 uid_mismatch",
              repr(raw))
    tap.check("bearer token" in js.get("message", "") and
              "bob" not in js["message"],
              "... the message names both sources", js.get("message"))
    st, js, raw, _ = call(a, "who", {"request_id": "r", "uid": "alice"},
                          bearer(good))
    tap.check(st == 200 and js["data"]["uid"] == "alice",
              "the same uid in the body: 200", repr(raw))
    st, js, raw, _ = call(a, "peek", {"request_id": "r", "uid": "bob"})
    tap.check(st == 401, "a body uid without a token on a method without "
              "login: 401 (nobody acts as bob unauthenticated)", repr(raw))
    st, js, raw, _ = call(a, "peek", {"request_id": "r"})
    tap.check(st == 200 and js["data"]["uid"] == "",
              "no token, no login: anonymous", repr(raw))
    st, js, raw, _ = call(a, "open", {"request_id": "r", "uid": "bob"})
    tap.check(st == 200 and js["data"]["uid"] == "",
              "a method with auth = \"none\": anonymous, the body's uid "
              "unused", repr(raw))
    st, js, raw, _ = call(a, "who", {"request_id": "r"},
                          {"Authorization": "Basic YTpi"})
    tap.check(st == 401, "another Authorization scheme: 401", repr(raw))


def gw_headers(k, uid, path, ts=None, secret=None):
    ts = str(int(time.time()) if ts is None else ts)
    canon = "AMS-GW1\n%s\n%s\nPOST\n%s" % (ts, uid, path)
    sig = hmac.new(secret or k.gw, canon.encode(),
                   hashlib.sha256).hexdigest()
    return {"X-AMS-Uid": uid, "X-AMS-Timestamp": ts,
            "X-AMS-Signature": sig}


def test_gateway(a, k, port2):
    path = "/v1/activities/500/who"
    st, js, raw, _ = call(a, "who", {"request_id": "g"},
                          gw_headers(k, "carol", path), port=port2)
    tap.check(st == 200 and js["data"]["uid"] == "carol",
              "gateway header from the trusted peer (127.0.0.1): accepted",
              repr(raw))
    st, js, raw, _ = call(a, "who", {"request_id": "g"},
                          gw_headers(k, "carol", path), port=port2,
                          source="127.0.0.2")
    tap.check(st == 401 and "trusted proxy" in (js or {}).get("message", ""),
              "the same headers from 127.0.0.2 (not trusted): 401",
              repr(raw))
    st, js, raw, _ = call(a, "who", {"request_id": "g"},
                          gw_headers(k, "carol", path, secret=b"y" * 48),
                          port=port2)
    tap.check(st == 401 and "bad X-AMS-Signature" in js.get("message", ""),
              "a gateway signature by another secret: 401", repr(raw))
    st, js, raw, _ = call(a, "who", {"request_id": "g"},
                          gw_headers(k, "carol", path,
                                     ts=int(time.time()) - 600),
                          port=port2)
    tap.check(st == 401 and "away from now" in js.get("message", ""),
              "a timestamp 600 s old (window 60): 401", repr(raw))
    st, js, raw, _ = call(a, "who", {"request_id": "g", "uid": "dave"},
                          gw_headers(k, "carol", path), port=port2)
    tap.check(st == 403 and js.get("reason") == "uid_mismatch",
              "a body uid other than the gateway's: 403", repr(raw))
    st, js, raw, _ = call(a, "who", {"request_id": "g"},
                          bearer(k.token()), port=port2)
    tap.check(st == 401,
              "a bearer token on the gateway listener is not its identity: "
              "401", repr(raw))

    xff = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    st, js, raw, _ = call(a, "peek", {"request_id": "x"}, xff, port=port2)
    tap.check(st == 200 and js["data"]["client_ip"] == "198.51.100.7",
              "X-Forwarded-For from the trusted peer: the rightmost "
              "untrusted entry is the client IP", repr(raw))
    st, js, raw, _ = call(a, "peek", {"request_id": "x"},
                          {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"},
                          port=port2)
    tap.check(st == 200 and js["data"]["client_ip"] == "203.0.113.9",
              "... trusted entries skipped", repr(raw))
    st, js, raw, _ = call(a, "peek", {"request_id": "x"}, xff, port=port2,
                          source="127.0.0.2")
    tap.check(st == 200 and js["data"]["client_ip"] == "127.0.0.2",
              "X-Forwarded-For from an untrusted peer: ignored, the socket "
              "address", repr(raw))
    st, js, raw, _ = call(a, "peek", {"request_id": "x"}, xff)
    tap.check(st == 200 and js["data"]["client_ip"] == "127.0.0.1",
              "on the jwt listener (no trusted proxies): ignored", repr(raw))


def test_cors(a, port2):
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
    try:
        st, _, raw, h = H.request(
            conn, "OPTIONS", "/v1/activities/500/who", None,
            {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"})
    finally:
        conn.close()
    tap.check(st == 204 and h.get("access-control-allow-origin") == ORIGIN
              and h.get("access-control-allow-methods") == "POST" and
              "Authorization" in h.get("access-control-allow-headers", "")
              and "Content-Type" in h.get("access-control-allow-headers", "")
              and h.get("access-control-max-age") == "600" and
              h.get("vary") == "Origin",
              "preflight from an allowed origin: 204 with the CORS headers",
              repr(h))
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
    try:
        st, _, raw, h = H.request(
            conn, "OPTIONS", "/v1/activities/500/who", None,
            {"Origin": "https://evil.example",
             "Access-Control-Request-Method": "POST"})
    finally:
        conn.close()
    tap.check(not any(k.startswith("access-control-") for k in h),
              "preflight from another origin: no CORS header", repr(h))
    st, js, raw, h = call(a, "peek", {"request_id": "c"}, {"Origin": ORIGIN})
    tap.check(st == 200 and h.get("access-control-allow-origin") == ORIGIN
              and h.get("vary") == "Origin",
              "an answer to an allowed origin carries Allow-Origin and "
              "Vary", repr(h))
    st, js, raw, h = call(a, "who", {"request_id": "c"}, {"Origin": ORIGIN})
    tap.check(st == 401 and h.get("access-control-allow-origin") == ORIGIN,
              "... a 401 too (the page can read why)", repr(h))
    st, js, raw, h = call(a, "peek", {"request_id": "c"},
                          {"Origin": "https://evil.example"})
    tap.check(st == 200 and "access-control-allow-origin" not in h,
              "an answer to another origin: no Allow-Origin", repr(h))
    st, js, raw, h = call(a, "peek", {"request_id": "c"}, {"Origin": ORIGIN},
                          port=port2)
    tap.check("access-control-allow-origin" not in h,
              "the gateway listener has no CORS origins: none", repr(h))


def reload(a):
    return a.request("POST", "/admin/reload", b"",
                     conn=http.client.HTTPConnection(
                         "127.0.0.1", a.admin_port, timeout=60))


def test_rotation(a, k):
    old = k.token()
    k.hs = os.urandom(24).hex().encode()
    k.write("hs.secret", k.hs + b"\n")
    st, js, raw, _ = reload(a)
    tap.check(st == 200, "reload with a new HS256 secret file: 200", repr(raw))
    st, js, raw, _ = call(a, "who", {"request_id": "k"}, bearer(old))
    tap.check(st == 401, "a token of the old secret: 401 after the reload",
              repr(raw))
    new = k.token()
    st, js, raw, _ = call(a, "who", {"request_id": "k"}, bearer(new))
    tap.check(st == 200, "a token of the new secret: 200", repr(raw))

    gen = a.healthz()[1].get("generation")
    k.write("hs.secret", b"short\n")
    st, js, raw, _ = reload(a)
    errors = " | ".join((js or {}).get("errors") or [])
    tap.check(st == 422 and "hs.secret" in errors and "secret is" in errors,
              "a broken secret file: the reload is refused, naming the file",
              repr(raw))
    tap.check(k.hs.decode() not in raw.decode(errors="replace"),
              "... without echoing a secret")
    tap.eq(a.healthz()[1].get("generation"), gen,
           "... the generation is unchanged")
    st, js, raw, _ = call(a, "who", {"request_id": "k"}, bearer(new))
    tap.check(st == 200, "... and the keys in force still verify", repr(raw))
    os.rename(k.path("es.pub.pem"), k.path("es.pub.pem.away"))
    st, js, raw, _ = reload(a)
    tap.check(st == 422 and "es.pub.pem" in " ".join(js.get("errors", [])),
              "a missing PEM file: refused too", repr(raw))
    os.rename(k.path("es.pub.pem.away"), k.path("es.pub.pem"))
    k.write("hs.secret", k.hs + b"\n")


def preflight_origin(a, origin):
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
    try:
        st, _, _, h = H.request(conn, "OPTIONS", "/v1/activities/500/who",
                                None, {"Origin": origin,
                                       "Access-Control-Request-Method":
                                       "POST"})
    finally:
        conn.close()
    return h.get("access-control-allow-origin")


def test_reload_listeners(a, port2):
    other = "https://m.example.com"
    a.listeners = listeners_text(a.port, port2).replace(
        '"%s"' % ORIGIN, '"%s", "%s"' % (ORIGIN, other))
    a.write_conf()
    st, js, raw, _ = reload(a)
    tap.check(st == 200 and preflight_origin(a, other) == other,
              "a reload that adds a CORS origin: it is allowed at once",
              repr(raw))
    # The jwt listener made anonymous while method "who" needs a login:
    # refused by the workers' check, naming the method's file:line.
    gen = a.healthz()[1].get("generation")
    a.listeners = listeners_text(a.port, port2).replace(
        'auth = "jwt";', 'auth = "none";')
    a.write_conf()
    st, js, raw, _ = reload(a)
    errors = " | ".join((js or {}).get("errors") or [])
    tap.check(st == 422 and "a.conf:" in errors and
              "method who: login = true" in errors,
              "a reload making a login method anonymous: refused, naming "
              "the method", repr(raw))
    tap.eq(a.healthz()[1].get("generation"), gen,
           "... the generation is unchanged")
    st, js, raw, _ = call(a, "who", {"request_id": "z"})
    tap.check(st == 401, "... and the listener still asks for a token",
              repr(raw))


def check(d, conf, acts=None):
    """amsd -t on conf text (activities: {name: text}) in d."""
    adir = os.path.join(d, "acts")
    shutil.rmtree(adir, ignore_errors=True)
    os.makedirs(adir)
    for name, text in (acts or {"a.conf": ACTS}).items():
        with open(os.path.join(adir, name), "w") as f:
            f.write(text)
    pdir = os.path.join(d, "plugins")
    if not os.path.isdir(pdir):
        os.makedirs(pdir)
        os.symlink(os.path.join(H.PLUGIN_DIRS["testplug"], "testplug.so"),
                   os.path.join(pdir, "testplug.so"))
    path = os.path.join(d, "amsd.conf")
    with open(path, "w") as f:
        f.write('store = "lmdb:%s/store";\nplugins = "%s";\n'
                'activities = "%s";\n' % (d, pdir, adir) + conf)
    r = subprocess.run([H.AMSD, "-t", "-c", path], capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode() + r.stderr.decode(), path


def test_check(d, k):
    rc, out, path = check(d, 'auth = "body";\n')
    tap.check(rc == 0 and "%s:4: warning:" % path in out and
              'auth = "body"' in out and "any client can act as any user"
              in out,
              'amsd -t: auth = "body" passes with a warning at its line',
              out)
    method_body = H.activities_file(H.activity(501, [
        '{ name = "legacy"; auth = "body"; login = true;\n'
        '  handler = { use = "testplug.echo"; }; }']))
    rc, out, _ = check(d, 'auth = "none";\n', {"m.conf": method_body})
    tap.check(rc == 0 and "m.conf:" in out and "warning: method legacy" in out
              and 'auth = "body"' in out,
              'amsd -t: a method\'s auth = "body" is warned about, naming '
              'the method and its file:line', out)
    own_none = H.activities_file(H.activity(502, [
        '{ name = "mine"; auth = "none"; login = true;\n'
        '  handler = { use = "testplug.echo"; }; }']))
    rc, out, _ = check(d, 'auth = "body";\n', {"n.conf": own_none})
    tap.check(rc == 1 and "n.conf:" in out and "method mine: login = true"
              in out and "by its own auth" in out,
              "amsd -t: a method's own auth = \"none\" with login = true "
              "is an error at its file:line", out)
    rc, out, _ = check(d, 'auth = "none";\n')
    tap.check(rc == 1 and "a.conf:" in out and "method who: login = true"
              in out and 'anonymous (auth = "none")' in out,
              "amsd -t: login = true on an anonymous listener is an error "
              "naming the method's file:line", out)
    rc, out, _ = check(d, "")
    tap.check(rc == 1 and 'auth is not set, so it is "jwt"' in out,
              "amsd -t: nothing said about identity and no keys: refused, "
              "saying what to set", out)
    rc, out, _ = check(d, conf_text(k, 0) + 'auth = "jwt";\n'
                       'cors_origins = ["*"];\n')
    tap.check(rc == 1 and 'cors_origins "*" is for anonymous' in out,
              'amsd -t: cors_origins "*" on an authenticated listener is '
              'refused', out)

    # The shipped configuration, laid out as in the repository, with the
    # development secrets scripts/run.sh makes.
    root = os.path.join(d, "repo")
    os.makedirs(os.path.join(root, "conf"))
    os.makedirs(os.path.join(root, "build"))
    os.makedirs(os.path.join(root, "var"))
    shutil.copy(os.path.join(H.SOURCE, "conf", "amsd.conf"),
                os.path.join(root, "conf", "amsd.conf"))
    os.symlink(os.path.join(H.SOURCE, "conf", "activities"),
               os.path.join(root, "conf", "activities"))
    os.symlink(H.PLUGIN_DIRS["counter"], os.path.join(root, "build",
                                                      "plugins"))
    for secret in ("dev-jwt.secret", "dev-loan-core.secret"):
        path = os.path.join(root, "var", secret)
        with open(path, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(path, 0o600)  # as scripts/run.sh makes them
    r = subprocess.run([H.AMSD, "-t", "-c",
                        os.path.join(root, "conf", "amsd.conf")],
                       capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    out = r.stdout.decode() + r.stderr.decode()
    tap.check(r.returncode == 0 and "configuration ok" in out and
              "warning" not in out,
              "amsd -t on the shipped conf/amsd.conf: ok, no warning", out)
    readme_flow(root)


def readme_flow(root):
    """The README's quick start on the shipped conf: a token minted by
    scripts/dev-token.sh names the user; no token, 401."""
    os.makedirs(os.path.join(root, "scripts"))
    shutil.copy(os.path.join(H.SOURCE, "scripts", "dev-token.sh"),
                os.path.join(root, "scripts", "dev-token.sh"))
    tok = subprocess.run([os.path.join(root, "scripts", "dev-token.sh"),
                          "alice"], capture_output=True, check=True,
                         timeout=30).stdout.decode().strip()
    port, admin = H.free_port(), H.free_port()
    log = open(os.path.join(root, "amsd.log"), "wb")
    p = subprocess.Popen([H.AMSD, "-c", os.path.join(root, "conf",
                                                      "amsd.conf"),
                          "--listen", "127.0.0.1:%d" % port,
                          "--admin", "127.0.0.1:%d" % admin,
                          "--workers", "1",
                          "--store", "lmdb:" + os.path.join(root, "store")],
                         stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    try:
        def up():
            try:
                c = http.client.HTTPConnection("127.0.0.1", admin, timeout=2)
                c.request("GET", "/healthz")
                return c.getresponse().status == 200
            except OSError:
                return False
        tap.check(H.wait_until(up, 30), "amsd serves the shipped conf")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        st, js, raw, _ = H.request(conn, "POST",
                                   "/v1/activities/1003/bind",
                                   {"request_id": "r1"},
                                   {"Authorization": "Bearer " + tok})
        tap.check(st == 200 and (js or {}).get("reason") == "ok",
                  "README: bind with a scripts/dev-token.sh token: ok",
                  repr(raw))
        st, js, raw, _ = H.request(conn, "POST",
                                   "/v1/activities/1003/bind",
                                   {"uid": "alice", "request_id": "r2"})
        tap.check(st == 401 and js.get("reason") == "unauthenticated",
                  "README: the old body-only request names nobody: 401",
                  repr(raw))
        conn.close()
    finally:
        p.terminate()
        p.wait(timeout=30)
        log.close()


def main():
    d = tempfile.mkdtemp(prefix="amsd-ident-")
    try:
        k = Keys(d)
        port2 = H.free_port()
        with H.Amsd(tap, {"a.conf": ACTS}, auth=None) as a:
            while port2 == a.port or port2 == a.admin_port:
                port2 = H.free_port()
            a.listeners = listeners_text(a.port, port2)
            a.extra = conf_text(k, port2)
            a.write_conf()
            a.start()
            with tap.section("jwt"):
                test_jwt(a, k)
            with tap.section("gateway and client IP"):
                test_gateway(a, k, port2)
            with tap.section("CORS"):
                test_cors(a, port2)
            with tap.section("key rotation by reload"):
                test_rotation(a, k)
            with tap.section("listener settings by reload"):
                test_reload_listeners(a, port2)
        with tap.section("amsd -t"):
            test_check(d, k)
    finally:
        shutil.rmtree(d, ignore_errors=True)


tap.run(main)
