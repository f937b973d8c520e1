#!/usr/bin/env python3
"""test_http.py -- the HTTP contract of the data plane, end to end.

Routing through a plugin, the host clock and activity window, business
outcomes (HTTP 200 with code/reason), compensation, every protocol and
server error with its message, keep-alive and timeouts, garbage on the
wire, and a full store answering 503.
"""
import json
import random
import socket
import threading
import time

import harness as H

tap = H.Tap()

ECHO = '{ name = "echo"; handler = { use = "testplug.echo"; }; }'

MAIN = H.activities_file(
    H.activity(100, [
        ECHO,
        '{ name = "echo_login"; login = true;'
        ' handler = { use = "testplug.echo"; }; }',
        '{ name = "rule_fail";'
        ' rule = { use = "testplug.flag";'
        ' params = { pass = false; reason = "vip_only"; }; };'
        ' handler = { use = "testplug.echo"; }; }',
        '{ name = "rule_pass";'
        ' rule = { use = "testplug.flag"; params = { pass = true; }; };'
        ' handler = { use = "testplug.echo"; }; }',
        '{ name = "sold";'
        ' operations = ( { use = "testplug.fail";'
        ' params = { reason = "sold_out"; }; } ); }',
        '{ name = "inc";'
        ' operations = ( { use = "testplug.count";'
        ' params = { key = "stock"; max = 100; }; } ); }',
        '{ name = "comp";'
        ' operations = ( { use = "testplug.count";'
        ' params = { key = "stock"; max = 100; }; },'
        ' { use = "testplug.fail"; params = { reason = "sold_out"; }; } ); }',
        '{ name = "get";'
        ' handler = { use = "counter.get";'
        ' params = { key = "stock"; scope = "activity"; }; }; }',
        '{ name = "fault"; operations = ( { use = "testplug.fault"; } ); }',
        '{ name = "sleep"; handler = { use = "testplug.sleep"; }; }',
    ]),
    H.activity(200, [ECHO], name="future",
               start="2090-01-01T00:00:00+00:00",
               end="2091-01-01T00:00:00+00:00"),
    H.activity(300, [ECHO], name="off", enabled=False),
    H.activity(400, [ECHO], name="past", start="2001-01-01T00:00:00+00:00",
               end="2002-01-01T00:00:00+00:00"),
    H.activity(500, [ECHO], name="crowd",
               extra='crowd = { use = "testplug.flag";'
                     ' params = { pass = false; reason = "not_in_crowd"; };'
                     ' };'),
)

MAX_BODY = 16384
TIMEOUT_MS = 1000


def body(rid, uid=None, params=None):
    b = {"request_id": rid}
    if uid is not None:
        b["uid"] = uid
    if params is not None:
        b["params"] = params
    return b


_rid = [0]


def rid():
    _rid[0] += 1
    return "r%d" % _rid[0]


def still_serves(a, after):
    """After an error: a good request on the instance's connection."""
    try:
        st, js, raw = a.post(100, "echo", body(rid(), "u1"))
    except OSError as e:
        st, js, raw = None, None, repr(e)
    tap.check(st == 200 and js and js.get("code") == 0,
              "after %s the server still answers a good request" % after,
              "got %r %r" % (st, raw))


def expect_error(a, status, reason, must_mention, what, act=100,
                 method="echo", payload=None, headers=None, verb="POST",
                 path=None):
    if path is not None:
        st, js, raw, hdrs = a.request(verb, path, payload, headers)
    else:
        st, js, raw, hdrs = a.request(verb, a.path(act, method), payload,
                                      headers)
    msg = (js or {}).get("message", "")
    ok = (st == status and js is not None and js.get("code") == status
          and js.get("reason") == reason
          and all(m in msg for m in must_mention))
    tap.check(ok, "%s: %d %s, message mentions %s" %
              (what, status, reason, ", ".join(repr(m) for m in must_mention)),
              "status %r body %r" % (st, raw))
    return st, js, hdrs


