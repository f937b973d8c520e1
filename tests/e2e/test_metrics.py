"""test_metrics.py -- GET /metrics, end to end.

Two workers serve a known mix of requests (ok, not_eligible, sold_out, a
plugin fault with an undo, a replay, unknown activity and method, wrong
verb, bad bodies).  The exposition must parse with Prometheus' own
`promtool check metrics` (Debian package `prometheus`; scripts/deps.sh
installs it: without it this test fails), the request counters must be
exactly what was sent, summed over both workers, each method's latency
histogram must count its requests with cumulative buckets, and each
plugin entry must be counted once per call.  Reloads (accepted and
refused) move amsd_generation and amsd_reloads_total and keep the
counters; workers killed with SIGKILL show in
amsd_worker_restarts_total, and the sums keep what they had counted (they
must not go back, or Prometheus would see a reset).  Hundreds of methods make a worker's series
span several control messages, all of which must arrive.  (Escaping of
label values is unit-tested: labels here are ids and method names.)
"""
import collections
import http.client
import os
import re
import shutil
import signal
import subprocess

import harness as H

tap = H.Tap()
PROMTOOL = shutil.which("promtool")

ACTS = H.activities_file(
    H.activity(900, [
        '{ name = "echo"; handler = { use = "testplug.echo"; }; }',
        '{ name = "earn"; login = true;'
        ' rule = { use = "param.compare";'
        ' params = { field = "amount"; op = "ge"; value = 100.0; }; };'
        ' operations = ( { use = "counter.add"; params = { key = "stock";'
        ' scope = "activity"; max = 2; reason = "sold_out"; }; } ); }',
        '{ name = "undo"; login = true;'
        ' operations = ( { use = "counter.add";'
        ' params = { key = "u"; max = 1000; }; },'
        ' { use = "testplug.fault"; } ); }',
        '{ name = "stock"; handler = { use = "counter.get";'
        ' params = { key = "stock"; scope = "activity"; }; }; }',
    ]),
)

MANY = 400  # methods of activity 901: more series than one page holds


def many_acts():
    return H.activities_file(H.activity(901, [
        '{ name = "m%d"; handler = { use = "testplug.echo"; }; }' % i
        for i in range(MANY)]))


# ---------------------------------------------------------------- parsing

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1),
                                                      m.group(1)), v)


def parse(text):
    """{name: {frozenset(labels): value}} and {name: type}."""
    samples = collections.defaultdict(dict)
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if m is None:
            raise ValueError("unparsable line %r" % line)
        labels, pos, body = {}, 0, m.group(2) or ""
        while pos < len(body):
            lm = LABEL.match(body, pos)
            if lm is None:
                raise ValueError("bad labels in %r" % line)
            labels[lm.group(1)] = unescape(lm.group(2))
            pos = lm.end()
        samples[m.group(1)][frozenset(labels.items())] = float(m.group(3))
    return samples, types


def series(samples, name, **want):
    """{labels dict (without the ones in want) as a sorted tuple: value}
    of name's samples whose labels include want."""
    out = {}
    for labels, v in samples.get(name, {}).items():
        d = dict(labels)
        if all(d.get(k) == w for k, w in want.items()):
            for k in want:
                d.pop(k)
            out[tuple(sorted(d.items()))] = v
    return out


def value(samples, name, **labels):
    return samples.get(name, {}).get(frozenset(labels.items()))


# ---------------------------------------------------------------- amsd

def scrape(a):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=30)
    try:
        st, _, raw, headers = a.request("GET", "/metrics", conn=conn)
    finally:
        conn.close()
    return st, raw.decode(), headers


