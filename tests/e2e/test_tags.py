#!/usr/bin/env python3
"""test_tags.py -- POST /admin/tags/import, end to end.

An import of good and bad lines and its answer; the tags seen by the data
plane (testplug.crowd_tag reads a crowd tag; tag.match as an activity's
crowd when the bundled tag plugin is built); ttl_s; 405, 400, 404, 413;
409 while an import runs, with the data plane serving meanwhile; an
import process that crashes (500), a worker killed during an import (the
import still answers, and only the worker counts as a restart), the
import timeout, and a stop during an import (503).

The 403 for a peer that is not loopback: a client bound to one of this
host's non-loopback addresses connects to the loopback listener (skipped
when the host has none); tests/unit/test_tags_import.c checks the address
test itself.
"""
import http.client
import os
import signal
import socket
import threading
import time

import harness as H

tap = H.Tap()

TAG_SO = os.path.join(H.PLUGINS, "tag.so")
HAVE_TAG = os.path.exists(TAG_SO)
H.PLUGIN_DIRS.setdefault("tag", H.PLUGINS)

ADMIN_MAX_BODY = 2 * 1024 * 1024
SLOW_LINES = 30000  # with lmdb.sync full: seconds of work, never instant

METHODS = [
    '{ name = "level"; login = true;'
    ' handler = { use = "testplug.crowd_tag"; params = { tag = "level"; };'
    ' }; }',
    '{ name = "city"; login = true;'
    ' handler = { use = "testplug.crowd_tag"; params = { tag = "city"; };'
    ' }; }',
    '{ name = "trial"; login = true;'
    ' handler = { use = "testplug.crowd_tag"; params = { tag = "trial"; };'
    ' }; }',
]
ACTS = [H.activity(1, METHODS)]
if HAVE_TAG:
    # The bundled rule: only the gold crowd gets in.
    ACTS.append(H.activity(
        2, ['{ name = "enter"; login = true;'
            ' handler = { use = "testplug.echo"; }; }'],
        name="gold only",
        extra='crowd = { use = "tag.match";'
              ' params = { tag = "level"; op = "equals"; value = "gold"; };'
              ' };'))
CONF = H.activities_file(*ACTS)
PLUGINS = ("testplug", "counter", "param") + (("tag",) if HAVE_TAG else ())

GOOD_AND_BAD = (
    b"uid,tag,value\r\n"
    b"alice,level,gold\r\n"
    b"bob,level,silver\r\n"
    b"\r\n"
    b"carol,Level,gold\r\n"          # line 5: bad tag
    b"dave,level\r\n"                # line 6: two fields
    b"erin,level,\r\n"               # line 7: empty value: loaded
    b"fr ank,level,gold\r\n"         # line 8: bad uid
    b"alice,city,\"Paris, France\"\r\n"
    b"gus,level,a\x01b\r\n"          # line 10: control character
)

_rid = [0]


def rid():
    _rid[0] += 1
    return "t%d" % _rid[0]


def admin(a, verb, path, body=None, headers=None, timeout=600):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port,
                                      timeout=timeout)
    try:
        h = {"Content-Type": "text/csv"}
        h.update(headers or {})
        return H.request(conn, verb, path, body, h)
    finally:
        conn.close()


def import_csv(a, body, query="", timeout=600):
    return admin(a, "POST", "/admin/tags/import" + query, body,
                 timeout=timeout)


def tag_of(a, method, uid, now=None):
    """The value the data plane sees (None when absent), or an error."""
    headers = {"X-AMS-Now": str(now)} if now is not None else None
    st, js, raw = a.post(1, method, {"uid": uid, "request_id": rid()},
                         headers=headers)
    if st != 200 or not js or js.get("code") != 0:
        return ("error", st, raw[:200])
    return js["data"].get("value")


def slow_body(n, tag="bulk"):
    return "".join("bulk%d,%s,v%d\n" % (i, tag, i)
                   for i in range(n)).encode()


class Background:
    """An import on its own connection, in a thread."""

    def __init__(self, a, body, query=""):
        self.result = None
        self.done = threading.Event()
        self.t = threading.Thread(target=self.run, args=(a, body, query),
                                  daemon=True)
        self.t.start()

    def run(self, a, body, query):
        try:
            self.result = import_csv(a, body, query)
        except Exception as e:  # reported by the checks
            self.result = (None, None, repr(e).encode(), {})
        self.done.set()

    def wait(self, timeout=300):
        self.done.wait(timeout)
        return self.result


def non_loopback_address():
    """An IPv4 address of this host that is not loopback and that a
    socket can bind to, or None."""
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


def importer_pid(a, workers, timeout=10):
    """The master's child that is not one of workers (the import), or
    None."""
    def find():
        extra = [p for p in a.worker_pids() if p not in workers]
        return extra[0] if extra else None
    return H.wait_until(find, timeout, 0.005)


