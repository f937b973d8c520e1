"""test_center.py -- the config center (issue 5), end to end.

A real redis-server on a free loopback port, real amsd nodes and the
real amsctl:

- two nodes serve version 1 under load; `amsctl publish` of version 2:
  both serve it within a second and no request fails; a broken version
  3 leaves both on version 2 and `amsctl status` names it and says why;
- a version whose plugin pin does not match the node's build is refused,
  the right pin is accepted;
- a pointer moved without a notification is picked up by the poll;
- SIGHUP and POST /admin/reload keep the center's version;
- a node started while Redis is down serves its local activities and
  takes the center's version once Redis is back (with a password);
- a node restarted while the latest version is broken starts on the one
  it served before, a new node on the newest one kept that passes;
- amsctl's errors (bad URI, unreachable Redis, missing directory, no
  activity files, wrong password never printed), versions, rollback and
  pruning.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import harness as H
from redisd import RedisServer

tap = H.Tap()

AMSCTL = os.environ.get("AMSCTL") or os.path.join(
    os.path.dirname(os.path.dirname(H.AMSD)), "tools", "amsctl")
PREFIX = "ams:cc:"


def acts(tag, broken=False):
    """Activity 800: echo, plus a method named after the version (v1,
    v2, local...); broken: a method naming an entry testplug lacks."""
    methods = ['{ name = "echo"; handler = { use = "testplug.echo"; }; }',
               '{ name = "%s"; handler = { use = "testplug.echo"; }; }'
               % tag]
    if broken:
        methods.append('{ name = "bad"; handler = { use = "testplug.nope";'
                       ' }; }')
    return H.activities_file(H.activity(800, methods, name=tag))


def version_dir(root, name, text, pins=None):
    """A directory to publish: name/activities/main.conf (+ pins)."""
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "activities"))
    with open(os.path.join(d, "activities", "main.conf"), "w") as f:
        f.write(text)
    if pins is not None:
        with open(os.path.join(d, "plugins.sha256"), "w") as f:
            f.write(pins)
    return d


def amsctl(uri, *args, env=None):
    e = dict(os.environ)
    e.pop("AMSCTL_PASSWORD", None)
    e.update(env or {})
    p = subprocess.run([AMSCTL, "-r", uri] + list(args), capture_output=True,
                       text=True, timeout=60, env=e)
    return p.returncode, p.stdout, p.stderr


def node(uri, name, local="local", poll_ms=1000, extra=""):
    return H.Amsd(tap, {"local.conf": acts(local)}, workers=2, name=name,
                  extra='config_center = { redis = "%s"; node = "%s"; '
                        'poll_ms = %d; %s};\n' % (uri, name, poll_ms, extra))


def config(a):
    st, body = a.healthz(timeout=5)
    return (body or {}).get("config") or {}


def wait_config(nodes, pred, timeout, interval=0.02):
    """Poll the nodes' /healthz config until pred holds for all; returns
    (ok, seconds waited, last configs)."""
    t0 = time.monotonic()
    last = []
    while True:
        last = [config(a) for a in nodes]
        if all(pred(c) for c in last):
            return True, time.monotonic() - t0, last
        if time.monotonic() - t0 > timeout:
            return False, time.monotonic() - t0, last
        time.sleep(interval)


def call(a, method, rid):
    st, js, _ = a.post(800, method, {"request_id": rid},
                       conn=a.connect(timeout=10))
    return st, (js or {}).get("code")


def load(nodes, per_node=3):
    """800/echo on every node (see H.Load)."""
    return H.Load(nodes, per_node, 800, "echo", lambda a, i, k: {
        "request_id": "load-%s-%d-%d" % (a.name, i, k)})


def audit_records(a):
    try:
        with open(os.path.join(a.dir, "var", "audit.log")) as f:
            return [json.loads(l) for l in f if l.strip()]
    except OSError:
        return []


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    tmp = tempfile.mkdtemp(prefix="ams-center-e2e.")
    redis = RedisServer()
    try:
        tap.check(os.access(AMSCTL, os.X_OK), "amsctl is built", AMSCTL)
        scenario(tmp, redis)
        restart_on_broken(tmp)
        redis_down_at_start(tmp)
        amsctl_errors(tmp, redis)
    finally:
        redis.close()
        shutil.rmtree(tmp, ignore_errors=True)


def scenario(tmp, redis):
    uri = redis.uri
    rc, out, err = amsctl(uri, "publish", version_dir(tmp, "v1", acts("v1")))
    tap.eq(rc, 0, "publish v1: exit 0")
    tap.check("published version 1" in out, "publish v1 says so", out, err)
    with node(uri, "node-a", poll_ms=300) as a, \
            node(uri, "node-b", poll_ms=300) as b:
        a.start()
        b.start()
        nodes = [a, b]
        with tap.section("start on the center's version"):
            for x in nodes:
                c = config(x)
                tap.check(c.get("version") == 1 and c.get("source") ==
                          "center", "%s starts on version 1" % x.name, c)
                tap.eq(call(x, "v1", "s-" + x.name), (200, 0),
                       "%s serves version 1's method" % x.name)
            ok, _, last = wait_config(nodes, lambda c: c.get("center") ==
                                      "connected", 5)
            tap.check(ok, "both nodes connect to the center", last)
        with tap.section("publish v2 and a broken v3 under load"):
            publish_under_load(tmp, uri, nodes)
        with tap.section("pins"):
            pins(tmp, uri, nodes)
        with tap.section("a missed notification is healed by the poll"):
            missed_notification(redis, nodes)
        with tap.section("SIGHUP and POST /admin/reload keep the version"):
            local_reloads(a)


def publish_under_load(tmp, uri, nodes):
    d2 = version_dir(tmp, "v2", acts("v2"))
    d3 = version_dir(tmp, "v3", acts("v3", broken=True))
    with load(nodes) as ld:
        H.wait_until(lambda: all(n >= 20 for n in ld.done.values()), 10)
        rc, out, err = amsctl(uri, "publish", d2)
        tap.eq(rc, 0, "publish v2 under load: exit 0")
        ok, took, last = wait_config(nodes, lambda c: c.get("version") == 2,
                                     1.0)
        tap.check(ok, "both nodes serve version 2 within a second "
                  "(%.3f s)" % took, last, out, err)
        for x in nodes:
            tap.eq(call(x, "v2", "v2-" + x.name), (200, 0),
                   "%s serves version 2's method" % x.name)
            tap.eq(call(x, "v1", "v1-" + x.name)[0], 404,
                   "%s no longer serves version 1's method" % x.name)
        before = dict(ld.done)
        H.wait_until(lambda: all(ld.done[k] > before[k] + 20
                                 for k in before), 10)
        rc, out, err = amsctl(uri, "publish", d3)
        tap.eq(rc, 0, "publish broken v3: exit 0 (the nodes judge it)")
        ok, took, last = wait_config(nodes, lambda c: c.get("rejected") == 3,
                                     5)
        tap.check(ok, "both nodes refuse version 3", last)
        tap.check(all(c.get("version") == 2 for c in last),
                  "both nodes stay on version 2", last)
        for x in nodes:
            tap.eq(call(x, "v2", "v2b-" + x.name), (200, 0),
                   "%s still serves version 2" % x.name)
        before = dict(ld.done)
        H.wait_until(lambda: all(ld.done[k] > before[k] + 20
                                 for k in before), 10)
    tap.check(not ld.bad, "no request failed (%s requests)" % ld.done,
              *ld.bad[:10])
    tap.check(all(n > 100 for n in ld.done.values()),
              "both nodes were under load", ld.done)

    # amsctl status names v3 and says why, for every node (each node
    # reported as it refused).
    rc, out, err = amsctl(uri, "status")
    tap.eq(rc, 1, "status: exit 1 while nodes refuse the latest")
    tap.check("latest version 3" in out and "node-a" in out and
              "node-b" in out, "status names version 3 and both nodes",
              out, err)
    tap.check(out.count('plugin "testplug" has no entry "nope"') == 2 and
              "v3/main.conf:" in out,
              "status says why, naming the version's file", out)
    rc, out, err = amsctl(uri, "status", "--json")
    st = json.loads(out) if out.strip().startswith("{") else {}
    states = {n["node"]: n for n in st.get("nodes", [])}
    tap.check(st.get("latest") == 3 and not st.get("converged") and
              all(states.get(n, {}).get("state") == "refused" and
                  states[n]["version"] == 2 and states[n]["rejected"] == 3
                  for n in ("node-a", "node-b")),
              "status --json: both refused 3, serve 2", out, err)
    for x in nodes:
        recs = [r for r in audit_records(x) if r.get("verb") == "LOAD"]
        got = [(r.get("config_version"), r.get("status")) for r in recs]
        tap.check((1, 200) in got and (2, 200) in got and (3, 422) in got,
                  "%s: loads are audited (1, 2 ok; 3 refused)" % x.name, got)
        r3 = [r for r in recs if r.get("config_version") == 3]
        tap.check(r3 and "nope" in r3[0].get("message", "") and
                  r3[0].get("generation_after") ==
                  r3[0].get("generation_before"),
                  "%s: the refusal's record says why" % x.name, r3)


def pins(tmp, uri, nodes):
    plug = os.path.join(H.TEST_PLUGINS, "testplug.so")
    good = sha256(plug)
    bad = hashlib.sha256(b"another build").hexdigest()
    d4 = version_dir(tmp, "v4", acts("v4"), pins="%s  testplug.so\n" % bad)
    rc, out, err = amsctl(uri, "publish", d4)
    tap.eq(rc, 0, "publish v4 pinning another build: exit 0")
    ok, _, last = wait_config(nodes, lambda c: c.get("rejected") == 4, 5)
    tap.check(ok and all(c.get("version") == 2 for c in last),
              "a pin mismatch is refused; version 2 keeps serving", last)
    rc, out, err = amsctl(uri, "status")
    tap.check("pin mismatch" in out and good in out and bad in out,
              "status shows the pin mismatch with both digests", out)
    d5 = version_dir(tmp, "v5", acts("v5"),
                     pins="# the build QA tested\n%s *testplug.so\n" % good)
    rc, out, err = amsctl(uri, "publish", d5)
    tap.check(rc == 0 and "plugin pins" in out, "publish v5 with the right "
              "pin", out, err)
    ok, took, last = wait_config(nodes, lambda c: c.get("version") == 5, 5)
    tap.check(ok, "the right pin is accepted (%.3f s)" % took, last)
    rc, out, err = amsctl(uri, "status")
    tap.eq(rc, 0, "status: exit 0 once every node serves the latest")


def missed_notification(redis, nodes):
    # Content copied under a new number and the pointer set by hand: no
    # PUBLISH, so only the poll (300 ms here) can find it.
    tap.eq(redis.cmd("COPY", PREFIX + "v:2", PREFIX + "v:9"), 1,
           "v2's content copied to v9")
    redis.cmd("SET", PREFIX + "version", "9")
    ok, took, last = wait_config(nodes, lambda c: c.get("version") == 9, 3)
    tap.check(ok, "both nodes find version 9 by polling (%.3f s)" % took,
              last)
    for x in nodes:
        tap.eq(call(x, "v2", "v9-" + x.name), (200, 0),
               "%s serves version 9 (v2's content)" % x.name)


def local_reloads(a):
    gen = a.healthz()[1]["generation"]
    os.kill(a.pid, signal.SIGHUP)
    ok = H.wait_until(lambda: a.healthz()[1]["generation"] > gen, 10)
    tap.check(ok, "SIGHUP reloads")
    c = config(a)
    tap.check(c.get("version") == 9 and c.get("source") == "center",
              "after SIGHUP: still version 9", c)
    tap.eq(call(a, "v2", "hup-1"), (200, 0), "after SIGHUP: version 9's "
           "method serves")
    tap.eq(call(a, "local", "hup-2")[0], 404, "after SIGHUP: the local "
           "activities do not")
    st, js, _, _ = a.request("POST", "/admin/reload", b"",
                             conn=H.http.client.HTTPConnection(
                                 "127.0.0.1", a.admin_port, timeout=60))
    tap.eq(st, 200, "POST /admin/reload: 200")
    c = config(a)
    tap.check(c.get("version") == 9, "after POST /admin/reload: still "
              "version 9", c)
    tap.eq(call(a, "v2", "hup-3"), (200, 0), "after POST /admin/reload: "
           "version 9's method serves")
    st, js, _, _ = a.request("GET", "/admin/center",
                             conn=H.http.client.HTTPConnection(
                                 "127.0.0.1", a.admin_port, timeout=10))
    tap.check(st == 200 and js.get("node") == "node-a" and
              js.get("version") == 9 and len(js.get("digest", "")) == 64,
              "GET /admin/center describes the node's state", js)


def restart_on_broken(tmp):
    with tap.section("a node restarted on a broken latest version"):
        redis = RedisServer()
        try:
            uri = redis.uri
            amsctl(uri, "publish", version_dir(tmp, "r1", acts("r1")))
            with node(uri, "node-r", poll_ms=300) as a:
                a.start()
                tap.eq(config(a).get("version"), 1, "node-r serves 1")
                amsctl(uri, "publish",
                       version_dir(tmp, "r2", acts("r2", broken=True)))
                ok, _, last = wait_config([a], lambda c: c.get("rejected")
                                          == 2, 5)
                tap.check(ok, "node-r refuses version 2", last)
                tap.eq(a.stop(), 0, "node-r stops")
                a.start()
                c = config(a)
                tap.check(c.get("version") == 1 and c.get("rejected") == 2,
                          "restarted, it starts on the version it served "
                          "before (1), not the broken 2", c)
                tap.eq(call(a, "r1", "r-1"), (200, 0), "version 1's method "
                       "serves")
                tap.check("version 2 refused" in a.log(),
                          "the log says version 2 was refused at start")
            with node(uri, "node-s", poll_ms=300) as b:
                b.start()
                c = config(b)
                tap.check(c.get("version") == 1 and c.get("rejected") == 2,
                          "a new node starts on the newest kept version "
                          "that passes (1)", c)
        finally:
            redis.close()


def redis_down_at_start(tmp):
    with tap.section("Redis down when a node starts"):
        pw = "center-pw-0123"
        redis = RedisServer(password=pw)
        try:
            uri = redis.uri
            redis.stop()
            with node(uri, "node-c", poll_ms=300,
                      extra='password = "%s"; timeout_ms = 300; ' % pw) as a:
                a.start()
                c = config(a)
                tap.check(c.get("version") == 0 and c.get("source") ==
                          "local" and c.get("center") != "connected",
                          "starts on its local activities", c)
                tap.eq(call(a, "local", "d-1"), (200, 0),
                       "the local activities serve")
                tap.check("starting on the local activities" in a.log(),
                          "the log warns", a.log()[-2000:])
                tap.check(pw not in a.log(), "the password is not logged")
                redis.start()
                rc, out, err = amsctl(uri, "publish",
                                      version_dir(tmp, "d1", acts("d1")),
                                      env={"AMSCTL_PASSWORD": pw})
                tap.eq(rc, 0, "publish once Redis is back")
                ok, took, last = wait_config([a], lambda c: c.get("version")
                                             == 1, 15)
                tap.check(ok, "the node takes version 1 once Redis is back "
                          "(%.1f s)" % took, last)
                tap.eq(call(a, "d1", "d-2"), (200, 0),
                       "version 1's method serves")
                # A frozen Redis answers nothing: the node gives up on the
                # connection after timeout_ms, its admin plane unhurt.
                redis.freeze()
                try:
                    ok, took, last = wait_config(
                        [a], lambda c: c.get("center") != "connected", 5)
                    tap.check(ok, "a frozen Redis is noticed (%.1f s)" % took,
                              last)
                    t0 = time.monotonic()
                    c = config(a)
                    tap.check(time.monotonic() - t0 < 0.5 and
                              c.get("version") == 1,
                              "/healthz answers at once, version 1 serving",
                              c)
                finally:
                    redis.thaw()
                rc, out, err = amsctl(uri, "publish",
                                      version_dir(tmp, "d2", acts("d2")),
                                      env={"AMSCTL_PASSWORD": pw})
                ok, took, last = wait_config([a], lambda c: c.get("version")
                                             == 2, 15)
                tap.check(rc == 0 and ok, "after the thaw it reconnects and "
                          "takes version 2 (%.1f s)" % took, last, err)
        finally:
            redis.close()


def amsctl_errors(tmp, redis):
    with tap.section("amsctl: errors, versions, rollback, pruning"):
        uri = redis.uri
        dead = "redis://:s3cret-pw@127.0.0.1:%d" % H.free_port()
        rc, out, err = amsctl(dead, "status")
        tap.check(rc == 2 and "cannot connect" in err and
                  "s3cret-pw" not in out + err,
                  "unreachable Redis: exit 2, password not shown", err)
        rc, out, err = amsctl("http://127.0.0.1:1", "status")
        tap.check(rc == 2 and "not a redis:// URI" in err, "bad URI: exit 2",
                  err)
        rc, out, err = amsctl(uri, "publish", os.path.join(tmp, "missing"))
        tap.check(rc == 2 and "no such directory" in err,
                  "missing directory: exit 2", err)
        empty = os.path.join(tmp, "empty")
        os.makedirs(empty)
        with open(os.path.join(empty, "amsd.conf"), "w") as f:
            f.write("workers = 1;\n")
        rc, out, err = amsctl(uri, "publish", empty)
        tap.check(rc == 2 and "no activity files" in err,
                  "no *.conf (amsd.conf is never published): exit 2", err)
        badpins = version_dir(tmp, "badpins", acts("x"),
                              pins="not a digest  x.so\n")
        rc, out, err = amsctl(uri, "publish", badpins)
        tap.check(rc == 2 and "plugins.sha256:1:" in err,
                  "a malformed pin file: exit 2, naming its line", err)
        rc, out, err = amsctl(uri, "frobnicate")
        tap.check(rc == 2 and "unknown command" in err,
                  "unknown command: exit 2", err)
        rc, out, err = amsctl(uri, "rollback", "12345")
        tap.check(rc == 2 and "no content" in err,
                  "rollback to a version not kept: exit 2", err)
        locked = RedisServer(password="right-pw")
        try:
            rc, out, err = amsctl("redis://:wrong-pw@127.0.0.1:%d"
                                  % locked.port, "status")
            tap.check(rc == 2 and "AUTH" in err and "wrong-pw" not in
                      out + err, "wrong password: exit 2, not shown", err)
        finally:
            locked.close()

        rc, out, err = amsctl(uri, "versions")
        tap.check(rc == 0 and "latest" in out, "versions lists them", out,
                  err)
        rc, out, err = amsctl(uri, "rollback", "2")
        tap.check(rc == 0 and "published version" in out,
                  "rollback 2 publishes its content again", out, err)
        latest = int(redis.cmd("GET", PREFIX + "version"))
        tap.eq(redis.cmd("HGET", PREFIX + "v:%d" % latest, "rollback_of"),
               "2", "the new version records what it rolls back")
        rc, out, err = amsctl(uri, "publish", "--keep", "3",
                              version_dir(tmp, "k", acts("k")))
        tap.eq(rc, 0, "publish --keep 3")
        kept = redis.cmd("ZRANGE", PREFIX + "versions", "0", "-1")
        tap.check(len(kept) == 3 and
                  all(redis.cmd("EXISTS", PREFIX + "v:%s" % k) == 1
                      for k in kept) and
                  redis.cmd("EXISTS", PREFIX + "v:1") == 0,
                  "only the 3 newest versions are kept", kept)


tap.run(main)