def promtool(text):
    """(ok, output): ok when promtool parsed the text.  Lint findings
    (exit status 3) are shown but only parse errors (1) fail."""
    if PROMTOOL is None:
        return False, ("promtool not found: install the Debian package "
                       "`prometheus` (scripts/deps.sh installs it)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    out = p.stdout.decode(errors="replace")
    if p.returncode == 3 and "error" not in out.lower():
        tap.diag("promtool lint findings (not failures):", out)
        return True, out
    return p.returncode == 0, "exit %d: %s" % (p.returncode, out)


def check_promtool(text, when):
    good, out = promtool(text)
    tap.check(good, "%s: promtool check metrics accepts the exposition"
              % when, out)


class Sender:
    """Requests on fresh connections (so both workers take some), each
    checked for the reason it must get, and counted as the metrics must
    count it: (activity label, method label, reason)."""

    def __init__(self, a):
        self.a = a
        self.sent = collections.Counter()
        self.wrong = []
        self.n = 0

    def send(self, key, verb="POST", path=None, body=None):
        aid, method, reason = key
        self.n += 1
        conn = self.a.connect()
        try:
            st, js, raw, _ = self.a.request(
                verb, path or self.a.path(aid, method), body, conn=conn)
        finally:
            conn.close()
        if (js or {}).get("reason") != reason:
            self.wrong.append((key, st, raw[:200]))
        self.sent[key] += 1

    def call(self, aid, method, reason, uid="u1", rid=None, **params):
        b = {"request_id": rid or "r%d" % (self.n + 1), "uid": uid}
        if params:
            b["params"] = params
        self.send((str(aid), method, reason), body=b)


def send_mix(a):
    s = Sender(a)
    for _ in range(3):
        s.call(900, "echo", "ok")
    s.call(900, "echo", "ok", rid="same")
    # The same request_id again: an answer that changed nothing is not
    # recorded (nothing is written when nothing changes), so it runs again.
    s.call(900, "echo", "ok", rid="same")
    s.call(900, "earn", "ok", amount=150)
    s.call(900, "earn", "ok", amount=150, uid="u2")
    s.call(900, "earn", "sold_out", amount=150, uid="u3")
    s.call(900, "earn", "not_eligible", amount=50)
    s.call(900, "earn", "not_eligible", amount=99.5, uid="u2")
    s.call(900, "undo", "plugin_fault")
    s.call(900, "undo", "plugin_fault", uid="u2")
    s.call(900, "stock", "ok")
    # protocol errors: labelled with what the route resolved to
    s.send(("", "", "not_found"), path="/v1/activities/999/echo",
           body={"request_id": "x"})
    s.send(("900", "", "not_found"), path="/v1/activities/900/nope",
           body={"request_id": "x"})
    s.send(("", "", "not_found"), path="/nowhere", body={"request_id": "x"})
    s.send(("", "", "method_not_allowed"), verb="GET",
           path="/v1/activities/900/echo")
    s.send(("900", "echo", "bad_request"), body=b"{bad")
    s.send(("900", "echo", "bad_request"), body={"uid": "u1"})
    s.send(("900", "earn", "bad_request"), body={"request_id": 5})
    return s


def expected_entries():
    """Calls of each entry the mix above makes."""
    return {("param.compare", "rule"): 5,
            ("counter.add", "operation"): 3 + 2,  # earn 3 (2 ok, 1 full)
            ("counter.add", "undo"): 2,           # undo, after the fault
            ("testplug.fault", "operation"): 2,
            ("testplug.echo", "handler"): 5,      # "same" ran twice
            ("counter.get", "handler"): 1}


def test_mix(a):
    s = send_mix(a)
    tap.check(not s.wrong, "every request got the reason it was sent for",
              *map(repr, s.wrong))
    st, text, headers = scrape(a)
    tap.eq(st, 200, "GET /metrics: 200")
    tap.eq(headers.get("content-type"),
           "text/plain; version=0.0.4; charset=utf-8",
           "Content-Type of the text format 0.0.4")
    check_promtool(text, "after the mix")
    samples, types = parse(text)

    got = {(d["activity"], d["method"], d["reason"]): v
           for d, v in ((dict(k), v) for k, v in
                        samples["amsd_requests_total"].items())}
    tap.eq(got, {k: float(v) for k, v in s.sent.items()},
           "amsd_requests_total by activity, method, reason: exactly the "
           "requests sent (%d), summed over both workers" % s.n)
    tap.eq(value(samples, "amsd_workers", state="ready"), 2.0,
           "both workers ready")
    tap.eq(value(samples, "amsd_metrics_workers_missing"), 0.0,
           "and both answered")

    per_method = collections.Counter()
    for (aid, m, _), n in s.sent.items():
        per_method[(aid, m)] += n
    counts = {(dict(k)["activity"], dict(k)["method"]): v for k, v in
              samples["amsd_request_duration_seconds_count"].items()}
    tap.eq(counts, {k: float(v) for k, v in per_method.items()},
           "histogram _count per activity/method: its requests")
    bad = []
    for (aid, m), n in per_method.items():
        b = series(samples, "amsd_request_duration_seconds_bucket",
                   activity=aid, method=m)
        les = sorted(((float(dict(k)["le"]), v) for k, v in b.items()))
        vals = [v for _, v in les]
        if (len(les) != 13 or vals != sorted(vals) or les[-1][0] !=
                float("inf") or vals[-1] != n):
            bad.append(((aid, m), les))
        total = value(samples, "amsd_request_duration_seconds_sum",
                      activity=aid, method=m)
        if total is None or not 0 < total < 60 * n:
            bad.append(((aid, m), "sum", total))
    tap.check(not bad, "buckets: 12 bounds and +Inf, cumulative, +Inf = "
              "count; a plausible _sum", *map(repr, bad))
    tap.eq(types.get("amsd_request_duration_seconds"), "histogram",
           "latency is a histogram")

    entries = {(dict(k)["entry"], dict(k)["kind"]): v for k, v in
               samples["amsd_plugin_entry_duration_seconds_count"].items()}
    tap.eq(entries, {k: float(v) for k, v in expected_entries().items()},
           "plugin entry calls by entry and kind (undo counted apart)")
    sums = samples["amsd_plugin_entry_duration_seconds_sum"]
    tap.check(sums and all(v > 0 for v in sums.values()),
              "time inside each entry measured", repr(sums))
    tap.eq(types.get("amsd_plugin_entry_duration_seconds"), "summary",
           "entry time is a summary (count and sum)")
    tap.check("amsd_store_errors_total" not in samples,
              "no store errors: no series")
    for name, typ in [("amsd_requests_total", "counter"),
                      ("amsd_generation", "gauge"),
                      ("amsd_reloads_total", "counter"),
                      ("amsd_worker_restarts_total", "counter"),
                      ("amsd_workers", "gauge"),
                      ("amsd_metrics_workers_missing", "gauge"),
                      ("amsd_metrics_series_dropped_total", "counter")]:
        tap.eq(types.get(name), typ, "%s is a %s" % (name, typ))
    return samples


def reload(a):
    conn = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=60)
    try:
        return a.request("POST", "/admin/reload", b"", conn=conn)[0]
    finally:
        conn.close()


