#!/usr/bin/env python3
"""test_strict.py -- strict request parsing and canonical idempotency,
end to end against the real amsd.

- bodies that two JSON parsers would read two ways, or cJSON silently
  wrong, are 400 bad_request naming the field: a key given twice (at the
  top, in params, deep down), 1e400 and numbers beyond 2^53-1, NaN,
  \\u0000 (and a raw 0 byte) in uid, request_id, a params string or a
  key; control characters in uid and request_id; nothing of such a
  request reaches the chain (its counter stays where it was) and the
  server goes on serving;
- "x\\u0000one" and "x\\u0000two" are not one user any more: both are
  refused;
- the same params in another key order (and numbers spelled another
  way) replay the recorded answer, 200 with the same bytes, instead of
  409; other params under the same request_id are still 409.
"""
import json

import harness as H

tap = H.Tap()

METHODS = [
    '{ name = "echo"; handler = { use = "testplug.echo"; }; }',
    '{ name = "inc"; login = true;'
    ' operations = ( { use = "testplug.count";'
    ' params = { key = "stock"; max = 1000; }; } ); }',
    '{ name = "get"; handler = { use = "counter.get";'
    ' params = { key = "stock"; scope = "activity"; }; }; }',
]
ACTS = {"main.conf": H.activities_file(H.activity(100, METHODS))}


def stock(a):
    st, js, _ = a.post(100, "get", {"request_id": "g"})
    return ((js or {}).get("data") or {}).get("stock")


def refused(a, raw, field_words, what, method="inc"):
    st, js, body = a.post(100, method, raw)
    msg = (js or {}).get("message", "")
    tap.check(st == 400 and (js or {}).get("reason") == "bad_request"
              and all(w in msg for w in field_words),
              "%s: 400 bad_request naming %s" % (what, " / ".join(field_words)),
              "got %r %r" % (st, body))


def test_refusals(a):
    before = stock(a) or 0
    with tap.section("duplicate keys"):
        refused(a, b'{"uid":"alice","request_id":"d1","uid":"bob"}',
                ['body: duplicate key "uid"'], "uid twice")
        refused(a, b'{"uid":"alice","request_id":"d2","request_id":"d3"}',
                ['duplicate key "request_id"'], "request_id twice")
        refused(a, b'{"uid":"a","request_id":"d4",'
                   b'"params":{"amount":1,"amount":600}}',
                ['params: duplicate key "amount"'], "a param twice")
        refused(a, b'{"uid":"a","request_id":"d5","params":{"l":'
                   b'[{"k":1},{"k":2,"m":{"z":1,"z":2}}]}}',
                ['params.l[1].m: duplicate key "z"'], "a key twice deep down")
    with tap.section("numbers"):
        refused(a, b'{"uid":"a","request_id":"n1","params":{"amount":1e400}}',
                ["params.amount", "1e400", "not finite"], "1e400")
        refused(a, b'{"uid":"a","request_id":"n2",'
                   b'"params":{"amount":-1e400}}',
                ["params.amount", "not finite"], "-1e400")
        refused(a, b'{"uid":"a","request_id":"n3",'
                   b'"params":{"amount":9007199254740993}}',
                ["params.amount", "out of range"], "2^53+1")
        refused(a, b'{"uid":"a","request_id":"n4","params":{"amount":NaN}}',
                ["malformed JSON"], "NaN")
        st, js, raw = a.post(100, "inc", b'{"uid":"a","request_id":"n5",'
                                         b'"params":{"n":9007199254740991}}')
        tap.check(st == 200 and (js or {}).get("code") == 0,
                  "2^53-1 is accepted", repr(raw))
        # cJSON prints both as 9.00719925474099e+15: the canonical form
        # must still tell them apart.
        st, js, raw = a.post(100, "inc", b'{"uid":"a","request_id":"n5",'
                                         b'"params":{"n":9007199254740990}}')
        tap.check(st == 409, "2^53-2 under the same request_id is another "
                             "request: 409", repr(raw))
    with tap.section("NUL and control characters"):
        refused(a, b'{"uid":"x\\u0000one","request_id":"z1"}',
                ["uid", "NUL"], "\\u0000 in uid")
        refused(a, b'{"uid":"x\\u0000two","request_id":"z2"}',
                ["uid", "NUL"], "\\u0000 in another uid with the same head")
        refused(a, b'{"uid":"a","request_id":"z3\\u0000x"}',
                ["request_id", "NUL"], "\\u0000 in request_id")
        refused(a, b'{"uid":"a","request_id":"z4",'
                   b'"params":{"invitee":"b\\u0000c"}}',
                ["params.invitee", "NUL"], "\\u0000 in a params string")
        refused(a, b'{"uid":"a","request_id":"z5","params":{"k\\u0000":1}}',
                ["params.k", "NUL"], "\\u0000 in a params key")
        refused(a, b'{"uid":"x\x00one","request_id":"z6"}', ["uid", "NUL"],
                "a raw 0 byte in uid")
        refused(a, b'{"uid":"a\\u0007","request_id":"z7"}',
                ["uid", "control character"], "a control character in uid")
        refused(a, b'{"uid":"a","request_id":"z\\n8"}',
                ["request_id", "control character"],
                "a newline in request_id")
        st, js, raw = a.post(100, "echo", b'{"request_id":"z9",'
                                          b'"uid":"a\\\\u0000b"}')
        tap.check(st == 200 and (js or {}).get("data", {}).get("uid") ==
                  "a\\u0000b",
                  "a backslash then u0000 is six characters, not a NUL",
                  repr(raw))
    tap.eq(stock(a), before + 1, "nothing refused reached the chain (the "
                                 "counter moved once: n5)")
    st, js, _ = a.post(100, "echo", {"request_id": "after", "uid": "u"})
    tap.check(st == 200 and (js or {}).get("code") == 0,
              "the server still serves")


def test_key_order(a):
    with tap.section("same params, another key order"):
        first = (b'{"uid":"k","request_id":"o1","params":'
                 b'{"b":1,"a":{"y":[1,{"q":2,"p":3}],"x":1}}}')
        again = (b'{"params":{"a":{"x":1.0,"y":[1,{"p":3,"q":2}]},"b":1e0},'
                 b'"request_id":"o1","uid":"k"}')
        other = (b'{"uid":"k","request_id":"o1","params":'
                 b'{"b":2,"a":{"y":[1,{"q":2,"p":3}],"x":1}}}')
        before = stock(a)
        st1, js1, raw1 = a.post(100, "inc", first)
        tap.check(st1 == 200 and (js1 or {}).get("code") == 0,
                  "first: ok", repr(raw1))
        st2, js2, raw2 = a.post(100, "inc", again)
        tap.eq(st2, 200, "the same params in another key order: 200, not "
                         "409")
        tap.eq(raw2, raw1, "... the recorded answer, byte for byte")
        st3, js3, raw3 = a.post(100, "inc", other)
        tap.check(st3 == 409 and (js3 or {}).get("reason") ==
                  "request_id_reused", "other params: still 409", repr(raw3))
        tap.eq(stock(a), (before or 0) + 1, "counted once")


def main():
    a = H.Amsd(tap, ACTS, workers=1)
    with a:
        a.start()
        test_refusals(a)
        test_key_order(a)


tap.run(main)
