#!/usr/bin/env python3
"""test_process.py -- the process model, end to end.

/healthz, worker supervision under load (SIGKILL a worker), restart on the
same store, a non-blocking handler sleep, a client leaving mid-request,
and a graceful stop that finishes the request in flight.
"""
import http.client
import os
import signal
import socket
import struct
import threading
import time

import harness as H

tap = H.Tap()

COUNTERS = H.activities_file(H.activity(1, [
    '{ name = "hit"; operations = ( { use = "counter.add";'
    ' params = { key = "hits"; max = 1000000000; scope = "activity"; }; } );'
    ' }',
    '{ name = "hits"; handler = { use = "counter.get";'
    ' params = { key = "hits"; scope = "activity"; }; }; }',
    '{ name = "earn"; login = true; operations = ( { use = "counter.add";'
    ' params = { key = "points"; max = 1000; }; } ); }',
    '{ name = "balance"; login = true; handler = { use = "counter.get";'
    ' params = { key = "points"; }; }; }',
]))

SLEEPY = H.activities_file(H.activity(1, [
    '{ name = "echo"; handler = { use = "testplug.echo"; }; }',
    '{ name = "sleep"; handler = { use = "testplug.sleep"; }; }',
]))

LOAD_THREADS = 4


def healthz_checks(a, workers):
    with tap.section("healthz"):
        st, js = a.healthz()
        js = js or {}
        w = js.get("workers") or {}
        tap.eq(st, 200, "GET /healthz: 200")
        tap.eq(js.get("status"), "ok", "healthz: status ok")
        tap.check(w.get("ready") == w.get("total") == workers,
                  "healthz: workers.ready == workers.total == %d" % workers,
                  repr(js))
        tap.check(isinstance(js.get("generation"), int)
                  and js["generation"] >= 1,
                  "healthz: a generation number", repr(js))
        tap.eq(w.get("restarts"), 0, "healthz: no restarts yet")
        tap.eq(len(a.worker_pids()), workers,
               "the master has %d worker children" % workers)
        conn = http.client.HTTPConnection("127.0.0.1", a.admin_port,
                                          timeout=10)
        try:
            st, js, raw, hdrs = H.request(conn, "POST", "/healthz", b"{}")
            tap.check(st == 405 and hdrs.get("allow") == "GET",
                      "POST /healthz: 405 with Allow: GET", repr(raw))
            st, js, raw, hdrs = H.request(conn, "GET", "/nope")
            tap.eq(st, 404, "unknown admin route: 404")
        finally:
            conn.close()


class Load:
    """Client threads incrementing a counter; each success that was
    acknowledged is recorded, connection errors are counted and retried
    on a new connection."""

    def __init__(self, a, nthreads):
        self.a = a
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = 0
        self.ack_times = []
        self.errored = 0
        self.errors = []
        self.refused = []
        self.threads = [threading.Thread(target=self.run, args=(i,),
                                         daemon=True)
                        for i in range(nthreads)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self, timeout=30):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def run(self, i):
        conn, k = None, 0
        path = self.a.path(1, "hit")
        while not self.stop.is_set():
            k += 1
            if conn is None:
                conn = self.a.connect(timeout=15)
            try:
                st, js, raw, _ = H.request(conn, "POST", path, {
                    "request_id": "load%d-%d" % (i, k), "uid": "l%d" % i})
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.errored += 1
                    self.errors.append("%.3f %r" % (time.monotonic(), e))
                conn.close()
                conn = None
                time.sleep(0.02)
                continue
            with self.lock:
                if st == 200 and js and js.get("code") == 0:
                    self.acked += 1
                    self.ack_times.append(time.monotonic())
                else:
                    self.refused.append((st, raw[:200]))
        if conn is not None:
            conn.close()