def test_routing(a):
    with tap.section("echo through testplug"):
        params = {"amount": 150, "ratio": 0.25, "neg": -7, "flag": True,
                  "none": None, "list": [1, "two", {"three": 3}],
                  "nested": {"a": {"b": []}}, "text": "caf\u00e9 \"q\"\n\t/"}
        now = 1893456000123  # 2030-01-01T00:00:00.123Z
        st, js, raw = a.post(100, "echo", body("req-1", "alice", params),
                             headers={"X-AMS-Now": str(now)})
        tap.eq(st, 200, "echo: HTTP 200")
        js = js or {}
        d = js.get("data", {})
        tap.eq((js.get("code"), js.get("reason"), js.get("request_id")),
               (0, "ok", "req-1"), "echo: code 0, reason ok, request_id")
        tap.eq(d.get("uid"), "alice", "echo: uid as sent")
        tap.eq(d.get("request_id"), "req-1", "echo: request_id as sent")
        tap.eq(d.get("method"), "echo", "echo: method name")
        tap.eq(d.get("activity"), 100, "echo: activity id")
        tap.eq(d.get("params"), params, "echo: params exactly as sent")
        tap.eq(d.get("client_ip"), "127.0.0.1", "echo: client_ip")
        got = d.get("now")
        tap.check(isinstance(got, int) and now <= got <= now + 1000,
                  "echo: X-AMS-Now moves the host clock (now = header)",
                  "header %d, data.now %r" % (now, got))

        st, js, raw = a.post(100, "echo", body("req-2"))
        d = (js or {}).get("data", {})
        tap.check(st == 200 and d.get("uid") == "" and d.get("params") == {},
                  "echo without uid and params: uid \"\", params {}",
                  repr(raw))
        wall = int(time.time() * 1000)
        tap.check(abs(d.get("now", 0) - wall) < 60000,
                  "echo without X-AMS-Now: now is the wall clock",
                  "now %r wall %d" % (d.get("now"), wall))

    with tap.section("activity window, enabled, login"):
        start = H.iso_ms("2000-01-01T00:00:00+00:00")
        end = H.iso_ms("2099-12-31T23:59:59+00:00")
        for now, code, reason, what in [
                (start - 1, 1001, "not_started", "1 ms before start"),
                (start, 0, "ok", "at start"),
                (end - 1, 0, "ok", "1 ms before end"),
                (end, 1002, "ended", "at end"),
                (end + 86400000, 1002, "ended", "a day after end")]:
            st, js, raw = a.post(100, "echo", body(rid(), "u"),
                                 headers={"X-AMS-Now": str(now)})
            tap.check(st == 200 and js and js.get("code") == code
                      and js.get("reason") == reason,
                      "window via X-AMS-Now %s: %d %s" % (what, code, reason),
                      "got %r %r" % (st, raw))
            if code != 0:
                tap.check(js and js.get("data") == {},
                          "window %s: no data on refusal" % what, repr(raw))

        st, js, raw = a.post(200, "echo", body(rid(), "u"))
        tap.check(st == 200 and js and js.get("code") == 1001
                  and js.get("reason") == "not_started",
                  "activity starting in the future: 1001 not_started",
                  repr(raw))
        inside = H.iso_ms("2090-06-01T00:00:00+00:00")
        st, js, raw = a.post(200, "echo", body(rid(), "u"),
                             headers={"X-AMS-Now": str(inside)})
        tap.check(st == 200 and js and js.get("code") == 0
                  and js.get("data", {}).get("now", 0) >= inside,
                  "future activity with X-AMS-Now inside its window: ok",
                  repr(raw))
        after = H.iso_ms("2091-01-01T00:00:00+00:00")
        st, js, raw = a.post(200, "echo", body(rid(), "u"),
                             headers={"X-AMS-Now": str(after)})
        tap.check(st == 200 and js and js.get("code") == 1002
                  and js.get("reason") == "ended",
                  "future activity with X-AMS-Now at its end: 1002 ended",
                  repr(raw))
        st, js, raw = a.post(400, "echo", body(rid(), "u"))
        tap.check(st == 200 and js and js.get("code") == 1002
                  and js.get("reason") == "ended",
                  "activity whose window is over: 1002 ended", repr(raw))

        st, js, raw = a.post(300, "echo", body(rid(), "u"))
        tap.check(st == 200 and js and js.get("code") == 1003
                  and js.get("reason") == "disabled",
                  "disabled activity: 1003 disabled", repr(raw))

        for uid in (None, ""):
            st, js, raw = a.post(100, "echo_login", body(rid(), uid))
            tap.check(st == 200 and js and js.get("code") == 1004
                      and js.get("reason") == "login_required",
                      "login method with uid %r: 1004 login_required" % uid,
                      repr(raw))
        st, js, raw = a.post(100, "echo_login", body(rid(), "bob"))
        tap.check(st == 200 and js and js.get("code") == 0,
                  "login method with a uid: ok", repr(raw))


