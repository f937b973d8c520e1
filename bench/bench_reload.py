#!/usr/bin/env python3
"""bench_reload.py -- how long a reload takes, by number of activities,
and what it costs the requests served meanwhile.

    python3 bench/bench_reload.py [--activities 1000] [--reloads 10]
                                  [--template rich|simple]
                                  [--layout one|files] [--edit]
                                  [--under-load SECONDS]

Starts build/core/amsd (2 workers, LMDB sync none) twice: once with one
activity (the baseline) and once with N activities, and times POST
/admin/reload from the client's side: snapshot, two-phase prepare (every
worker parses, resolves, validates and inits the whole set) and commit.
Prints min / median / max.  Nothing is asserted.  Loopback only; it
stops by itself.

  --template rich    (default) 3 methods per activity using the bundled
                     plugins: a crowd tag rule, limits, a coupon kind
                     with stock, a pool draw, a status handler;
             simple  the shape of the demo activity 9001 (earn: a rule
                     and a bounded counter; balance: counter.get).
  --layout one       (default) every activity in one file;
           files     one file per activity (act-<id>.conf), as a large
                     deployment keeps them.
  --edit             before each reload, change one activity's name in
                     one file, so every reload has something to do (what
                     issue 12 asks to be fast: work that grows with what
                     changed, not with N).
  --under-load S     also measure, with wrk (-t1 -c64), the latency of
                     the first activity's read-only method while one
                     reload (after an edit) runs, from 1 s before it to
                     1 s after it, then for as long (at least S seconds)
                     without a reload, and print the extra p99.9 and max
                     latency the reload caused.

bench/side_by_side.py runs the 10,000-activity case of issue 12 through
reload_run() below (simple template, one file per activity, edits, under
load).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

FIRST_ID = 100000

RICH = """  {
    id = %(id)d; name = "%(name)s"; tenant = "bench";
    start = "2026-01-01T00:00:00+08:00"; end = "2030-12-31T23:59:59+08:00";
    crowd = { use = "tag.match"; params = { tag = "member"; }; };
    resources = {
      coupons = ( { name = "c"; value = 10; stock = 1000; } );
      pools = ( { name = "p"; prizes = (
        { name = "big"; stock = 1; weight = 1.0; value = 100; },
        { name = "small"; stock = 100; weight = 99.0; value = 1; } ); } );
    };
    methods = (
      { name = "grab"; login = true; limits = { user_total = 1; };
        operations = ( { use = "coupon.grant";
                         params = { coupon = "c"; }; } ); },
      { name = "draw"; login = true; limits = { user_daily = 3; };
        rule = { use = "param.compare";
                 params = { field = "amount"; op = "ge"; value = 1.0; }; };
        operations = ( { use = "pool.draw"; params = { pool = "p"; }; } ); },
      { name = "status"; login = true;
        handler = { use = "status.show"; params = { pool = "p"; }; }; }
    );
  }"""

# conf/activities/demo.conf's activity with another id.
SIMPLE = """  {
    id = %(id)d; name = "%(name)s"; tenant = "bench";
    start = "2026-01-01T00:00:00+08:00"; end = "2030-12-31T23:59:59+08:00";
    timezone = "+08:00";
    methods = (
      { name = "earn"; login = true;
        rule = { use = "param.compare";
                 params = { field = "amount"; op = "ge"; value = 100.0; }; };
        operations = ( { use = "counter.add";
                         params = { key = "points"; delta = 10;
                                    max = 100; }; } ); },
      { name = "balance"; login = true;
        handler = { use = "counter.get"; params = { key = "points"; }; }; }
    );
  }"""

TEMPLATES = {"rich": RICH, "simple": SIMPLE}
# The read-only method of each template, for --under-load.
READ_METHOD = {"rich": "status", "simple": "balance"}


def _activity(template, i, edit=0):
    name = "bench %d" % i + (" edit %d" % edit if edit else "")
    return TEMPLATES[template] % {"id": i, "name": name}


def write_activities(acts, n, template="rich", layout="one"):
    """N activities, ids FIRST_ID.., into the directory acts."""
    os.makedirs(acts, exist_ok=True)
    ids = range(FIRST_ID, FIRST_ID + n)
    if layout == "one":
        with open(os.path.join(acts, "bench.conf"), "w") as f:
            f.write("activities = (\n%s\n);\n"
                    % ",\n".join(_activity(template, i) for i in ids))
        return
    for i in ids:
        with open(os.path.join(acts, "act-%d.conf" % i), "w") as f:
            f.write("activities = (\n%s\n);\n" % _activity(template, i))


def edit_one(acts, n, template, layout, k):
    """Change one activity's name (the k-th edit: another name each
    time).  With layout "one" the one file is rewritten (a change of the
    whole file is all a reload can see anyway)."""
    target = FIRST_ID + (k * 7919) % n  # a different one each time
    if layout == "one":
        with open(os.path.join(acts, "bench.conf"), "w") as f:
            f.write("activities = (\n%s\n);\n" % ",\n".join(
                _activity(template, i, k if i == target else 0)
                for i in range(FIRST_ID, FIRST_ID + n)))
        return
    with open(os.path.join(acts, "act-%d.conf" % target), "w") as f:
        f.write("activities = (\n%s\n);\n" % _activity(template, target, k))


def reload(amsd, timeout=600):
    """POST /admin/reload; its time in ms (raises unless 200)."""
    t = time.monotonic()
    st, body = amsd.admin_call("POST", "/admin/reload", body=b"",
                               timeout=timeout)
    ms = (time.monotonic() - t) * 1000
    if st != 200:
        raise RuntimeError("reload answered %d: %s" % (st, str(body)[:500]))
    return ms


def reload_run(reaper, n, reloads, template="rich", layout="one",
               edit=False, under_load=0, conns=64):
    """One amsd with n activities: a dict with check_s (`amsd -t`),
    start_s, reload_ms (list), and with under_load the two wrk runs
    (base, during) and reload_loaded_ms."""
    d = reaper.tempdir("amsd-bench-reload-")
    try:
        acts = os.path.join(d, "activities")
        write_activities(acts, n, template, layout)
        amsd = benchlib.Amsd(reaper, "lmdb:none", acts)
        res = {"n": n}
        secs, rc, out = amsd.check()
        if rc != 0:
            raise RuntimeError("amsd -t failed:\n" + out[-2000:])
        res["check_s"] = secs
        res["start_s"] = amsd.start(timeout=600)
        times = []
        for k in range(reloads):
            if edit:
                edit_one(acts, n, template, layout, k + 1)
            times.append(reload(amsd))
        res["reload_ms"] = times
        if under_load:
            path = "/v1/activities/%d/%s" % (FIRST_ID, READ_METHOD[template])
            # Load, 1 s to settle, one reload after an edit, 1 s more (and
            # at least under_load seconds in all), then stop wrk (SIGINT:
            # it reports what it did): the run holds the whole reload
            # however long it takes under load.  Then as long a run
            # without a reload, the baseline.
            t0 = time.monotonic()
            p = benchlib.wrk_start(reaper, d, amsd.port, path, conns, 3600)
            try:
                time.sleep(1.0)
                edit_one(acts, n, template, layout, reloads + 1)
                res["reload_loaded_ms"] = reload(amsd)
                end = max(t0 + under_load, time.monotonic() + 1.0)
                time.sleep(end - time.monotonic())
            finally:
                benchlib.wrk_stop(p)
            res["during"] = benchlib.wrk_result(reaper, p)
            res["load_s"] = secs = int(time.monotonic() - t0 + 0.5)
            res["base"] = benchlib.wrk(reaper, d, amsd.port, path, conns,
                                       secs)
        amsd.close()
        return res
    finally:
        reaper.rmdir(d)


def describe(res):
    """The lines that report one reload_run()."""
    t = res["reload_ms"]
    lines = ["%5d activities: amsd -t %.2f s; start %.2f s; reload ms min "
             "%.1f median %.1f max %.1f (%d reloads)"
             % (res["n"], res["check_s"], res["start_s"], min(t),
                statistics.median(t), max(t), len(t))]
    if "during" in res:
        b, w = res["base"], res["during"]
        if b["requests"] == 0 or w["requests"] == 0:
            return lines + ["       under load: a wrk run got no answer at "
                            "all (requests %d without, %d with reload)"
                            % (b["requests"], w["requests"])]
        lines.append(
            "       under load (%d s, -c64): reload %.1f ms; without "
            "reload p99 %.1f p99.9 %.1f max %.1f ms, %.0f req/s; with "
            "reload p99 %.1f p99.9 %.1f max %.1f ms, %.0f req/s; extra: "
            "p99.9 %+.1f ms, max %+.1f ms"
            % (res["load_s"], res["reload_loaded_ms"], b["p99"], b["p999"],
               b["max"], b["rps"], w["p99"], w["p999"], w["max"], w["rps"],
               w["p999"] - b["p999"], w["max"] - b["max"]))
        for name, r in (("without", b), ("with", w)):
            if r["non2xx"] or r["errors"] or r["other"]:
                lines.append("       WARNING: %s reload: %d non-2xx, %d "
                             "other, %d socket errors %s"
                             % (name, r["non2xx"], r["other"], r["errors"],
                                r["samples"]))
    return lines


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--activities", type=int, default=1000)
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--template", choices=sorted(TEMPLATES), default="rich")
    ap.add_argument("--layout", choices=["one", "files"], default="one")
    ap.add_argument("--edit", action="store_true")
    ap.add_argument("--under-load", type=int, default=0, metavar="SECONDS")
    a = ap.parse_args()
    benchlib.terminate_on_signals()
    reaper = benchlib.Reaper()
    try:
        for n in (1, a.activities):
            res = reload_run(reaper, n, a.reloads, a.template, a.layout,
                             a.edit, a.under_load)
            print("\n".join(describe(res)), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        reaper.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