def supervision(a):
    with tap.section("worker supervision under load"):
        before = a.wait_workers(2)
        # An admin client on a keep-alive connection while a worker is
        # respawned: the new worker's fork must not cut it off.
        admin = http.client.HTTPConnection("127.0.0.1", a.admin_port,
                                           timeout=10)
        st0 = H.request(admin, "GET", "/healthz")[0]
        load = Load(a, LOAD_THREADS)
        load.start()
        time.sleep(1.0)
        with load.lock:
            acked_before_kill = load.acked
        tap.check(acked_before_kill > 0, "the load is being served",
                  "acked %d" % acked_before_kill)
        victim = before[0]
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        after = a.wait_workers(2, timeout=5, exclude=[victim])
        t_respawn = time.monotonic() - t_kill
        new = sorted(set(after) - set(before))
        tap.check(len(after) == 2 and victim not in after and len(new) == 1,
                  "SIGKILLed worker is respawned within 5 s",
                  "before %r, after %r (%.2f s)" % (before, after, t_respawn))
        tap.diag("respawned as %r after %.2f s" % (new, t_respawn))

        def healthy():
            st, js = a.healthz()
            w = (js or {}).get("workers") or {}
            return (st == 200 and w.get("restarts", 0) >= 1
                    and w.get("ready") == w.get("total") == 2) and js

        js = H.wait_until(healthy, 10, interval=0.1)
        tap.check(js, "healthz: restarts >= 1 and 2 of 2 workers ready",
                  repr(a.healthz()))
        try:
            st1 = H.request(admin, "GET", "/healthz")[0]
        except (OSError, http.client.HTTPException) as e:
            st1 = repr(e)
        finally:
            admin.close()
        tap.check(st0 == 200 and st1 == 200,
                  "a keep-alive admin connection survives the respawn "
                  "(the new worker does not shut it down)", repr((st0, st1)))
        time.sleep(1.0)
        with load.lock:
            acked_mid = load.acked
        time.sleep(0.5)
        finished = load.finish()
        tap.check(finished, "load threads stopped")
        tap.check(load.acked > acked_mid,
                  "the load is still served after the respawn",
                  "acked %d then %d" % (acked_mid, load.acked))
        times = sorted(t for t in load.ack_times if t >= t_kill - 0.5)
        gaps = [b - a_ for a_, b in zip(times, times[1:])]
        worst = max(gaps) if gaps else None
        tap.check(worst is not None and worst < 3.0,
                  "the load never waits long for an answer (longest gap "
                  "between successes < 3 s)", "longest gap %r" % worst)
        tap.diag("acked %d, errored %d, refused %d, longest gap %.3f s" %
                 (load.acked, load.errored, len(load.refused), worst or -1))
        tap.check(load.errored <= 2 * LOAD_THREADS,
                  "few requests fail (at most %d: those on the killed "
                  "worker)" % (2 * LOAD_THREADS), *load.errors[:20])
        tap.eq(load.refused, [], "no request answered with a failure")

        st, js, raw = a.post(1, "hits", {"request_id": "read-hits",
                                         "uid": "reader"})
        value = ((js or {}).get("data") or {}).get("hits")
        tap.check(st == 200 and isinstance(value, int)
                  and load.acked <= value <= load.acked + load.errored,
                  "no acknowledged increment is lost (acked <= counter <= "
                  "acked + errored)",
                  "counter %r, acked %d, errored %d" % (value, load.acked,
                                                        load.errored))
        return value


