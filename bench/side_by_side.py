#!/usr/bin/env python3
"""side_by_side.py -- amsd against its peers, in one run on one machine
(issue 12, "The benchmark").  Run by hand; it is not a test.

    sh bench/deps.sh                     # once: wrk, nginx + Lua, ...
    scripts/build.sh build               # build/core/amsd and plugins
    python3 bench/side_by_side.py [--rounds 3] [--duration 5]
        [--conns 64,256] [--stores full,none,redis] [--warmup 1]
        [--reload-activities 10000] [--reload-count 3]
        [--only static,unknown,soldout:none,...]

What runs (every server on 127.0.0.1, on free ports, in private temp
dirs; all of it stopped and removed at exit, Ctrl-C included):
  nginx static    nginx (2 workers) answering every request with a
                  static 200 JSON body: the floor of HTTP on this box;
  nginx+Lua grab  nginx (2 workers) + lua_shared_dict doing the same
                  grab as amsd's: parse the JSON body, per-user counter
                  with a cap of 1, decrement of a shared stock (given
                  back on sold_out), a JSON answer shaped like amsd's
                  ({"code":0,...}, limit_reached 1006, sold_out 1008);
  redis INCR      redis-benchmark -t incr against a private redis-server
                  (what one Redis does per second, for scale);
  amsd            build/core/amsd, 2 workers, the shipped conf/activities
                  plus bench activities (below), on each store asked for:
                  LMDB sync = "full" (the shipped default), LMDB sync =
                  "none", a private redis-server (no persistence).

Which grab.  The shipped 1003 grab needs the user-scope tag card_bound
that 1003/bind sets (there is no bulk way to set user-scope tags: the
admin import writes crowd-scope tags) and has a stock of 100, so after
100 requests it would measure sold_out only.  The bench therefore adds
one file to a copy of conf/activities:
  1903/grab  1003's grab without the card_bound rule: limits user_total
             = 1, coupon.grant of "cash1000" with a stock of 2e9 (never
             sold out): the like-for-like of the nginx+Lua peer;
  1904/grab  the same with a stock of 1, taken before each round: every
             measured request is the sold-out path.
The read-only method is the shipped 1003/status (status.show), and the
unknown activity is 424242 (HTTP + JSON + routing only, answered 404).

How it drives.  wrk -t1, each connection count of --conns, --duration
seconds per run, a Lua script (benchlib.WRK_LUA) that POSTs
{"uid":...,"request_id":...} with a new uid and request_id on every
request (a random base per run + a per-thread counter), and counts
non-2xx answers, answers with "code":0 and (sold-out runs) answers saying
sold_out in response(); its done() prints p50 / p99 / p99.9 / max.
Rounds are interleaved: every workload once, then every workload again,
so slow drifts of the machine hit all alike.  A run in which no answer
came back at all (every request slower than --duration) has no latency
and is reported as a problem.
amsd is started afresh on an empty store at each round (--warmup seconds
of grabs, not measured); the peers stay up (the Lua peer's dicts are
reset per run).

The books, after every amsd run: the coupons given (admin API GET
/admin/activities/{id}, live.stock), the stock counter read from the
store itself (LMDB through mdb_dump, Redis directly: {a<id>}g:coupon.
cash1000), the ledger entries in the store ({a<id>}hu<len>:<uid>:ledger)
and amsd's own count of ok answers (GET /metrics) must all agree, and
wrk's code-0 count may be below them only by requests still in flight
when wrk stopped (at most --conns: wrk drops those answers).  A sold-out
or read-only run must give nothing.  Any mismatch is printed at once as
"BOOKS MISMATCH" and again at the end, and the exit status is 1.  On the
Redis store the commands per request (INFO commandstats) are shown too.

Then a reload run (bench_reload.reload_run): --reload-activities
activity files (copies of the demo activity with distinct ids, one file
each), `amsd -t` timed, amsd started, --reload-count reloads each after
editing one file, then wrk (-c64) on one activity's read-only method
without a reload and with one in the middle: the extra p99.9 / max
latency is what the reload cost the requests.

--only keeps the workloads named (keys: static, lua, incr, grab:S,
unknown, soldout:S, readonly:S for a store S of --stores), to iterate on
one path faster; the peers not named are not started.

Printed: one line per run as it goes, then a table of medians over the
rounds (rps, p50, p99, p99.9 in ms), the ratios of issue 12 with their
targets (informative: missing a target does not fail the run), the books
and the reload figures.  The load generator, the peers, Redis and amsd
share this machine's cores: compare within one run, not across runs.
"""
import argparse
import glob
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
import bench_reload  # noqa: E402

sys.path.insert(0, os.path.join(benchlib.ROOT, "tests", "e2e"))
import redisd  # noqa: E402  (its RESP client)

GRAB, SOLD_OUT, READ_ONLY, UNKNOWN = 1903, 1904, 1003, 424242
COUPON = "cash1000"
SOLD_OUT_REASON = '"reason":"sold_out"'
BIG_STOCK = 2000000000  # coupon stocks are at most INT32_MAX

