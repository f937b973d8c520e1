"""test_reload.py -- hot reload, end to end.

Under continuous load: 50 reloads alternating two builds of one plugin and
two versions of an activity file, with no failed request and the new
behaviour visible as soon as each reload returns.  Reloads that must be
refused (syntax error, unknown entry, wrong ABI major, an init that fails,
an init that crashes the worker) leave the old generation serving and say
why.  A long request started before a reload finishes on the old
generation, and the old plugin object is unloaded once it has.
"""
import os
import shutil
import signal
import threading
import time

import harness as H

tap = H.Tap()

TP = os.environ.get("AMS_TEST_PLUGINS", "")
BUILD = {"A": os.path.join(TP, "build_a", "variant.so"),
         "B": os.path.join(TP, "build_b", "variant.so")}


def acts(version):
    """Activity file version 1 or 2: v2 has one more method."""
    methods = [
        '{ name = "which"; handler = { use = "variant.which"; }; }',
        '{ name = "echo"; handler = { use = "testplug.echo"; }; }',
    ]
    if version == 2:
        methods.append('{ name = "v2"; handler = { use = "testplug.echo"; };'
                       ' }')
    return H.activities_file(H.activity(800, methods, name="v%d" % version))


def put_build(a, which):
    dst = os.path.join(a.plugins_dir, "variant.so")
    tmp = dst + ".new"
    shutil.copyfile(BUILD[which], tmp)
    os.replace(tmp, dst)  # a new file at the same path, as a deploy does


def put_acts(a, text, name="main.conf"):
    path = os.path.join(a.activities_dir, name)
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def reload(a):
    return a.request("POST", "/admin/reload", b"",
                     conn=H.http.client.HTTPConnection(
                         "127.0.0.1", a.admin_port, timeout=60))


def which(a, rid, uid="u", conn=None, **params):
    st, js, _ = a.post(800, "which", {"request_id": rid, "uid": uid,
                                       "params": params}, conn=conn)
    return st, ((js or {}).get("data") or {}).get("build")


def load(a, n):
    """800/echo by n clients of their own (see H.Load)."""
    return H.Load([a], n, 800, "echo", lambda a, i, k: {
        "request_id": "load-%d-%d" % (i, k), "uid": "l%d" % i})


def test_fifty(a):
    changed = []
    with load(a, 4) as ld:
        for i in range(50):
            b = "B" if i % 2 == 0 else "A"
            v = 2 if i % 2 == 0 else 1
            put_build(a, b)
            put_acts(a, acts(v))
            st, js, raw, _ = reload(a)
            gen = (js or {}).get("generation")
            st_w, got = which(a, "after-%d" % i)
            st_v, _, _ = a.post(800, "v2", {"request_id": "v2-%d" % i,
                                            "uid": "u"})
            changed.append((st, gen, got == b, (st_v == 200) == (v == 2)))
    tap.check(all(c[0] == 200 for c in changed),
              "50 reloads under load: every one answered 200",
              repr([c for c in changed if c[0] != 200][:3]))
    gens = [c[1] for c in changed]
    tap.check(gens == list(range(gens[0], gens[0] + 50)),
              "each reload returns the next generation number", repr(gens))
    tap.check(all(c[2] for c in changed),
              "after each reload returns, new requests run the new build",
              repr(changed))
    tap.check(all(c[3] for c in changed),
              "and see the new activity file (method v2 comes and goes)",
              repr(changed))
    tap.check(ld.ok > 0 and not ld.bad,
              "no failed request and no connection error under the load "
              "(%d requests)" % ld.ok, *ld.bad[:5])
    st, js = a.healthz()
    tap.eq((js or {}).get("generation"), gens[-1],
           "healthz shows the generation serving")


def refused(a, what, setup, words, undo):
    before = a.healthz()[1].get("generation")
    setup()
    st, js, raw, _ = reload(a)
    undo()
    errors = " | ".join((js or {}).get("errors") or [])
    tap.check(st == 422 and (js or {}).get("reason") == "reload_refused",
              "%s: 422 reload_refused" % what, repr(raw))
    tap.check(all(w in errors for w in words),
              "%s: the errors say why (%s)" % (what, ", ".join(words)),
              errors)
    tap.eq((js or {}).get("generation"), before,
           "%s: the answer names the generation still serving" % what)
    H.wait_until(lambda: a.healthz()[1].get("workers", {}).get("ready") ==
                 2, 15)
    st, got = which(a, "still-%s" % what.replace(" ", "-"))
    tap.check(st == 200 and got is not None,
              "%s: the old generation still serves" % what, repr((st, got)))
    tap.eq(a.healthz()[1].get("generation"), before,
           "%s: the generation did not change" % what)