def restart_keeps_state(a, hits):
    with tap.section("restart keeps the store"):
        for i in range(5):
            st, js, raw = a.post(1, "earn", {"request_id": "earn%d" % i,
                                             "uid": "alice"})
            tap.check(st == 200 and js and js.get("data", {}).get("points")
                      == i + 1, "earn %d: points %d" % (i + 1, i + 1),
                      repr(raw))
        tap.eq(a.stop(), 0, "SIGTERM: amsd exits 0")
        tap.eq(a.worker_pids(), [], "no worker is left")
        a.restart()
        st, js, raw = a.post(1, "balance", {"request_id": "bal",
                                            "uid": "alice"})
        tap.check(st == 200 and js and js["data"].get("points") == 5,
                  "after a restart on the same store: points 5", repr(raw))
        st, js, raw = a.post(1, "balance", {"request_id": "bal2",
                                            "uid": "bob"})
        tap.check(st == 200 and js and js["data"].get("points") == 0,
                  "another user's counter is separate: 0", repr(raw))
        if hits is not None:
            st, js, raw = a.post(1, "hits", {"request_id": "h2", "uid": "r"})
            tap.check(st == 200 and js and js["data"].get("hits") == hits,
                      "the activity counter survived the restart too",
                      "%r vs %r" % (raw, hits))
        master_crash(a)


def master_crash(a):
    with tap.section("kill -9 of the master"):
        for i in range(3):
            st, js, raw = a.post(1, "earn", {"request_id": "more%d" % i,
                                             "uid": "alice"})
            tap.check(st == 200 and js and js["data"].get("points") == 6 + i,
                      "earn again: points %d" % (6 + i), repr(raw))
        workers = a.worker_pids()
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait(10)
        gone = H.wait_until(lambda: not any(H.alive(p) for p in workers), 10)
        tap.check(gone, "workers leave by themselves when the master dies",
                  "still alive: %r" % [p for p in workers if H.alive(p)])
        a.kill()  # collect the log, kill what may be left
        a.restart()
        st, js, raw = a.post(1, "balance", {"request_id": "bal3",
                                            "uid": "alice"})
        tap.check(st == 200 and js and js["data"].get("points") == 8,
                  "after kill -9 and a restart: every acknowledged "
                  "increment is there (points 8)", repr(raw))
        tap.eq(a.stop(), 0, "SIGTERM after the crash restart: exits 0")


class Sleeper(threading.Thread):
    def __init__(self, a, ms, rid):
        super().__init__(daemon=True)
        self.a, self.ms, self.rid = a, ms, rid
        self.result = None
        self.t_end = None
        self.t_start = time.monotonic()

    def run(self):
        conn = self.a.connect(timeout=30)
        try:
            self.result = H.request(conn, "POST", self.a.path(1, "sleep"), {
                "request_id": self.rid, "uid": "sleeper",
                "params": {"ms": self.ms}})
        except (OSError, http.client.HTTPException) as e:
            self.result = e
        finally:
            self.t_end = time.monotonic()
            conn.close()


def non_blocking(a):
    with tap.section("a sleeping handler does not block the worker"):
        sl = Sleeper(a, 1500, "sleepy")
        sl.start()
        time.sleep(0.3)  # let the sleep request reach the worker
        t0 = time.monotonic()
        ok = 0
        for i in range(20):
            conn = a.connect(timeout=10)
            try:
                st, js, raw, _ = H.request(conn, "POST", a.path(1, "echo"),
                                           {"request_id": "q%d" % i,
                                            "uid": "q"})
                ok += st == 200 and js.get("code") == 0
            finally:
                conn.close()
        quick = time.monotonic() - t0
        sleeper_done_early = sl.t_end is not None
        sl.join(30)
        took = (sl.t_end or time.monotonic()) - sl.t_start
        res = sl.result
        tap.eq(ok, 20, "20 echo requests on other connections answered")
        tap.check(quick < 1.0 and not sleeper_done_early,
                  "... all within 1 s, while the sleep was in flight",
                  "%.3f s; sleeper finished first: %r" % (quick,
                                                         sleeper_done_early))
        tap.check(isinstance(res, tuple) and res[0] == 200
                  and res[1]["data"].get("slept", 0) >= 1400
                  and took >= 1.4,
                  "the sleeper answers 200 after >= 1.4 s",
                  "%r after %.3f s" % (res, took))
        tap.diag("20 echoes in %.3f s; sleeper %.3f s" % (quick, took))