BENCH_ACTIVITIES = """\
# Added by bench/side_by_side.py beside a copy of conf/activities (see its
# header): 1003's grab without the card_bound rule (1903), and the same
# with a stock of 1, taken before the measured runs (1904: sold out).
activities = (
%s
);
"""

BENCH_ACTIVITY = """\
  {
    id = %(id)d;
    name = "%(name)s";
    tenant = "bench";
    start = "2026-01-01T00:00:00+08:00";
    end = "2030-12-31T23:59:59+08:00";
    timezone = "+08:00";
    resources = {
      coupons = ( { name = "cash1000"; value = 1000; expire_days = 7;
                    stock = %(stock)d; } );
    };
    methods = (
      { name = "grab"; login = true; limits = { user_total = 1; };
        operations = ( { use = "coupon.grant";
                         params = { coupon = "cash1000"; }; } ); }
    );
  }"""

# ---- tools -------------------------------------------------------------

NGINX_MODULES = "/usr/lib/nginx/modules"


def which(tool):
    """The tool's path; /usr/sbin too (nginx is there, and a non-root
    user's PATH often lacks it)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return shutil.which(tool, path=path)


def missing_tools(a):
    """[(what, Debian package)] of what this run needs and lacks."""
    need = [("wrk", "wrk"), ("nginx", "nginx"),
            ("redis-server", "redis-server"),
            ("redis-benchmark", "redis-tools")]
    if any(s in ("full", "none") for s in a.stores) or a.reload_activities:
        need.append(("mdb_dump", "lmdb-utils"))
    out = [(t, p) for t, p in need if which(t) is None]
    for mod, pkg in (("ndk_http_module.so", "libnginx-mod-http-ndk"),
                     ("ngx_http_lua_module.so", "libnginx-mod-http-lua")):
        if not os.path.exists(os.path.join(a.nginx_modules, mod)):
            out.append((os.path.join(a.nginx_modules, mod), pkg))
    if not (glob.glob("/usr/lib/*/lua/5.1/cjson.so") or
            glob.glob("/usr/lib/lua/5.1/cjson.so") or
            glob.glob("/usr/local/lib/lua/5.1/cjson.so")):
        out.append(("cjson.so for LuaJIT (lua/5.1)", "lua-cjson"))
    if not os.access(benchlib.AMSD, os.X_OK) or not os.path.exists(
            os.path.join(benchlib.PLUGINS, "coupon.so")):
        out.append((benchlib.AMSD + " and build/plugins",
                    "(build it: scripts/build.sh build)"))
    return out


# ---- the nginx peers ---------------------------------------------------

NGINX_CONF = """\
%(load)s
daemon off;
master_process on;
worker_processes 2;
error_log %(p)s/logs/error.log warn;
pid %(p)s/logs/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 100000000;   # wrk's connections stay open, as amsd's
  client_body_temp_path %(p)s/tmp/body;
  proxy_temp_path %(p)s/tmp/proxy;
  fastcgi_temp_path %(p)s/tmp/fastcgi;
  uwsgi_temp_path %(p)s/tmp/uwsgi;
  scgi_temp_path %(p)s/tmp/scgi;
%(http)s
  server {
    listen 127.0.0.1:%(port)d;
%(server)s
  }
}
"""

STATIC_SERVER = """\
    location / { return 200 '{"code":0,"reason":"ok"}\\n'; }"""

LUA_HTTP = """\
  lua_shared_dict sbs_users 512m;   # per-user grab counters
  lua_shared_dict sbs_stock 1m;     # the shared stock
  init_by_lua_block { ngx.shared.sbs_stock:set("cash1000", %(stock)d) }"""

LUA_SERVER = """\
    location = /v1/activities/%(grab)d/grab {
      content_by_lua_block {%(grab_lua)s}
    }
    location = /bench/reset {
      content_by_lua_block {
        ngx.shared.sbs_users:flush_all()
        ngx.shared.sbs_users:flush_expired(0)
        ngx.shared.sbs_stock:set("cash1000", %(stock)d)
        ngx.say("ok")
      }
    }
    location = /bench/books {
      content_by_lua_block {
        ngx.say(%(stock)d - ngx.shared.sbs_stock:get("cash1000"))
      }
    }
    location / { return 404 '{"code":404,"reason":"not_found"}'; }"""

# The peer's grab: what amsd's 1903/grab does, minus durability and the
# idempotency record: validate the body, take the user's limit (cap 1),
# take a unit of stock, answer as amsd does.  incr-then-check keeps both
# atomic across nginx's workers: a loser gives its unit back.
GRAB_LUA = r"""
local cjson = require "cjson.safe"
local users, stock = ngx.shared.sbs_users, ngx.shared.sbs_stock