def test_import(a):
    with tap.section("import good and bad lines"):
        st, js, raw, hdrs = import_csv(a, GOOD_AND_BAD)
        js = js or {}
        tap.eq(st, 200, "import: 200")
        tap.eq(hdrs.get("content-type"), "application/json",
               "import: a JSON answer")
        tap.eq(js.get("loaded"), 4, "import: 4 lines loaded")
        tap.eq(js.get("rejected"), 4, "import: 4 lines rejected")
        errors = js.get("errors") or []
        tap.eq([e.split(":")[0] for e in errors],
               ["line 5", "line 6", "line 8", "line 10"],
               "import: the rejected lines by number (header, CRLF and "
               "the blank line counted)")
        want = [("line 5", "tag:"), ("line 6", "2 fields"),
                ("line 8", "uid:"), ("line 10", "value: control character")]
        tap.check(len(errors) == 4 and all(
            e.startswith(n + ": " + r) for e, (n, r) in zip(errors, want)),
            "import: each error says why", repr(errors))
        tap.check("errors_more" not in js, "import: no errors_more")

    with tap.section("the data plane sees the tags"):
        tap.eq(tag_of(a, "level", "alice"), "gold",
               "alice level: gold, read by a plugin (crowd scope)")
        tap.eq(tag_of(a, "level", "bob"), "silver", "bob level: silver")
        tap.eq(tag_of(a, "level", "erin"), "", "erin level: the empty value")
        tap.eq(tag_of(a, "city", "alice"), "Paris, France",
               "alice city: a quoted value with a comma")
        tap.eq(tag_of(a, "level", "carol"), None,
               "carol: a rejected line wrote nothing")
        tap.eq(tag_of(a, "level", "nobody"), None, "nobody: no tag")
        # Every worker reads the same store.
        values = {tag_of(a, "level", "alice") for _ in range(10)}
        tap.eq(values, {"gold"}, "every worker sees it (10 requests)")
        if HAVE_TAG:
            st, js, raw = a.post(2, "enter", {"uid": "alice",
                                              "request_id": rid()})
            tap.check(st == 200 and js and js.get("code") == 0,
                      "tag.match crowd: alice (gold) gets in", repr(raw))
            st, js, raw = a.post(2, "enter", {"uid": "bob",
                                              "request_id": rid()})
            tap.check(st == 200 and js and js.get("code") == 1005,
                      "tag.match crowd: bob (silver) is not_eligible",
                      repr(raw))
        else:
            tap.diag("tag.so not built: the tag.match check is skipped")

    with tap.section("a second import overwrites"):
        st, js, raw, _ = import_csv(a, b"bob,level,gold\n")
        tap.check(st == 200 and js == {"loaded": 1, "rejected": 0,
                                       "errors": [], "generation": 1},
                  "import without a header or errors: {loaded 1, rejected "
                  "0, errors []}", repr(raw))
        tap.eq(tag_of(a, "level", "bob"), "gold", "bob level: now gold")

    with tap.section("ttl_s"):
        t0 = int(time.time() * 1000)
        st, js, raw, _ = import_csv(a, b"hana,trial,yes\n", "?ttl_s=60")
        tap.check(st == 200 and js and js.get("loaded") == 1,
                  "import with ttl_s=60: 200", repr(raw))
        tap.eq(tag_of(a, "trial", "hana", now=t0 + 30000), "yes",
               "ttl_s: the tag is there 30 s later")
        tap.eq(tag_of(a, "trial", "hana", now=t0 + 120000), None,
               "ttl_s: the tag is gone 120 s later")
        tap.eq(tag_of(a, "level", "alice", now=t0 + 10 * 365 * 86400000),
               "gold", "without ttl_s: no expiry")

    with tap.section("many bad lines"):
        body = b"".join(b"bad line %d\n" % i for i in range(250))
        st, js, raw, _ = import_csv(a, body)
        js = js or {}
        tap.check(st == 200 and js.get("rejected") == 250
                  and len(js.get("errors") or []) == 100
                  and js.get("errors_more") == "and 150 more",
                  "250 bad lines: 100 listed, errors_more \"and 150 more\"",
                  repr(raw[:300]))