def test_reloads(a, before):
    g0 = value(before, "amsd_generation")
    tap.eq(reload(a), 200, "a reload is accepted")
    samples, _ = parse(scrape(a)[1])
    tap.eq(value(samples, "amsd_generation"), g0 + 1,
           "amsd_generation moved to the new generation")
    tap.eq(value(samples, "amsd_reloads_total", result="ok"), 1.0,
           "amsd_reloads_total{result=ok} counted it")
    tap.eq(samples["amsd_requests_total"], before["amsd_requests_total"],
           "the workers' counters survived the reload")

    bad = os.path.join(a.activities_dir, "broken.conf")
    with open(bad, "w") as f:
        f.write("activities = ( { oops\n")
    try:
        tap.eq(reload(a), 422, "a broken activity file: reload refused")
    finally:
        os.remove(bad)
    samples, _ = parse(scrape(a)[1])
    tap.eq(value(samples, "amsd_reloads_total", result="failed"), 1.0,
           "amsd_reloads_total{result=failed} counted it")
    tap.eq(value(samples, "amsd_reloads_total", result="ok"), 1.0,
           "and result=ok did not move")
    tap.eq(value(samples, "amsd_generation"), g0 + 1,
           "the generation did not change")


def test_kill(a):
    before, _ = parse(scrape(a)[1])
    pids = a.wait_workers(2)
    for pid in pids:  # both: whichever served the mix, its counts go
        os.kill(pid, signal.SIGKILL)
    after = a.wait_workers(2, exclude=pids)
    tap.check(len(after) == 2, "the killed workers were respawned",
              repr((pids, after)))
    H.wait_until(lambda: (a.healthz()[1] or {}).get("workers", {})
                 .get("ready") == 2, 15)
    st, text, _ = scrape(a)
    check_promtool(text, "after kill -9")
    samples, _ = parse(text)
    tap.check((value(samples, "amsd_worker_restarts_total") or 0) >= 2,
              "amsd_worker_restarts_total >= 2",
              repr(value(samples, "amsd_worker_restarts_total")))
    tap.eq(value(samples, "amsd_workers", state="ready"), 2.0,
           "both workers ready again")
    for name in ("amsd_requests_total",
                 "amsd_request_duration_seconds_count",
                 "amsd_plugin_entry_duration_seconds_count"):
        tap.eq(samples[name], before[name],
               "%s did not go back: the dead workers' last answers are "
               "kept in the sums (no false counter reset)" % name)
    tap.eq(value(samples, "amsd_metrics_workers_missing"), 0.0,
           "and both answered")


def test_pages(a):
    conn = a.connect()
    try:
        wrong = 0
        for i in range(MANY):
            st, js, _ = a.post(901, "m%d" % i, {"request_id": "p%d" % i},
                               conn=conn)
            wrong += (js or {}).get("reason") != "ok"
    finally:
        conn.close()
    tap.eq(wrong, 0, "%d methods called once each" % MANY)
    st, text, _ = scrape(a)
    tap.eq(st, 200, "GET /metrics: 200")
    tap.check(len(text) > 300 * 1024,
              "an exposition larger than one control message (%d bytes)"
              % len(text))
    check_promtool(text, "hundreds of series")
    samples, _ = parse(text)
    counts = series(samples, "amsd_request_duration_seconds_count",
                    activity="901")
    tap.eq(sorted(counts.items()),
           sorted(((("method", "m%d" % i),), 1.0) for i in range(MANY)),
           "every method's histogram arrived, each counting 1")
    reqs = series(samples, "amsd_requests_total", activity="901",
                  reason="ok")
    tap.eq(len(reqs), MANY, "and every request counter")
    tap.eq(value(samples, "amsd_metrics_workers_missing"), 0.0,
           "no worker missing")


def main():
    tap.check(PROMTOOL is not None, "promtool is installed",
              "install the Debian package `prometheus` (it provides "
              "promtool; scripts/deps.sh installs it)")
    a = H.Amsd(tap, {"main.conf": ACTS, "many.conf": many_acts()},
               workers=2, lmdb={"sync": "none"})
    with a:
        a.start()
        with tap.section("a known mix of requests"):
            before = test_mix(a)
        with tap.section("reloads"):
            test_reloads(a, before)
        with tap.section("kill -9 of the workers"):
            test_kill(a)
        with tap.section("a worker's series over several messages"):
            test_pages(a)


tap.run(main)