def test_refusals(a):
    main = os.path.join(a.activities_dir, "main.conf")
    good = open(main).read()

    def restore():
        put_acts(a, good)

    def extra(text):
        return lambda: put_acts(a, text, "extra.conf")

    def drop_extra():
        p = os.path.join(a.activities_dir, "extra.conf")
        if os.path.exists(p):
            os.remove(p)

    refused(a, "syntax error", lambda: put_acts(a, good + "\n{ oops\n"),
            ["main.conf", "syntax error"], restore)
    refused(a, "unknown entry",
            extra(H.activities_file(H.activity(801, [
                '{ name = "m"; handler = { use = "testplug.nope"; }; }']))),
            ["extra.conf:", "testplug", "nope"], drop_extra)
    abi = os.path.join(a.plugins_dir, "abi_major.so")
    refused(a, "wrong ABI major",
            lambda: shutil.copyfile(os.path.join(TP, "abi_major.so"), abi),
            ["abi_major.so", "ABI"], lambda: os.remove(abi))
    refused(a, "init fails",
            extra(H.activities_file(H.activity(802, [
                '{ name = "m"; handler = { use = "testplug.stateful";'
                ' params = { value = 1; fail_init = true; }; }; }']))),
            ["extra.conf:", "init failed", "asked_to_fail"], drop_extra)
    pids = a.worker_pids()
    refused(a, "init crashes the worker",
            extra(H.activities_file(H.activity(803, [
                '{ name = "m"; handler = { use = "testplug.stateful";'
                ' params = { value = 1; crash_init = true; }; }; }']))),
            ["crashed", "signal"], drop_extra)
    after = a.wait_workers(2, exclude=pids)
    tap.check(len(after) == 2,
              "the workers that crashed were respawned", repr((pids, after)))
    st, js, raw, _ = reload(a)
    tap.eq(st, 200, "with the broken files gone, the next reload works")


def mapped_variants(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return {line.split()[-2] if line.rstrip().endswith("(deleted)")
                    else line.split()[-1]
                    for line in f if "-variant.so" in line}
    except OSError:
        return set()


def test_long_request(a):
    put_build(a, "A")
    put_acts(a, acts(1))
    st, js, _, _ = reload(a)
    tap.eq(st, 200, "reload to build A")
    result = {}

    def long_one():
        conn = a.connect(timeout=30)
        try:
            result["r"] = which(a, "long-1", uid="long", conn=conn, ms=2000)
        finally:
            conn.close()

    conn_thread = threading.Thread(target=long_one)
    conn_thread.start()
    time.sleep(0.5)
    put_build(a, "B")
    st, js, _, _ = reload(a)
    tap.eq(st, 200, "reload to build B while a long request runs")
    st, got = which(a, "new-1")
    tap.eq(got, "B", "a new request runs build B at once")
    both = [p for p in a.worker_pids() if len(mapped_variants(p)) == 2]
    tap.check(both, "meanwhile one worker has both builds loaded",
              repr({p: mapped_variants(p) for p in a.worker_pids()}))
    conn_thread.join(30)
    tap.eq(result.get("r"), (200, "A"),
           "the long request finished on the old generation (build A)")
    time.sleep(0.3)
    counts = {p: len(mapped_variants(p)) for p in a.worker_pids()}
    tap.check(counts and all(n == 1 for n in counts.values()),
              "after it ended, the old build is unloaded (one variant "
              "mapped per worker)", repr(counts))


def test_sighup(a):
    before = a.healthz()[1].get("generation")
    os.kill(a.pid, signal.SIGHUP)
    got = H.wait_until(lambda: a.healthz()[1].get("generation") == before + 1,
                       15)
    tap.check(got, "SIGHUP reloads too (generation %s -> %s)"
              % (before, a.healthz()[1].get("generation")))


def main():
    a = H.Amsd(tap, {"main.conf": acts(1)}, workers=2,
               plugins=("testplug", "counter"), lmdb={"sync": "none"})
    put_build(a, "A")
    with a:
        a.start()
        for name, fn in [("50 reloads under load", test_fifty),
                         ("refused reloads", test_refusals),
                         ("a long request across a reload",
                          test_long_request),
                         ("SIGHUP", test_sighup)]:
            with tap.section(name):
                fn(a)


tap.run(main)