def many_in_flight(a, n=300, ms=500):
    """n requests sleeping at once in one worker: more coroutines than the
    pool caches (256), all answered."""
    with tap.section("%d requests in flight at once" % n):
        socks = []
        t0 = time.monotonic()
        try:
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", a.port),
                                             timeout=10)
                socks.append(s)
                b = ('{"request_id":"many%d","uid":"m%d","params":{"ms":%d}}'
                     % (i, i, ms)).encode()
                s.sendall(b"POST /v1/activities/1/sleep HTTP/1.1\r\n"
                          b"Host: x\r\nContent-Length: %d\r\n\r\n"
                          % len(b) + b)
            sent = time.monotonic() - t0
            ok = 0
            for i, s in enumerate(socks):
                tag = b'"many%d"' % i
                data, _ = H.read_all(s, 30, done=lambda d, t=tag: t in d)
                ok += data.startswith(b"HTTP/1.1 200") and \
                    b'"many%d"' % i in data
            took = time.monotonic() - t0
        finally:
            for s in socks:
                s.close()
        tap.eq(ok, n, "%d concurrent sleeping requests all answered 200" % n)
        tap.check(took < 15, "... in one sleep's time, not %d sleeps" % n,
                  "%.2f s (sent in %.2f s)" % (took, sent))
        tap.diag("%d x %d ms sleeps in %.2f s" % (n, ms, took))
        st, js, raw = a.post(1, "echo", {"request_id": "after-many",
                                         "uid": "u"})
        tap.eq(st, 200, "served after the burst")