def test_outcomes(a):
    with tap.section("business outcomes"):
        st, js, raw = a.post(100, "rule_fail", body(rid(), "u"))
        js = js or {}
        det = js.get("detail") or {}
        tap.check(st == 200 and js.get("code") == 1005
                  and js.get("reason") == "not_eligible",
                  "rule failure: HTTP 200, 1005 not_eligible", repr(raw))
        tap.eq((det.get("rule"), det.get("reason"), det.get("stage")),
               ("testplug.flag", "vip_only", "rule"),
               "rule failure: detail.rule, detail.reason, detail.stage")
        tap.eq(js.get("data"), {}, "rule failure: the handler did not run")

        st, js, raw = a.post(100, "rule_pass", body(rid(), "u"))
        tap.check(st == 200 and js and js.get("code") == 0
                  and js.get("data", {}).get("method") == "rule_pass",
                  "passing rule: the handler runs", repr(raw))

        st, js, raw = a.post(500, "echo", body(rid(), "u"))
        det = (js or {}).get("detail") or {}
        tap.check(st == 200 and js and js.get("code") == 1005
                  and det.get("stage") == "crowd"
                  and det.get("reason") == "not_in_crowd"
                  and det.get("rule") == "testplug.flag",
                  "crowd failure: 1005 not_eligible with stage crowd",
                  repr(raw))

        st, js, raw = a.post(100, "sold", body(rid(), "u"))
        js = js or {}
        det = js.get("detail") or {}
        tap.check(st == 200 and js.get("code") == 1008
                  and js.get("reason") == "sold_out",
                  "operation failure sold_out: HTTP 200, 1008", repr(raw))
        tap.eq((det.get("operation"), det.get("index")), ("testplug.fail", 0),
               "operation failure: detail.operation and index")

    with tap.section("compensation"):
        st, js, raw = a.post(100, "get", body(rid(), "u"))
        before = (js or {}).get("data", {}).get("stock")
        tap.check(st == 200 and before == 0, "counter.get reads stock 0 first",
                  repr(raw))
        st, js, raw = a.post(100, "inc", body(rid(), "u"))
        tap.check(st == 200 and js and js.get("code") == 0
                  and js.get("data", {}).get("count") == 1,
                  "testplug.count adds 1 (count 1)", repr(raw))
        st, js, raw = a.post(100, "get", body(rid(), "u"))
        tap.check(st == 200 and js and js.get("data", {}).get("stock") == 1,
                  "counter.get (scope activity) reads the counter "
                  "testplug.count wrote", repr(raw))
        for i in range(3):
            st, js, raw = a.post(100, "comp", body(rid(), "u"))
            det = (js or {}).get("detail") or {}
            tap.check(st == 200 and js and js.get("code") == 1008
                      and det.get("operation") == "testplug.fail"
                      and det.get("index") == 1
                      and js.get("data") == {},
                      "[count, fail] try %d: 1008 at index 1, no data of the "
                      "undone count" % (i + 1), repr(raw))
        st, js, raw = a.post(100, "get", body(rid(), "u"))
        tap.check(st == 200 and js and js.get("data", {}).get("stock") == 1,
                  "after 3 failed [count, fail]: the counter is unchanged "
                  "(undo ran)", repr(raw))