def test_refusals(a):
    with tap.section("405, 400, 404"):
        for verb in ("GET", "PUT", "DELETE"):
            st, js, raw, hdrs = admin(a, verb, "/admin/tags/import")
            tap.check(st == 405 and hdrs.get("allow") == "POST"
                      and (js or {}).get("reason") == "method_not_allowed",
                      "%s /admin/tags/import: 405 with Allow: POST" % verb,
                      repr((st, hdrs.get("allow"), raw)))
        for q, what in (("?ttl_s=abc", "ttl_s not a number"),
                        ("?ttl_s=0", "ttl_s 0"),
                        ("?ttl_s=-5", "ttl_s negative"),
                        ("?ttl=5", "an unknown parameter")):
            st, js, raw, _ = import_csv(a, b"zed,level,x\n", q)
            tap.check(st == 400 and (js or {}).get("reason") == "bad_request",
                      "%s: 400 bad_request" % what, repr(raw))
        tap.eq(tag_of(a, "level", "zed"), None,
               "a refused import wrote nothing")
        st, _, _, _ = admin(a, "POST", "/admin/tags", b"")
        tap.eq(st, 404, "POST /admin/tags: 404")
        st, js, raw, _ = import_csv(a, b"")
        tap.check(st == 200 and js == {"loaded": 0, "rejected": 0,
                                       "errors": [], "generation": 1},
                  "an empty body: 200, nothing loaded", repr(raw))

    with tap.section("403 from a peer that is not loopback"):
        src = non_loopback_address()
        if src is None:
            tap.diag("no non-loopback address on this host: 403 not "
                     "checked end to end (see the unit test)")
        else:
            conn = http.client.HTTPConnection("127.0.0.1", a.admin_port,
                                              timeout=10,
                                              source_address=(src, 0))
            try:
                st, js, raw, _ = H.request(conn, "POST", "/admin/tags/import",
                                           b"mallory,level,gold\n",
                                           {"Content-Type": "text/csv"})
            finally:
                conn.close()
            js = js or {}
            tap.check(st == 403 and js.get("reason") == "forbidden"
                      and "loopback" in js.get("message", ""),
                      "an import from %s: 403 forbidden, saying loopback "
                      "only" % src, repr(raw))
            tap.eq(tag_of(a, "level", "mallory"), None,
                   "the refused import wrote nothing")

    with tap.section("413 over admin_max_body"):
        s = socket.create_connection(("127.0.0.1", a.admin_port),
                                     timeout=10)
        try:
            s.sendall(b"POST /admin/tags/import HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                      b"Content-Length: %d\r\n\r\n" % (ADMIN_MAX_BODY + 1))
            data, how = H.read_all(s, 15)
        finally:
            s.close()
        tap.eq(H.parse_raw_response(data), 413,
               "a body of admin_max_body + 1 bytes: 413")
        # Exactly the limit is accepted: one line, then one long line of
        # padding (rejected unread: longer than a line may be).
        body = b"jo,level,x\n"
        body += b"#" * (ADMIN_MAX_BODY - len(body) - 1) + b"\n"
        st, js, raw, _ = import_csv(a, body)
        js = js or {}
        tap.check(len(body) == ADMIN_MAX_BODY and st == 200
                  and js.get("loaded") == 1 and js.get("errors") ==
                  ["line 2: longer than 4096 bytes"],
                  "a body of exactly admin_max_body: 200 (1 loaded, the "
                  "padding line rejected as too long)", repr(raw[:300]))
        tap.eq(tag_of(a, "level", "jo"), "x", "jo level: x")


def test_concurrency(a, workers):
    with tap.section("409 while an import runs; the data plane serves"):
        first = Background(a, slow_body(SLOW_LINES))
        pid = importer_pid(a, workers)
        tap.check(pid is not None, "the import runs in a child of the master")
        st, js, raw, _ = import_csv(a, b"ivan,level,gold\n")
        overlapped = pid is not None and H.alive(pid) and not first.done.is_set()
        if overlapped:
            tap.check(st == 409 and (js or {}).get("message") ==
                      "an import is already running; retry when it has "
                      "answered",
                      "a second import meanwhile: 409 \"an import is "
                      "already running\"", repr(raw))
        else:
            tap.diag("the first import finished before the second was "
                     "answered (a fast disk?): 409 not checked; got %r"
                     % ((st, raw),))
        served, slowest = 0, 0.0
        for i in range(20):
            t = time.monotonic()
            if tag_of(a, "level", "alice") == "gold":
                served += 1
            slowest = max(slowest, time.monotonic() - t)
        during = not first.done.is_set()
        tap.eq(served, 20, "20 data-plane requests during the import: "
               "all answered")
        tap.diag("data plane during the import: slowest %.1f ms, import "
                 "still running afterwards: %s"
                 % (slowest * 1000, during))
        st, js, raw, _ = first.wait()
        tap.check(st == 200 and (js or {}).get("loaded") == SLOW_LINES,
                  "the first import: 200, %d loaded" % SLOW_LINES,
                  repr(raw[:300]))
        tap.eq(tag_of(a, "level", "ivan"), None,
               "the refused import wrote nothing")
        tap.check(H.wait_until(lambda: sorted(a.worker_pids()) ==
                               sorted(workers), 5),
                  "the import process is reaped (no child left but the "
                  "workers)", repr(a.worker_pids()))
        st, js, raw, _ = import_csv(a, b"ivan,level,gold\n")
        tap.check(st == 200 and (js or {}).get("loaded") == 1,
                  "after it: the next import runs", repr(raw))

    with tap.section("the import process crashes: 500"):
        first = Background(a, slow_body(SLOW_LINES, "crash"))
        pid = importer_pid(a, workers)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        st, js, raw, _ = first.wait()
        js = js or {}
        tap.check(st == 500 and js.get("reason") == "import_failed"
                  and "killed by signal 9" in js.get("message", ""),
                  "import process killed: 500 import_failed naming the "
                  "signal", repr(raw))
        st, hz = a.healthz()
        tap.eq((hz or {}).get("workers", {}).get("restarts"), 0,
               "the import process is not taken for a worker "
               "(no restarts)")
        tap.eq(sorted(a.worker_pids()), sorted(workers),
               "the workers are the same processes")
        tap.check(H.wait_until(lambda: len(a.worker_pids()) == len(workers),
                               5), "nothing left over")

    with tap.section("a worker dies during an import"):
        first = Background(a, slow_body(SLOW_LINES // 3, "respawn"))
        pid = importer_pid(a, workers)
        time.sleep(0.3)
        running = pid is not None and H.alive(pid)
        os.kill(workers[0], signal.SIGKILL)
        if not running:
            tap.diag("the import was over before the worker was killed: "
                     "the check below proves less")
        st, js, raw, _ = first.wait()
        tap.check(st == 200 and (js or {}).get("loaded") == SLOW_LINES // 3,
                  "the import still answers 200 (the respawned worker "
                  "leaves the admin connection alone)",
                  repr((st, raw[:200])))
        new = a.wait_workers(len(workers), exclude=[workers[0]])
        tap.eq(len(new), len(workers), "the worker is respawned")
        st, hz = a.healthz()
        tap.eq((hz or {}).get("workers", {}).get("restarts"), 1,
               "exactly one restart: the worker's, not the import's")
        tap.eq(tag_of(a, "level", "alice"), "gold",
               "the data plane serves after it")
        return new


def test_timeout_and_stop():
    extra = "admin_import_timeout_s = 1;\n"
    with H.Amsd(tap, {"tags.conf": CONF}, workers=1, plugins=PLUGINS,
                extra=extra, name="amsd timeout") as a:
        a.start()
        workers = a.worker_pids()
        with tap.section("timeout"):
            first = Background(a, slow_body(SLOW_LINES, "slow"))
            pid = importer_pid(a, workers)
            if pid is not None:
                os.kill(pid, signal.SIGSTOP)  # hung, as far as anyone knows
            t0 = time.monotonic()
            st, js, raw, _ = first.wait(30)
            js = js or {}
            tap.check(st == 500 and js.get("reason") == "import_timeout"
                      and "admin_import_timeout_s (1 s)" in
                      js.get("message", ""),
                      "an import over admin_import_timeout_s: 500 "
                      "import_timeout", repr(raw))
            tap.check(time.monotonic() - t0 < 10, "answered in time")
            tap.check(H.wait_until(lambda: sorted(a.worker_pids()) ==
                                   sorted(workers), 5),
                      "the killed import process is reaped")
            tap.eq(tag_of(a, "level", "nobody"), None,
                   "the data plane serves after it (the store is not "
                   "left locked)")

        with tap.section("stop during an import"):
            first = Background(a, slow_body(SLOW_LINES, "stop"))
            pid = importer_pid(a, workers)
            tap.check(pid is not None, "the import is running")
            a.proc.send_signal(signal.SIGTERM)
            st, js, raw, _ = first.wait(30)
            ok_503 = st == 503 and (js or {}).get("reason") == "stopping"
            if not ok_503:
                time.sleep(1)
            tap.check(ok_503, "SIGTERM during an import: 503 stopping",
                      repr(raw), *([] if ok_503 else
                                   a.log().splitlines()[-25:]))
            try:
                rc = a.proc.wait(20)
            except Exception:
                rc = None
            tap.eq(rc, 0, "amsd exits 0")
            tap.check(pid is None or H.wait_until(lambda: not H.alive(pid),
                                                  5),
                      "the import process is gone")
            a.stop()


def main():
    tap.diag("tag.so: %s" % ("found" if HAVE_TAG else "not built"))
    extra = "admin_max_body = %d;\n" % ADMIN_MAX_BODY
    with H.Amsd(tap, {"tags.conf": CONF}, workers=2, plugins=PLUGINS,
                extra=extra) as a:
        a.start()
        workers = a.wait_workers(2)
        test_import(a)
        test_refusals(a)
        test_concurrency(a, workers)
        st, hz = a.healthz()
        tap.eq(st, 200, "healthz: 200 at the end")
        tap.eq(a.stop(), 0, "amsd stops with 0")
    test_timeout_and_stop()


tap.run(main)