def client_leaves(a):
    with tap.section("a client leaving mid-request"):
        s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        body = b'{"request_id":"gone","uid":"g","params":{"ms":700}}'
        s.sendall(b"POST /v1/activities/1/sleep HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.2)
        s.close()
        st, js, raw = a.post(1, "echo", {"request_id": "after-gone",
                                         "uid": "u"})
        tap.check(st == 200, "served while the abandoned request sleeps",
                  repr(raw))
        time.sleep(1.0)  # the abandoned request finishes, nobody to answer
        st, js, raw = a.post(1, "echo", {"request_id": "after-gone2",
                                         "uid": "u"})
        tap.check(st == 200, "served after the abandoned request finished",
                  repr(raw))
        st, js = a.healthz()
        tap.check(st == 200 and js["workers"]["restarts"] == 0,
                  "the worker survived answering a client that left",
                  repr(js))


def stop_mid_reply():
    """A graceful stop must not cut a reply in half: a large reply to a
    client that reads slowly is still being written when SIGTERM comes."""
    acts = H.activities_file(H.activity(1, [
        '{ name = "echo"; handler = { use = "testplug.echo"; }; }']))
    with H.Amsd(tap, {"big.conf": acts}, workers=1,
                http={"max_body": 16 << 20}, name="big replies") as a:
        a.start()
        size = 8 << 20
        b = ('{"request_id":"big","uid":"u","params":{"p":"%s"}}'
             % ("x" * size)).encode()
        req = (b"POST /v1/activities/1/echo HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: %d\r\n\r\n" % len(b) + b)
        with tap.section("a client resetting in the middle of a reply"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect(("127.0.0.1", a.port))
            s.sendall(req)
            first = s.recv(4096)
            time.sleep(0.3)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.close()  # RST with most of the reply unread
            tap.check(first.startswith(b"HTTP/1.1 200"),
                      "the reply had started", repr(first[:100]))
            st, js, raw = a.post(1, "echo", {"request_id": "after-rst",
                                             "uid": "u"})
            tap.eq(st, 200, "served after a client reset mid-reply")
        with tap.section("graceful stop with a reply being written"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect(("127.0.0.1", a.port))
            try:
                s.sendall(req)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                # The reply is now partly in flight, partly in the
                # worker's output buffer.  Stop, and read slowly.
                os.kill(a.pid, signal.SIGTERM)
                t_sig = time.monotonic()
                time.sleep(1.5)
                data, how = H.read_all(s, 30)
            finally:
                s.close()
            hdr, _, rest = (head + data).partition(b"\r\n\r\n")
            want = None
            for line in hdr.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    want = int(line.split(b":")[1])
            tap.check(hdr.startswith(b"HTTP/1.1 200") and want is not None
                      and len(rest) == want,
                      "a large reply in flight at SIGTERM reaches the slow "
                      "client whole",
                      "header %r" % hdr[:200],
                      "body %d of %r bytes (%s)" % (len(rest), want, how))
            try:
                rc = a.proc.wait(30)
            except Exception as e:
                rc = e
            took = time.monotonic() - t_sig
            tap.eq(rc, 0, "then amsd exits 0")
            tap.check(took < 8, "... without waiting for the shutdown "
                      "timeout", "%.2f s after SIGTERM" % took)
            a.stop()
            log = a.logs[-1] if a.logs else ""
            tap.check("abandoning" not in log,
                      "no request was left counted as in flight (the reset "
                      "one included)", log[-2000:])


def graceful_stop(a):
    with tap.section("graceful stop"):
        idle = a.connect(timeout=10)  # an idle keep-alive connection
        st, _, _, _ = H.request(idle, "POST", a.path(1, "echo"),
                                {"request_id": "idle", "uid": "u"})
        tap.eq(st, 200, "an idle keep-alive connection is open")
        sl = Sleeper(a, 1500, "last-words")
        sl.start()
        time.sleep(0.4)
        pid = a.pid
        t_sig = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        sl.join(30)
        res = sl.result
        tap.check(isinstance(res, tuple) and res[0] == 200
                  and res[1].get("code") == 0
                  and res[1]["data"].get("slept", 0) >= 1400,
                  "a request in flight at SIGTERM still completes with 200",
                  repr(res))
        try:
            rc = a.proc.wait(20)
        except Exception as e:  # TimeoutExpired
            rc = e
        t_exit = time.monotonic()
        tap.eq(rc, 0, "then the master exits 0")
        tap.check(sl.t_end is not None and t_exit - sl.t_end < 5,
                  "... promptly after the last answer (no shutdown timeout)",
                  "exit %.2f s after the answer, %.2f s after SIGTERM" %
                  (t_exit - (sl.t_end or t_sig), t_exit - t_sig))
        idle.close()
        a.stop()  # collect the log, make sure nothing is left
        refused = False
        try:
            socket.create_connection(("127.0.0.1", a.port), timeout=5).close()
        except ConnectionRefusedError:
            refused = True
        except OSError as e:
            tap.diag("connect: %r" % e)
        tap.check(refused, "after stop the port refuses connections")
        tap.eq(a.worker_pids(), [], "no worker is left")
        tap.check(not any(H.alive(p) for p in a.seen_pids),
                  "every worker process is gone",
                  repr([p for p in a.seen_pids if H.alive(p)]))
        log = a.logs[-1] if a.logs else ""
        tap.check("abandoning" not in log and "SIGKILL" not in log,
                  "no request was abandoned and nothing was killed",
                  log[-2000:])


def main():
    with H.Amsd(tap, {"counters.conf": COUNTERS}, workers=2,
                lmdb={"sync": "meta"}, name="supervised") as a:
        a.start()
        healthz_checks(a, 2)
        hits = supervision(a)
        restart_keeps_state(a, hits)
    with H.Amsd(tap, {"sleepy.conf": SLEEPY}, workers=1,
                name="single worker") as a:
        a.start()
        healthz_checks(a, 1)
        non_blocking(a)
        many_in_flight(a)
        client_leaves(a)
        graceful_stop(a)
    stop_mid_reply()


if __name__ == "__main__":
    tap.run(main)