local function answer(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(body)
end

ngx.req.read_body()
local req = cjson.decode(ngx.req.get_body_data() or "")
if type(req) ~= "table" or type(req.uid) ~= "string" or #req.uid == 0 or
   #req.uid > 128 or type(req.request_id) ~= "string" or
   #req.request_id == 0 or #req.request_id > 128 then
  return answer(400, '{"code":400,"reason":"bad_request",' ..
                     '"message":"uid and request_id are required"}')
end
local rid = cjson.encode(req.request_id)
local n, err = users:incr(req.uid, 1, 0)
if not n then
  return answer(503, '{"code":503,"reason":"overloaded","message":"' ..
                     tostring(err) .. '"}')
end
if n > 1 then
  users:incr(req.uid, -1)
  return answer(200, '{"code":1006,"reason":"limit_reached","request_id":' ..
                     rid .. ',"data":{},"detail":{"limit":"user_total"}}')
end
local left = stock:incr("cash1000", -1)
if not left or left < 0 then
  stock:incr("cash1000", 1)
  users:incr(req.uid, -1)
  return answer(200, '{"code":1008,"reason":"sold_out","request_id":' ..
                     rid .. ',"data":{},"detail":{"operation":' ..
                     '"coupon.grant","index":0}}')
end
local now = math.floor(ngx.now() * 1000)
local exp = now + 7 * 86400000
answer(200, string.format('{"code":0,"reason":"ok","request_id":%s,' ..
  '"data":{"coupon":"cash1000","count":1,"expires_at":%d,"grants":[' ..
  '{"ts":%d,"method":"grab","request_id":%s,"kind":"coupon",' ..
  '"item":"cash1000","amount":1000,"extra":{"expires_at":%d}}]}}',
  rid, exp, now, rid, exp))
"""


class Nginx:
    """nginx -p PREFIX -c CONF in a temp prefix: the static peer, or the
    Lua peer (lua=True)."""

    def __init__(self, reaper, modules, lua):
        self.reaper = reaper
        self.p = reaper.tempdir("sbs-nginx-")
        for sub in ("logs", "tmp"):
            os.makedirs(os.path.join(self.p, sub))
        self.port = benchlib.free_port()
        v = {"p": self.p, "port": self.port, "grab": GRAB,
             "stock": BIG_STOCK}
        if lua:
            # Inline, not a file: nginx's workers may run as another user
            # (nobody, when started as root) who cannot read our 0700 dir.
            v["grab_lua"] = GRAB_LUA
            v["load"] = ("load_module %s/ndk_http_module.so;\n"
                         "load_module %s/ngx_http_lua_module.so;"
                         % (modules, modules))
            v["http"], v["server"] = LUA_HTTP % v, LUA_SERVER % v
        else:
            v["load"], v["http"], v["server"] = "", "", STATIC_SERVER
        conf = os.path.join(self.p, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % v)
        # -e: the error log before the conf is read, instead of the
        # compiled-in /var/log/nginx/error.log (root only).
        log = open(os.path.join(self.p, "logs", "stderr.log"), "ab")
        self.proc = reaper.popen(
            [which("nginx"), "-p", self.p, "-c", conf, "-e",
             os.path.join(self.p, "logs", "error.log")],
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited at start:\n" + self.logs())
            try:
                self.get("/")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start:\n" + self.logs())

    def logs(self):
        out = []
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.p, "logs", name)) as f:
                    out.append(f.read()[-3000:])
            except OSError:
                pass
        return "\n".join(out)

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            c.close()


# ---- Redis -------------------------------------------------------------

class Redis:
    """A private redis-server (no persistence), in our Reaper."""

    def __init__(self, reaper):
        self.dir = reaper.tempdir("sbs-redis-")
        self.port = benchlib.free_port()
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = reaper.popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--daemonize", "no", "--dir", self.dir, "--save", "",
             "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.cmd("PING") == "PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def uri(self):
        return "redis://127.0.0.1:%d" % self.port

    def cmd(self, *args):
        with redisd.Client(self.port) as c:
            return c.cmd(*args)

    def commands(self):
        """Commands run so far (INFO commandstats), INFO itself left out."""
        total = 0
        for line in self.cmd("INFO", "commandstats").splitlines():
            m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
            if m and m.group(1) != "info":
                total += int(m.group(2))
        return total


def redis_benchmark(port, conns, duration):
    """redis-benchmark -t incr: rps and latency (it reports no p99.9).
    About 100k INCR/s per second of --duration."""
    r = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p",
                        str(port), "-t", "incr", "-c", str(conns), "-n",
                        str(100000 * duration), "--csv"],
                       capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, start_new_session=True,
                       timeout=duration * 20 + 60)
    for line in r.stdout.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if f and f[0] == "INCR":
            # test, rps, avg, min, p50, p95, p99, max
            return {"rps": float(f[1]), "p50": float(f[4]),
                    "p99": float(f[6]), "p999": None, "max": float(f[7]),
                    "requests": 100000 * duration, "ok": None,
                    "non2xx": 0, "other": 0, "errors": 0, "samples": {}}
    raise RuntimeError("redis-benchmark printed no INCR line:\n%s\n%s"
                       % (r.stdout, r.stderr))


# ---- amsd and its books ------------------------------------------------

_ESC = re.compile(rb"\\(\\|[0-9a-fA-F]{2})")
_LEDGER = re.compile(rb"^\{a(\d+)\}hu\d+:.*:ledger$")
_STOCK = re.compile(rb"^\{a(\d+)\}g:coupon\." + COUPON.encode() + rb"$")


def _unescape(b):
    """mdb_dump -p: printable bytes as they are, '\\' doubled, others as
    two hex digits after a backslash."""
    return _ESC.sub(lambda m: b"\\" if m.group(1) == b"\\"
                    else bytes([int(m.group(1), 16)]), b)


def _ledger_len(payload):
    """Entries in one ledger record: a JSON array today; a record in
    another encoding counts as one entry (an append-per-grant layout)."""
    try:
        v = json.loads(payload)
        return len(v) if isinstance(v, list) else 1
    except ValueError:
        return 1


def lmdb_books(store_dir, acts):
    """{act: (stock counter, ledger entries)} read from the LMDB store
    with mdb_dump (read-only; amsd keeps serving).  Layout as
    core/store/store_lmdb.c has it: key = family byte + key, value =
    17-byte header + payload (a counter: int64 big-endian); a ledger is
    one 'L' record per entry (and, written by older versions, a JSON
    array value)."""
    stock = {a: 0 for a in acts}
    ledger = {a: 0 for a in acts}
    p = subprocess.Popen(["mdb_dump", "-p", "-s", "data", store_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        in_data, key = False, None
        for line in p.stdout:
            line = line.rstrip(b"\n")
            if not in_data:
                in_data = line == b"HEADER=END"
                continue
            if line == b"DATA=END":
                break
            line = line[1:]  # every data line starts with a space
            if key is None:
                key = line
                continue
            k, key = key, None
            fam, rest = k[:1], k[1:]
            if fam == b"L":
                # A ledger entry: 'L' + key + NUL + 32-bit sequence
                # (core/store/store_lmdb.c, the list family).
                rest = _unescape(rest)
                m = _LEDGER.match(rest.split(b"\0", 1)[0])
                if m and int(m.group(1)) in ledger:
                    ledger[int(m.group(1))] += 1
            elif fam == b"v" and rest.endswith(b":ledger"):
                m = _LEDGER.match(rest)
                if m and int(m.group(1)) in ledger:
                    ledger[int(m.group(1))] += _ledger_len(
                        _unescape(line)[17:])
            elif fam == b"c":
                m = _STOCK.match(rest)
                if m and int(m.group(1)) in stock:
                    v = _unescape(line)
                    stock[int(m.group(1))] = (
                        int.from_bytes(v[17:25], "big", signed=True)
                        if len(v) == 25 else None)
    finally:
        p.stdout.close()
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        rc = p.wait()
    if rc != 0:
        raise RuntimeError("mdb_dump failed: " + err)
    return {a: (stock[a], ledger[a]) for a in acts}


def redis_books(redis, acts):
    """{act: (stock counter, ledger entries)} from the Redis store, as
    core/store/store_redis.c lays it out: counters are hashes whose field
    d holds the value; a ledger is a list L:KEY whose element 0 is its
    expiry, then one entry per grant."""
    out = {}
    with redisd.Client(redis.port) as c:
        for a in acts:
            v = c.cmd("HGET", "c:{a%d}g:coupon.%s" % (a, COUPON), "d")
            keys, cursor = [], "0"
            while True:
                cursor, batch = c.cmd("SCAN", cursor, "MATCH",
                                      "L:{a%d}hu*:ledger" % a, "COUNT",
                                      "10000")
                keys += batch
                if cursor == "0":
                    break
            for k in keys:  # pipelined: send all, then read all
                c.send("LLEN", k)
            n = 0
            for _ in keys:
                n += max(int(c.reply()) - 1, 0)
            out[a] = (int(v) if v is not None else 0, n)
    return out


def metrics_ok(amsd, any_reason=False):
    """{activity id: answers with reason ok (any reason)} from amsd's
    /metrics."""
    st, text = amsd.admin_call("GET", "/metrics")
    if st != 200:
        raise RuntimeError("/metrics answered %d" % st)
    out = {}
    for line in text.splitlines():
        if not line.startswith("amsd_requests_total{"):
            continue
        labels, _, value = line[len("amsd_requests_total{"):].partition("} ")
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if any_reason or lab.get("reason") == "ok":
            a = int(lab["activity"]) if lab.get("activity") else 0
            out[a] = out.get(a, 0) + int(float(value))
    return out


class AmsdUnderTest:
    """One amsd contender (a store) for one round, with its books."""

    ACTS = (GRAB, SOLD_OUT, READ_ONLY)

    def __init__(self, reaper, store, activities, redis):
        self.store = store
        self.redis = redis
        if store == "redis":
            redis.cmd("FLUSHALL")  # a fresh store each round
            uri = redis.uri
        else:
            uri = "lmdb:" + store
        self.amsd = benchlib.Amsd(reaper, uri, activities)
        self.amsd.start()
        self.last = None

    def books(self):
        """{act: {"given", "stock", "ledger", "ok"}} now."""
        given = {}
        for a in self.ACTS:
            st, doc = self.amsd.admin_call("GET", "/admin/activities/%d" % a)
            if st != 200:
                raise RuntimeError("GET /admin/activities/%d: %d %s"
                                   % (a, st, str(doc)[:300]))
            coupons = (((doc.get("activity") or {}).get("live") or {})
                       .get("stock") or {}).get("coupons") or {}
            given[a] = (coupons.get(COUPON) or {}).get("given")
        if self.store == "redis":
            raw = redis_books(self.redis, self.ACTS)
        else:
            raw = lmdb_books(self.amsd.lmdb_dir, self.ACTS)
        ok = metrics_ok(self.amsd)
        return {a: {"given": given[a], "stock": raw[a][0],
                    "ledger": raw[a][1], "ok": ok.get(a, 0)}
                for a in self.ACTS}

    def settle(self, timeout=60):
        """Wait until amsd has finished what wrk left in flight: wrk
        stops with requests outstanding and amsd still completes them,
        so the books are read once its answer counters stand still."""
        deadline = time.monotonic() + timeout
        prev = None
        while time.monotonic() < deadline:
            now = sum(metrics_ok(self.amsd, any_reason=True).values())
            if now == prev:
                return
            prev = now
            time.sleep(0.3)

    def snapshot(self):
        self.settle()
        self.last = self.books()

    def close(self):
        self.amsd.close()


# ---- the plan ----------------------------------------------------------

class Workload:
    """One line of the table: who is driven, on which path, and what its
    answers and books must look like.

    expect: "grant" (every answer code 0, each one a grant), "sold_out"
    (no code 0, nothing granted), "read" (every answer code 0, nothing
    granted), "404" (every answer not found), "static" (every answer
    2xx), "incr" (redis-benchmark)."""

    def __init__(self, key, label, who, path, act, expect):
        self.key, self.label, self.who = key, label, who
        self.path, self.act, self.expect = path, act, expect


def plan(stores, only=()):
    """The workloads of a run: every one, or those whose key is in
    only."""
    w = [Workload("static", "nginx static 200", "static", "/", None,
                  "static"),
         Workload("lua", "nginx+Lua grab", "lua",
                  "/v1/activities/%d/grab" % GRAB, None, "grant"),
         Workload("incr", "redis-benchmark INCR", "incr", None, None,
                  "incr")]
    for s in stores:
        w.append(Workload("grab:" + s, "amsd %s grab" % s, s,
                          "/v1/activities/%d/grab" % GRAB, GRAB, "grant"))
    w.append(Workload("unknown", "amsd unknown activity (%s)" % stores[0],
                      stores[0], "/v1/activities/%d/grab" % UNKNOWN, None,
                      "404"))
    for s in stores:
        w.append(Workload("soldout:" + s, "amsd %s sold-out" % s, s,
                          "/v1/activities/%d/grab" % SOLD_OUT, SOLD_OUT,
                          "sold_out"))
        w.append(Workload("readonly:" + s, "amsd %s read-only (status)" % s,
                          s, "/v1/activities/%d/status" % READ_ONLY,
                          READ_ONLY, "read"))
    return [x for x in w if not only or x.key in only]


def answer_problems(w, r):
    """What is wrong with the answers of one run, as text (or [])."""
    p = []
    n = r["requests"]
    if n == 0:
        return ["no answer within the run (every request took longer than "
                "--duration: no latency measured; try a longer --duration)"]
    if r["errors"]:
        p.append("%d socket errors/timeouts" % r["errors"])
    if w.expect in ("grant", "read") and r["ok"] != n:
        p.append("%d of %d answers not code 0 (%d non-2xx, %d other)"
                 % (n - r["ok"], n, r["non2xx"], r["other"]))
    if w.expect == "sold_out" and (r["ok"] or r["non2xx"]):
        p.append("%d code-0 and %d non-2xx answers on a sold-out stock"
                 % (r["ok"], r["non2xx"]))
    if w.expect == "sold_out" and r["wanted"] != n:
        p.append("%d of %d answers were not sold_out"
                 % (n - r["wanted"], n))
    if w.expect == "404" and r["non2xx"] != n:
        p.append("%d of %d answers were not an error status"
                 % (n - r["non2xx"], n))
    if w.expect == "404" and not r["samples"].get("non2xx", "").startswith(
            "404"):
        p.append("the error status is not 404")
    if w.expect == "static" and r["non2xx"]:
        p.append("%d non-2xx answers" % r["non2xx"])
    if p and r["samples"]:
        p.append("samples: %s" % r["samples"])
    return p


def check_books(w, before, after, r, conns):
    """The books of one amsd run: (line, [mismatches])."""
    b, a = before[w.act], after[w.act]
    d = {k: (a[k] - b[k]) if a[k] is not None and b[k] is not None
         else None for k in a}
    granted = d["given"]
    bad = []
    if w.expect == "grant":
        if d["ledger"] != granted:
            bad.append("ledger entries +%s != coupons given +%s"
                       % (d["ledger"], granted))
        if d["stock"] is not None and d["stock"] != granted:
            bad.append("store stock counter +%s != coupons given +%s"
                       % (d["stock"], granted))
        elif d["stock"] is None:
            bad.append("store stock counter unreadable (layout changed?)")
        if d["ok"] != granted:
            bad.append("amsd ok answers +%s != coupons given +%s"
                       % (d["ok"], granted))
        lost = (d["ok"] or 0) - r["ok"]
        if lost < 0 or lost > conns:
            bad.append("wrk saw %d code-0 answers, amsd sent %s (in flight "
                       "at wrk's stop can be 0..%d)" % (r["ok"], d["ok"],
                                                        conns))
    else:
        for k in ("given", "stock", "ledger"):
            if d[k]:
                bad.append("%s +%s on a run that must grant nothing"
                           % (k, d[k]))
    line = ("books %d: given +%s, store counter +%s, ledger +%s, amsd ok "
            "+%s, wrk code-0 %d" % (w.act, granted, d["stock"], d["ledger"],
                                    d["ok"], r["ok"]))
    if w.expect == "grant":
        line += " (%s in flight at wrk's stop)" % ((d["ok"] or 0) - r["ok"])
    return line, bad


def fmt_ms(v):
    return "-" if v is None else ("%.2f" % v if v < 10 else "%.1f" % v)


def run_line(rnd, conns, w, r, extra=""):
    return ("r%d c%-3d %-34s %9.0f rps  p50 %7s  p99 %7s  p99.9 %7s  "
            "ms  code0 %s  non2xx %d%s"
            % (rnd, conns, w.label, r["rps"], fmt_ms(r["p50"]),
               fmt_ms(r["p99"]), fmt_ms(r["p999"]),
               "-" if r["ok"] is None else r["ok"], r["non2xx"], extra))


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5,
                    help="seconds per wrk run (whole seconds)")
    ap.add_argument("--conns", default="64,256")
    ap.add_argument("--stores", default="full,none,redis",
                    help="any of full, none (LMDB sync), redis")
    ap.add_argument("--warmup", type=int, default=1,
                    help="seconds of unmeasured grabs after each start")
    ap.add_argument("--reload-activities", type=int, default=10000,
                    help="activities of the reload run (0: skip it)")
    ap.add_argument("--reload-count", type=int, default=3)
    ap.add_argument("--nginx-modules", default=NGINX_MODULES)
    ap.add_argument("--only", default="",
                    help="comma-separated workload keys to run (default: "
                    "all), e.g. static,unknown,soldout:none")
    a = ap.parse_args()
    a.only = [k for k in a.only.split(",") if k]
    a.stores = [s for s in a.stores.split(",") if s]
    if not a.stores or any(s not in ("full", "none", "redis")
                           for s in a.stores):
        ap.error("--stores: a list of full, none, redis")
    known = [w.key for w in plan(a.stores)]
    if any(k not in known for k in a.only):
        ap.error("--only: keys of %s" % ", ".join(known))
    conns_list = [int(c) for c in a.conns.split(",")]

    missing = missing_tools(a)
    if missing:
        print("side_by_side: missing tools:", file=sys.stderr)
        for what, pkg in missing:
            print("  %-45s  package: %s" % (what, pkg), file=sys.stderr)
        print("install them with: sh bench/deps.sh", file=sys.stderr)
        return 2

    benchlib.terminate_on_signals()
    reaper = benchlib.Reaper()
    try:
        return Bench(a, conns_list, reaper).run()
    except RuntimeError as e:  # a server would not start, a tool failed
        print("side_by_side: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        reaper.close()


class Bench:
    """One side-by-side run: the servers and what was measured."""

    def __init__(self, a, conns_list, reaper):
        self.a, self.conns_list, self.reaper = a, conns_list, reaper
        self.results = {}     # (workload key, conns) -> [result per round]
        self.cmds = {}        # (workload key, conns) -> [Redis cmds/request]
        self.mismatches = []  # books that did not balance
        self.problems = []    # unexpected answers, errors
        self.books_checked = 0
        self.amsds = {}       # store -> AmsdUnderTest, this round
        self.work = reaper.tempdir("sbs-")
        self.acts = os.path.join(self.work, "activities")
        shutil.copytree(os.path.join(benchlib.ROOT, "conf", "activities"),
                        self.acts)
        with open(os.path.join(self.acts, "zz-side-by-side.conf"), "w") as f:
            f.write(BENCH_ACTIVITIES % ",\n".join([
                BENCH_ACTIVITY % {"id": GRAB, "stock": BIG_STOCK,
                                  "name": "bench grab (1003 without its "
                                          "rule)"},
                BENCH_ACTIVITY % {"id": SOLD_OUT, "stock": 1,
                                  "name": "bench sold out"}]))
        keys = [w.key for w in plan(a.stores, a.only)]
        self.static = (Nginx(reaper, a.nginx_modules, lua=False)
                       if "static" in keys else None)
        self.lua = (Nginx(reaper, a.nginx_modules, lua=True)
                    if "lua" in keys else None)
        self.bench_redis = Redis(reaper) if "incr" in keys else None
        self.store_redis = Redis(reaper) if "redis" in a.stores else None
        # warm the peers up once
        for peer in [p for p in (self.static, self.lua) if p is not None]:
            benchlib.wrk(reaper, self.work, peer.port,
                         "/v1/activities/%d/grab" % GRAB, 64,
                         max(1, a.warmup))

    def wrk(self, port, path, conns, want=None):
        return benchlib.wrk(self.reaper, self.work, port, path, conns,
                            self.a.duration, want=want)

    def run(self):
        a = self.a
        print("side_by_side: %d round(s) x conns %s x %d s per run; amsd "
              "stores %s; wrk -t1; %d cores"
              % (a.rounds, self.conns_list, a.duration, a.stores,
                 os.cpu_count()), flush=True)
        workloads = plan(a.stores, a.only)
        for rnd in range(1, a.rounds + 1):
            try:
                self.start_amsds(rnd)
                for conns in self.conns_list:
                    for w in workloads:
                        r, extra = self.drive(rnd, conns, w)
                        print(run_line(rnd, conns, w, r, extra), flush=True)
            finally:
                for m in self.amsds.values():
                    m.close()
                self.amsds = {}
        reload_res = self.reload_run() if a.reload_activities else None
        report(self, workloads, reload_res)
        return 1 if self.mismatches or self.problems else 0

    def start_amsds(self, rnd):
        """Every store's amsd, afresh on an empty store: warmed up, 1904's
        one coupon taken, the books read."""
        for s in self.a.stores:
            m = AmsdUnderTest(self.reaper, s, self.acts, self.store_redis)
            self.amsds[s] = m
            benchlib.wrk(self.reaper, self.work, m.amsd.port,
                         "/v1/activities/%d/grab" % GRAB, 64,
                         max(1, self.a.warmup))
            _, ans = m.amsd.post("/v1/activities/%d/grab" % SOLD_OUT,
                                 {"uid": "seed", "request_id": "seed"})
            if ans.get("code") != 0:
                self.problems.append("round %d %s: the seed grab of %d "
                                     "answered %s" % (rnd, s, SOLD_OUT, ans))
            m.snapshot()

    def drive(self, rnd, conns, w):
        """One run of one workload: recorded; returns (result, extra text
        for its line)."""
        extra = ""
        where = "round %d c%d %s: " % (rnd, conns, w.label)
        if w.who == "incr":
            r = redis_benchmark(self.bench_redis.port, conns,
                                self.a.duration)
        elif w.who in ("static", "lua"):
            peer = self.static if w.who == "static" else self.lua
            if w.who == "lua":
                peer.get("/bench/reset")
            r = self.wrk(peer.port, w.path, conns)
            if w.who == "lua":
                taken = int(peer.get("/bench/books")[1])
                self.books_checked += 1
                extra = "  books: stock taken %d, wrk code-0 %d" % (taken,
                                                                   r["ok"])
                if not 0 <= taken - r["ok"] <= conns:
                    self.mismatches.append(where + "stock taken %d vs %d "
                                           "code-0 answers" % (taken,
                                                               r["ok"]))
                    extra += "\n  BOOKS MISMATCH: stock taken != code-0"
        else:
            m = self.amsds[w.who]
            redis = self.store_redis if w.who == "redis" else None
            c0 = redis.commands() if redis else None
            r = self.wrk(m.amsd.port, w.path, conns,
                         want=SOLD_OUT_REASON if w.expect == "sold_out"
                         else None)
            if redis:
                per = (redis.commands() - c0) / max(1, r["requests"])
                self.cmds.setdefault((w.key, conns), []).append(per)
                extra += "  redis cmds/req %.1f" % per
            if w.act is not None:
                m.settle()
                after = m.books()
                line, bad = check_books(w, m.last, after, r, conns)
                m.last = after
                self.books_checked += 1
                extra += "\n  " + line
                for b in bad:
                    self.mismatches.append(where + b)
                    extra += "\n  BOOKS MISMATCH: " + b
            if m.amsd.proc.poll() is not None:
                self.problems.append(where + "amsd exited: " +
                                     m.amsd.log_tail())
        for p in answer_problems(w, r) if w.who != "incr" else []:
            self.problems.append(where + p)
            extra += "\n  PROBLEM: " + p
        self.results.setdefault((w.key, conns), []).append(r)
        return r, extra

    def reload_run(self):
        a = self.a
        print("reload run: %d activities (one file each), %d reloads after "
              "editing one file, then load with one reload"
              % (a.reload_activities, a.reload_count), flush=True)
        try:
            res = bench_reload.reload_run(
                self.reaper, a.reload_activities, a.reload_count,
                template="simple", layout="files", edit=True,
                under_load=a.duration)
        except RuntimeError as e:
            self.problems.append("reload run: %s" % e)
            return None
        for name, what in (("during", "during"), ("base", "without")):
            r = res[name]
            if r["non2xx"] or r["other"] or r["errors"]:
                self.problems.append(
                    "reload run, load %s the reload: %d non-2xx, %d other, "
                    "%d socket errors; samples %s"
                    % (what, r["non2xx"], r["other"], r["errors"],
                       r["samples"]))
        return res


# ---- the report --------------------------------------------------------

RATIOS = [  # (label, numerator key, denominator key, target)
    ("amsd grab LMDB full / nginx+Lua grab", "grab:full", "lua", 0.5),
    ("amsd grab LMDB none / nginx+Lua grab", "grab:none", "lua", 0.6),
    ("amsd grab Redis / nginx+Lua grab", "grab:redis", "lua", 0.4),
    ("amsd unknown activity / nginx static", "unknown", "static", 0.6),
    ("amsd sold-out full / amsd unknown", "soldout:full", "unknown", 0.8),
    ("amsd sold-out none / amsd unknown", "soldout:none", "unknown", 0.8),
    ("amsd sold-out redis / amsd unknown", "soldout:redis", "unknown", 0.8),
    ("amsd read-only full / amsd unknown", "readonly:full", "unknown", 0.8),
    ("amsd read-only none / amsd unknown", "readonly:none", "unknown", 0.8),
    ("amsd read-only redis / amsd unknown", "readonly:redis", "unknown",
     0.8),
]
P99_TARGETS = {64: 20.0, 256: 100.0}  # amsd grab, LMDB full


def med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else None


def report(b, workloads, reload_res):
    a, conns_list, results = b.a, b.conns_list, b.results
    print()
    print("== medians over %d round(s), %d s per run, wrk -t1 ==" %
          (a.rounds, a.duration))
    print("%-36s %5s %10s %8s %8s %8s %9s %7s" %
          ("contender", "conns", "rps", "p50 ms", "p99 ms", "p99.9 ms",
           "code0", "non2xx"))
    for w in workloads:
        for c in conns_list:
            rs = results.get((w.key, c))
            if not rs:
                continue
            ok = [r["ok"] for r in rs if r["ok"] is not None]
            print("%-36s %5d %10.0f %8s %8s %8s %9s %7d" %
                  (w.label, c, med(rs, "rps"), fmt_ms(med(rs, "p50")),
                   fmt_ms(med(rs, "p99")), fmt_ms(med(rs, "p999")),
                   sum(ok) if ok else "-", sum(r["non2xx"] for r in rs)))
    print()
    print("== ratios (median rps), target from issue 12 ==")
    print("%-40s %s  %s" % ("", "  ".join("%8s" % ("c%d" % c)
                                          for c in conns_list), "target"))
    for label, num, den, target in RATIOS:
        cells = []
        for c in conns_list:
            n, d = results.get((num, c)), results.get((den, c))
            if not n or not d or not med(d, "rps"):
                cells.append("%8s" % "-")
                continue
            x = med(n, "rps") / med(d, "rps")
            cells.append("%7.3fx" % x + ("" if x >= target else "!"))
        if all(s.strip() == "-" for s in cells):
            continue
        print("%-40s %s  >= %.1fx" % (label, "  ".join(cells), target))
    print("(! = below target)")
    for c in conns_list:
        rs = results.get(("grab:full", c))
        if rs and c in P99_TARGETS:
            p = med(rs, "p99")
            print("amsd grab LMDB full p99 at c%d: %s ms (target <= %.0f ms)"
                  "%s" % (c, fmt_ms(p), P99_TARGETS[c],
                          "  (no answer in any run)" if p is None else
                          "" if p <= P99_TARGETS[c] else "  MISSED"))
    for c in conns_list:
        v = b.cmds.get(("grab:redis", c))
        if v:
            print("amsd grab Redis: %.1f Redis commands per request at c%d "
                  "(target <= 8)" % (statistics.median(v), c))
    if reload_res:
        print()
        print("== reload ==")
        for line in bench_reload.describe(reload_res):
            print(line.strip())
        print("targets: reload after editing one of 10,000 activities "
              "< 100 ms; no request waits > 50 ms longer during a reload")
    print()
    if b.mismatches:
        print("== BOOKS MISMATCH (%d of %d runs checked) ==" %
              (len(b.mismatches), b.books_checked))
        for m in b.mismatches:
            print("  " + m)
    else:
        print("books: all %d runs checked balanced (amsd: coupons given == "
              "store counter == ledger entries == amsd ok answers; wrk "
              "code-0 short only by requests in flight at its stop)"
              % b.books_checked)
    if b.problems:
        print("== PROBLEMS (%d) ==" % len(b.problems))
        for p in b.problems:
            print("  " + p[:2000])


if __name__ == "__main__":
    sys.exit(main())