def test_errors(a):
    good = body("e1", "u")
    with tap.section("400s"):
        for raw_body, what, words in [
                (b'{"request_id": "x", ', "truncated JSON", ["malformed JSON"]),
                (b"not json at all", "not JSON", ["malformed JSON"]),
                (b"", "empty body", ["empty", "JSON object"]),
                (b'{"request_id": "x"} trailing', "trailing",
                 ["malformed JSON", "byte 20"]),
                (b'{"request_id":"a"}{"request_id":"b"}', "two values",
                 ["malformed JSON", "byte 18"])]:
            expect_error(a, 400, "bad_request", words,
                         "bad body (%s)" % what, payload=raw_body)
            still_serves(a, "bad body (%s)" % what)
        expect_error(a, 400, "bad_request", ["request_id"],
                     "missing request_id", payload={"uid": "u"})
        still_serves(a, "missing request_id")
        for v, what in [(5, "a number"), ("", "empty"),
                        ("has space", "with a space"), ("x" * 129, "129 long")]:
            expect_error(a, 400, "bad_request", ["request_id"],
                         "request_id %s" % what,
                         payload={"request_id": v, "uid": "u"})
        still_serves(a, "bad request_id")
        st, js, _ = expect_error(a, 400, "bad_request", ["uid", "string"],
                                 "uid not a string",
                                 payload={"request_id": "e2", "uid": 42})
        tap.eq((js or {}).get("request_id"), "e2",
               "400 answer carries the request_id when it was readable")
        still_serves(a, "uid not a string")
        expect_error(a, 400, "bad_request", ["uid"], "uid 129 characters",
                     payload={"request_id": "e3", "uid": "u" * 129})
        expect_error(a, 400, "bad_request", ["uid"], "uid with a space",
                     payload={"request_id": "e3", "uid": "a b"})
        still_serves(a, "uid too long")
        st, js, raw = a.post(100, "echo", {"request_id": "e4",
                                           "uid": "u" * 128})
        tap.check(st == 200 and js and js["data"]["uid"] == "u" * 128,
                  "uid of exactly 128 characters is accepted", repr(raw))
        for v, what in [([1, 2], "an array"), ("x", "a string"),
                        (3, "a number")]:
            expect_error(a, 400, "bad_request", ["params", "object"],
                         "params %s" % what,
                         payload={"request_id": "e5", "params": v})
        still_serves(a, "params not an object")
        for v, what in [(b'[{"request_id": "x"}]', "a JSON array"),
                        (b'"text"', "a JSON string"), (b"null", "null"),
                        (b"17", "a number")]:
            expect_error(a, 400, "bad_request", ["body", "object"],
                         "body %s" % what, payload=v)
        still_serves(a, "body not an object")
        nested = "1"
        for i in range(990):
            nested = '{"a":' + nested + '}'
        st, js, raw = a.post(100, "echo", (
            '{"request_id":"deep","uid":"u","params":%s}' % nested).encode())
        # (too deep for Python's json module: compare the text)
        tap.check(st == 200 and b'"code":0' in raw
                  and (b'"params":' + nested.encode() + b"}") in raw,
                  "params nested 990 deep are echoed whole (plugin code "
                  "runs on a coroutine stack)", "%r %r" % (st, raw[:200]))
        expect_error(a, 400, "bad_request", ["malformed JSON"],
                     "JSON nested deeper than the parser allows",
                     payload=b'{"request_id":"x","params":' + b'[' * 5000 +
                     b']' * 5000 + b'}')
        still_serves(a, "deep nesting")
        expect_error(a, 400, "bad_request", ["X-AMS-Now"],
                     "X-AMS-Now not a number", payload=good,
                     headers={"X-AMS-Now": "tomorrow"})
        still_serves(a, "bad X-AMS-Now")

    with tap.section("404 and 405"):
        expect_error(a, 404, "not_found", ["424242"], "unknown activity",
                     act=424242, payload=good)
        expect_error(a, 404, "not_found", ['"nope"', "100"],
                     "unknown method", method="nope", payload=good)
        for path in ("/", "/v1/activities", "/v1/activities/100",
                     "/v1/activities/0/echo", "/v1/activities/abc/echo",
                     "/v1/activities/100/echo/extra", "/v2/activities/1/x"):
            expect_error(a, 404, "not_found", ["/v1/activities/"],
                         "unknown path %s" % path, path=path, payload=good)
        still_serves(a, "404s")
        for verb in ("GET", "DELETE", "PUT"):
            st, js, hdrs = expect_error(
                a, 405, "method_not_allowed", [verb, "POST"],
                "%s on a route" % verb, verb=verb,
                payload=None if verb == "GET" else good)
            tap.eq(hdrs.get("allow"), "POST", "%s: Allow: POST" % verb)
        still_serves(a, "405s")

    with tap.section("413"):
        big = json.dumps({"request_id": "big", "uid": "u",
                          "params": {"pad": "x" * (2 * MAX_BODY)}}).encode()
        s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        try:
            s.sendall(b"POST /v1/activities/100/echo HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(big) + big)
            data, how = H.read_all(s, 15)
        finally:
            s.close()
        tap.eq(H.parse_raw_response(data), 413,
               "body over http.max_body: 413")
        just = {"request_id": "fits", "uid": "u"}
        pad = MAX_BODY - len(json.dumps(just | {"params": {"p": ""}}))
        just["params"] = {"p": "y" * pad}
        tap.eq(len(json.dumps(just)), MAX_BODY, "(a body of max_body bytes)")
        st, js, raw = a.post(100, "echo", json.dumps(just).encode())
        tap.check(st == 200 and js and js.get("code") == 0,
                  "a body of exactly http.max_body is accepted",
                  "%r %r" % (st, raw[:200]))
        still_serves(a, "413")

    with tap.section("500 plugin fault"):
        st, js, raw = a.post(100, "fault", body("f1", "u"))
        js = js or {}
        tap.check(st == 500 and js.get("code") == 500
                  and js.get("reason") == "plugin_fault"
                  and "testplug.fault" in js.get("message", "")
                  and js.get("request_id") == "f1",
                  "testplug.fault: 500 plugin_fault naming the operation",
                  repr(raw))
        still_serves(a, "a plugin fault")


def wait_eof(sock, timeout):
    """Seconds until the peer closed sock (EOF or reset), or None."""
    t0 = time.monotonic()
    data, how = H.read_all(sock, timeout)
    return (time.monotonic() - t0 if how in ("eof", "reset") else None), data


def test_connections(a):
    with tap.section("keep-alive"):
        conn = a.connect()
        try:
            socks, oks = set(), 0
            for i in range(10):
                st, js, raw, hdrs = H.request(conn, "POST",
                                              a.path(100, "echo"),
                                              body("ka%d" % i, "u"))
                oks += st == 200 and js["request_id"] == "ka%d" % i \
                    and hdrs.get("connection", "").lower() != "close"
                socks.add(id(conn.sock))
            tap.eq(oks, 10, "10 requests on one keep-alive connection")
            tap.eq(len(socks), 1, "... all on the same socket")
            # An error answer keeps the connection too.
            H.request(conn, "POST", a.path(100, "echo"), b"{bad")
            st, _, _, _ = H.request(conn, "POST", a.path(100, "echo"),
                                    body("ka-after", "u"))
            tap.check(st == 200 and len(socks | {id(conn.sock)}) == 1,
                      "a 400 answer keeps the connection open")

            # Idle: the server closes it after http.timeout_ms.
            took, data = wait_eof(conn.sock, 15)
            tap.check(took is not None and 0.5 <= took <= 8,
                      "idle keep-alive connection closed by the server after "
                      "http.timeout_ms (%d ms)" % TIMEOUT_MS,
                      "closed after %r s, data %r" % (took, data))
        finally:
            conn.close()

        # Pipelining: two requests in one write, answered in order.
        s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        try:
            reqs = b""
            for i, (m, p) in enumerate([("sleep", {"ms": 200}),
                                        ("echo", {}), ("echo", {})]):
                b = json.dumps(body("pipe%d" % i, "u", p)).encode()
                reqs += (b"POST /v1/activities/100/%s HTTP/1.1\r\n"
                         b"Host: x\r\nContent-Length: %d\r\n\r\n"
                         % (m.encode(), len(b))) + b
            s.sendall(reqs)
            got, _ = H.read_all(s, 15,
                                done=lambda d: d.count(b"HTTP/1.1 200") >= 3)
            order = [got.find(b'"request_id":"pipe%d"' % i) for i in range(3)]
            tap.check(got.count(b"HTTP/1.1 200") == 3
                      and -1 not in order and order == sorted(order),
                      "3 pipelined requests on one connection: 3 answers "
                      "in order", repr(got[:600]))
        finally:
            s.close()

        # A handler slower than the timeout still answers: the timeout is
        # for idle and slow clients, not for the server's own work.
        st, js, raw = a.post(100, "sleep", body(rid(), "u", {"ms": 1500}))
        tap.check(st == 200 and js and js["data"].get("slept", 0) >= 1400,
                  "a handler slower than http.timeout_ms still answers",
                  repr(raw))

    with tap.section("slow client"):
        slow = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        try:
            slow.sendall(b"POST /v1/acti")
            t0 = time.monotonic()
            result = {}

            def watch():
                result["took"], result["data"] = wait_eof(slow, 15)

            th = threading.Thread(target=watch, daemon=True)
            th.start()
            served, worst = 0, 0.0
            other = a.connect(timeout=10)
            for i in range(8):
                t = time.monotonic()
                try:
                    st, js, _, _ = H.request(other, "POST",
                                             a.path(100, "echo"),
                                             body("side%d" % i, "u"))
                    served += st == 200
                except OSError:
                    other.close()
                    other = a.connect(timeout=10)
                worst = max(worst, time.monotonic() - t)
                time.sleep(0.1)
            other.close()
            tap.check(served == 8 and time.monotonic() - t0 < 5,
                      "other clients are served while a slow client stalls",
                      "served %d/8, slowest %.3f s" % (served, worst))
            th.join(20)
            took = result.get("took")
            tap.check(took is not None and took <= 8,
                      "a client stalled in its request line is disconnected "
                      "after http.timeout_ms",
                      "took %r, data %r" % (took, result.get("data")))
            tap.check(result.get("data", b"") in (b"",)
                      or H.parse_raw_response(result["data"]) in (400, 408),
                      "... with nothing or a 400/408 answer",
                      repr(result.get("data")))
        finally:
            slow.close()
        still_serves(a, "a slow client")


def test_garbage(a):
    with tap.section("garbage on the wire"):
        rnd = random.Random(1234)
        cases = [
            ("random bytes", bytes(rnd.randrange(256) for _ in range(2048))),
            ("random bytes then CRLFCRLF",
             bytes(rnd.randrange(256) for _ in range(300)) + b"\r\n\r\n"),
            ("bad request line", b"GARBAGE\r\n\r\n"),
            ("request line with too many parts",
             b"POST /v1/activities/100/echo HTTP/1.1 extra\r\n\r\n"),
            ("unknown HTTP version",
             b"POST /v1/activities/100/echo HTTP/9.9\r\n\r\n"),
            ("negative Content-Length",
             b"POST /v1/activities/100/echo HTTP/1.1\r\nHost: x\r\n"
             b"Content-Length: -5\r\n\r\n"),
            ("header line without a colon",
             b"POST /v1/activities/100/echo HTTP/1.1\r\nno colon here\r\n\r\n"),
            ("NUL bytes in the path",
             b"POST /v1/activities/100/\x00echo HTTP/1.1\r\n\r\n"),
            ("huge header", b"POST /v1/activities/100/echo HTTP/1.1\r\n"
             b"X-Big: " + b"h" * 40000 + b"\r\n\r\n"),
            ("bad chunked body",
             b"POST /v1/activities/100/echo HTTP/1.1\r\nHost: x\r\n"
             b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ]
        # A well-formed chunked body is a body like any other.
        b = json.dumps(body("chunked", "u", {"n": 1})).encode()
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p)
                           for p in (b[:10], b[10:])) + b"0\r\n\r\n"
        s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        try:
            s.sendall(b"POST /v1/activities/100/echo HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
            got, how = H.read_all(s, 15)
        finally:
            s.close()
        tap.check(H.parse_raw_response(got) == 200
                  and b'"request_id":"chunked"' in got
                  and b'"params":{"n":1}' in got,
                  "a chunked request body is accepted", repr(got[:300]))
        for what, data in cases:
            s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
            try:
                try:
                    s.sendall(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                got, how = H.read_all(s, 15)
            finally:
                s.close()
            code = H.parse_raw_response(got)
            tap.check(how in ("eof", "reset") and (code in (400, 404, 413,
                                                             431, 505)
                                                   or got == b""),
                      "%s: a 4xx answer or a close" % what,
                      "how %s, got %r" % (how, got[:200]))
            still_serves(a, what)


def test_store_full():
    acts = H.activities_file(H.activity(1, [
        ECHO,
        '{ name = "fill"; login = true;'
        ' operations = ( { use = "testplug.fill"; params = { kb = 300; }; }'
        ' ); }']))
    with H.Amsd(tap, {"full.conf": acts}, workers=1,
                lmdb={"map_size_mb": 1, "sync": "none"},
                name="small store") as a:
        a.start()
        with tap.section("503 store unavailable"):
            answers = []
            for i in range(12):
                st, js, raw = a.post(1, "fill", body(rid(), "filler%d" % i))
                answers.append((st, (js or {}).get("reason")))
                if st == 503:
                    break
            tap.diag("fill answers: %r" % answers)
            tap.check(answers[0] == (200, "ok"), "the first fill succeeds")
            st, js, raw = a.post(1, "fill", body("fullreq", "one-more"))
            js = js or {}
            tap.check(st == 503 and js.get("code") == 503
                      and js.get("reason") == "store_unavailable"
                      and "testplug.fill" in js.get("message", "")
                      and js.get("request_id") == "fullreq",
                      "a full store answers 503 store_unavailable within a "
                      "few requests", repr(answers), repr(raw))
            st, js, raw = a.post(1, "echo", body(rid(), "u"))
            tap.check(st == 200 and js and js.get("code") == 0,
                      "with the store full, a request not writing it is "
                      "still answered 200", repr(raw))
            hst, hjs = a.healthz()
            tap.eq(hst, 200, "with the store full, /healthz is 200")
            # A user who already has a value overwrites it in place: still
            # served or cleanly refused, never a hang or a crash.
            st, js, raw = a.post(1, "fill", body(rid(), "filler0"))
            tap.check(st in (200, 503), "rewriting an existing value: 200 or "
                      "503", repr(raw))
            st, js, raw = a.post(1, "echo", body(rid(), "u"))
            tap.check(st == 200, "and the server keeps serving", repr(raw))
        tap.eq(a.stop(), 0, "small store: SIGTERM exits 0")


def test_clock_header_off():
    """In production (testing.clock_header off) X-AMS-Now is ignored: a
    client must not be able to move the activity window."""
    acts = H.activities_file(
        H.activity(1, [ECHO]),
        H.activity(2, [ECHO], name="future",
                   start="2090-01-01T00:00:00+00:00",
                   end="2091-01-01T00:00:00+00:00"))
    with H.Amsd(tap, {"prod.conf": acts}, workers=1, clock_header=False,
                name="no clock header") as a:
        a.start()
        with tap.section("X-AMS-Now without testing.clock_header"):
            fake = H.iso_ms("2090-06-01T00:00:00+00:00")
            st, js, raw = a.post(1, "echo", body(rid(), "u"),
                                 headers={"X-AMS-Now": str(fake)})
            now = ((js or {}).get("data") or {}).get("now", 0)
            tap.check(st == 200 and abs(now - time.time() * 1000) < 60000,
                      "X-AMS-Now is ignored: now is the wall clock",
                      repr(raw))
            st, js, raw = a.post(2, "echo", body(rid(), "u"),
                                 headers={"X-AMS-Now": str(fake)})
            tap.check(st == 200 and js and js.get("reason") == "not_started",
                      "X-AMS-Now cannot open a future activity", repr(raw))
            st, js, raw = a.post(1, "echo", body(rid(), "u"),
                                 headers={"X-AMS-Now": "garbage"})
            tap.eq(st, 200, "a malformed X-AMS-Now is ignored too")
        tap.eq(a.stop(), 0, "no clock header: SIGTERM exits 0")


def main():
    with H.Amsd(tap, {"main.conf": MAIN}, workers=2,
                http={"max_body": MAX_BODY, "timeout_ms": TIMEOUT_MS},
                name="http") as a:
        a.start()
        test_routing(a)
        test_outcomes(a)
        test_errors(a)
        test_connections(a)
        test_garbage(a)
        with tap.section("still healthy"):
            st, js = a.healthz()
            tap.check(st == 200 and js["workers"]["restarts"] == 0,
                      "no worker died during the HTTP tests", repr(js))
            tap.eq(a.stop(), 0, "SIGTERM: amsd exits 0")
    test_store_full()
    test_clock_header_off()


if __name__ == "__main__":
    tap.run(main)
