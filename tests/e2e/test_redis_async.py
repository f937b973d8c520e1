"""test_redis_async.py -- a worker never waits on Redis with its event loop
stalled: requests waiting on the store yield, and their calls share one
pipelined connection.

The real amsd (one worker) talks to a real redis-server through a proxy
on loopback that holds every reply back for DELAY seconds, as a distant
or busy Redis would.  A request makes several store calls, each one
round trip.  If the worker blocked on each call, N requests at once
would take N times as long as one; served by yielding coroutines they
take about as long as one.  Both are measured in the same run.  Then the
proxy's upstream is frozen (SIGSTOP): every waiting request fails within
the configured timeout, together, and the worker recovers by itself.
"""
import threading
import time

import harness as H
import redisd

tap = H.Tap()

DELAY = 0.03       # seconds added to every reply
N = 16             # requests at once
TIMEOUT_MS = 400   # redis.timeout_ms

ACTS = H.activities_file(
    H.activity(710, [
        '{ name = "take"; login = true;'
        ' operations = ( { use = "testplug.count";'
        ' params = { key = "taken"; max = 100000; }; } ); }',
    ]))


def burst(a, n, tag):
    """n requests at once, each on its own connection; (seconds, list of
    (status, reason, seconds))."""
    out = [None] * n

    def one(i):
        conn = a.connect()
        t = time.monotonic()
        st, js, raw = a.post(710, "take", {"uid": "%s-%d" % (tag, i),
                                           "request_id": "r-%s-%d" % (tag,
                                                                      i)},
                             conn=conn)
        out[i] = (st, js.get("reason") if js else raw[:80],
                  time.monotonic() - t)
        conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, out


def main():
    r = redisd.RedisServer()
    proxy = redisd.Relay(r.port, delay=DELAY)
    a = H.Amsd(tap, {"acts.conf": ACTS}, workers=1,
               store="redis://127.0.0.1:%d" % proxy.port,
               extra="redis = { timeout_ms = %d; };\n" % TIMEOUT_MS)
    try:
        a.start()
        with tap.section("pipelined, not blocked"):
            burst(a, 2, "warm")  # connections made, scripts cached
            one, res1 = burst(a, 1, "one")
            tap.eq([x[:2] for x in res1], [(200, "ok")],
                   "one request through a Redis %d ms away answers ok"
                   % (DELAY * 1000))
            many, res = burst(a, N, "many")
            tap.eq(sum(1 for x in res if x[:2] == (200, "ok")), N,
                   "%d requests at once on one worker: all ok" % N)
            # A request is two round trips now (what it reads, then its
            # commit), so the fixed cost of 16 clients starting at once
            # weighs more against one: the claim is that they overlap,
            # far from the N times one that blocking would take.
            tap.check(many < one * N / 4,
                      "they overlap: %.0f ms against %.0f ms for one "
                      "(blocking would be about %.0f ms)"
                      % (many * 1000, one * 1000, one * N * 1000))
            tap.eq(int(r.cmd("HGET", "c:{a710}g:taken", "d")), 2 + 1 + N,
                   "the counter counted each request once")
        with tap.section("Redis hangs, then comes back"):
            r.freeze()
            t0 = time.monotonic()
            secs, res = burst(a, N, "hang")
            r.thaw()
            tap.eq([x[:2] for x in res], [(503, "store_unavailable")] * N,
                   "Redis frozen: every request answers 503 "
                   "store_unavailable")
            tap.check(secs < (TIMEOUT_MS + 700) / 1000.0,
                      "all within one timeout of %d ms, together (%.0f ms)"
                      % (TIMEOUT_MS, secs * 1000))
            ok_again = H.wait_until(
                lambda: burst(a, 1, "back%f" % time.monotonic())[1][0][:2]
                == (200, "ok"), 5)
            tap.check(ok_again, "Redis thawed: requests succeed again "
                      "without a restart")
            tap.check(time.monotonic() - t0 < 10, "  promptly")
    finally:
        a.stop()
        proxy.close()
        r.close()


tap.run(main)
