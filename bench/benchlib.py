"""benchlib.py -- what the by-hand benchmarks in bench/ share: free
loopback ports, a registry that stops every process and removes every
temp dir they made (also on Ctrl-C), and a real amsd started from a
generated amsd.conf, with its admin plane.

Standard library only.  Every server listens on 127.0.0.1.
"""
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AMSD = os.path.join(ROOT, "build", "core", "amsd")
PLUGINS = os.path.join(ROOT, "build", "plugins")


def free_port():
    """A port nobody listens on now (the kernel's pick); the caller binds
    it right after, so a race with another program is unlikely."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reaper:
    """Every process and temp dir a run makes, so that one close() --
    from a finally block, reached on errors and on Ctrl-C alike -- leaves
    nothing behind.  Processes are started in a session of their own
    (start_new_session): a Ctrl-C in the terminal reaches only us, and we
    stop the servers in order instead of racing them."""

    def __init__(self):
        self.procs = []
        self.dirs = []

    def tempdir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        self.dirs.append(d)
        return d

    def popen(self, args, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(args, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=20):
        """SIGTERM to the process we started (amsd's master stops its own
        workers, nginx's master its own), then SIGKILL to its process
        group -- the session we made for it -- if it does not go."""
        if p in self.procs:
            self.procs.remove(p)
        if p.poll() is not None:
            return
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()

    def rmdir(self, d):
        if d in self.dirs:
            self.dirs.remove(d)
        shutil.rmtree(d, ignore_errors=True)

    def close(self):
        for p in reversed(list(self.procs)):
            self.stop(p)
        for d in list(self.dirs):
            self.rmdir(d)


def terminate_on_signals():
    """Turn SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt, so that the
    same finally blocks clean up whichever stops us.  SIGINT is set too:
    started in the background by a shell, we inherit it ignored."""
    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, raise_interrupt)


class Amsd:
    """build/core/amsd with a generated amsd.conf in its own temp dir.

    store:  "lmdb:full", "lmdb:none", "lmdb:meta" (a private LMDB store
            in the dir, that lmdb.sync) or a "redis://..." URI;
    activities: the activity directory to serve.
    An admin token is generated and configured, so the admin plane runs
    as in production (bearer tokens, not the loopback default).  run_dir
    is in the temp dir too, so even a SIGKILLed amsd leaves nothing
    elsewhere."""

    def __init__(self, reaper, store, activities, workers=2,
                 log_level="warn", map_size_mb=4096, extra_conf=""):
        self.reaper = reaper
        self.dir = reaper.tempdir("amsd-bench-")
        self.port, self.admin = free_port(), free_port()
        self.token = secrets.token_hex(32)
        self.store = store
        self.activities = activities
        self.conf = os.path.join(self.dir, "amsd.conf")
        self.proc = None
        if store.startswith("lmdb:"):
            self.lmdb_dir = os.path.join(self.dir, "store")
            uri, sync = "lmdb:" + self.lmdb_dir, store[5:]
        else:
            self.lmdb_dir, uri, sync = None, store, None
        with open(self.conf, "w") as f:
            os.fchmod(f.fileno(), 0o600)  # it holds a token
            f.write('listen = "127.0.0.1:%d";\nadmin = "127.0.0.1:%d";\n'
                    'workers = %d;\nstore = "%s";\nplugins = "%s";\n'
                    'activities = "%s";\nlog_level = "%s";\n'
                    'auth = "body";\n'
                    'audit_log = "%s/audit.log";\nrun_dir = "%s/run";\n'
                    'admin_tokens = ( { name = "bench"; token = "%s"; '
                    'role = "admin"; } );\n'
                    % (self.port, self.admin, workers, uri, PLUGINS,
                       activities, log_level, self.dir, self.dir,
                       self.token))
            if sync:
                f.write('lmdb = { sync = "%s"; map_size_mb = %d; };\n'
                        % (sync, map_size_mb))
            f.write(extra_conf)
        self.log = os.path.join(self.dir, "amsd.log")

    def check(self):
        """`amsd -t`: (seconds, exit code, output)."""
        t = time.monotonic()
        r = subprocess.run([AMSD, "-t", "-c", self.conf],
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        return time.monotonic() - t, r.returncode, r.stdout + r.stderr

    def start(self, timeout=60):
        """Start and wait until /healthz says every worker serves;
        returns the seconds that took."""
        t0 = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = self.reaper.popen([AMSD, "-c", self.conf],
                                          stdout=log, stderr=log)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("amsd exited %d at start:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                st, _ = self.admin_call("GET", "/healthz", timeout=2)
                if st == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("amsd did not start in %d s:\n%s"
                           % (timeout, self.log_tail()))

    def stop(self):
        if self.proc is not None:
            self.reaper.stop(self.proc, timeout=30)
            self.proc = None

    def close(self):
        self.stop()
        self.reaper.rmdir(self.dir)

    def log_tail(self, n=20):
        try:
            with open(self.log, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def admin_call(self, verb, path, body=None, timeout=30):
        """(status, parsed JSON or text) from the admin plane."""
        c = http.client.HTTPConnection("127.0.0.1", self.admin,
                                       timeout=timeout)
        try:
            c.request(verb, path, body=body,
                      headers={"Authorization": "Bearer " + self.token})
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode(errors="replace")

    def post(self, path, doc, timeout=30):
        """One data-plane POST: (status, parsed answer)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            c.request("POST", path, body=json.dumps(doc),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read())
        finally:
            c.close()


# ---- wrk ---------------------------------------------------------------

# The wrk script: every request a POST of JSON with a uid and a
# request_id that no other request of the run (or of any run: the base is
# random per run) uses, so amsd's idempotency records and per-user limits
# see new keys, as in a real flash sale; response() counts what came back
# (this costs the load generator some speed, the same for every
# contender), done() prints one parseable line.  Counts are per wrk
# thread and summed in done() through the thread objects.
WRK_LUA = r"""
local threads, nthreads = {}, 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function init(args)
  path, base, want = args[1], args[2], args[3]
  n, ok, non2xx, other, wanted = 0, 0, 0, 0, 0
  sample_non2xx, sample_other = "", ""
  hdrs = { ["Content-Type"] = "application/json" }
end

function request()
  n = n + 1
  local id = base .. "-" .. tid .. "-" .. n
  return wrk.format("POST", path, hdrs,
    '{"uid":"u' .. id .. '","request_id":"r' .. id .. '"}')
end

function response(status, headers, body)
  if want and body and string.find(body, want, 1, true) then
    wanted = wanted + 1
  end
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if sample_non2xx == "" then
      sample_non2xx = status .. " " .. string.sub(body or "", 1, 300)
    end
  elseif body and string.find(body, '"code":0,', 1, true) then
    ok = ok + 1
  else
    other = other + 1
    if sample_other == "" then
      sample_other = status .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local s = { ok = 0, non2xx = 0, other = 0, wanted = 0 }
  local s1, s2 = "", ""
  for _, t in ipairs(threads) do
    for k in pairs(s) do s[k] = s[k] + (t:get(k) or 0) end
    if s1 == "" then s1 = t:get("sample_non2xx") or "" end
    if s2 == "" then s2 = t:get("sample_other") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    "SBS requests=%d duration_us=%d ok=%d non2xx=%d other=%d wanted=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d " ..
    "p50=%d p99=%d p999=%d max=%d\n",
    summary.requests, summary.duration, s.ok, s.non2xx, s.other, s.wanted,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max))
  io.write("SBS_SAMPLE_NON2XX " .. string.gsub(s1, "\n", " ") .. "\n")
  io.write("SBS_SAMPLE_OTHER " .. string.gsub(s2, "\n", " ") .. "\n")
end
"""


def wrk_start(reaper, workdir, port, path, conns, duration, threads=1,
              want=None):
    """Start one wrk run against http://127.0.0.1:port/path (see wrk());
    stop it early with wrk_stop()."""
    script = os.path.join(workdir, "sbs.lua")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write(WRK_LUA)
    base = secrets.token_hex(4)
    p = reaper.popen(["wrk", "-t%d" % threads, "-c%d" % conns,
                      "-d%ds" % duration, "--timeout", "30s", "-s", script,
                      "http://127.0.0.1:%d%s" % (port, path), "--", path,
                      base] + ([want] if want else []),
                     stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
    p.sbs_duration = duration
    return p


def wrk_stop(p):
    """SIGINT: wrk stops sending, and reports (done() included) on what
    it did until then."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)


def wrk(reaper, workdir, port, path, conns, duration, threads=1,
        want=None):
    """One wrk run against http://127.0.0.1:port/path: a dict with rps,
    p50/p99/p999/max (ms), requests, ok (answers with "code":0), non2xx,
    other (2xx without code 0), wanted (answers whose body holds the
    string want), socket errors and a sample body of each kind that was
    not ok.  wrk's --timeout is 30 s, so slow answers are measured, not
    dropped as timeouts."""
    return wrk_result(reaper, wrk_start(reaper, workdir, port, path, conns,
                                        duration, threads, want))


def wrk_result(reaper, p):
    """Wait for a wrk started by wrk_start() and parse what it printed."""
    try:
        out, _ = p.communicate(timeout=p.sbs_duration + 120)
    finally:
        reaper.stop(p)
    text = out.decode(errors="replace")
    res = {"samples": {}}
    for line in text.splitlines():
        if line.startswith("SBS "):
            for kv in line[4:].split():
                k, v = kv.split("=")
                res[k] = int(v)
        elif line.startswith("SBS_SAMPLE_"):
            kind, _, body = line.partition(" ")
            if body.strip():
                res["samples"][kind[11:].lower()] = body.strip()
    if "requests" not in res:
        raise RuntimeError("wrk printed no result:\n" + text)
    secs = res["duration_us"] / 1e6
    res["rps"] = res["requests"] / secs if secs > 0 else 0.0
    for k in ("p50", "p99", "p999", "max"):
        # us -> ms; no answer at all in the run (every request slower than
        # it): no latency, rather than wrk's zeros.
        res[k] = res[k] / 1000.0 if res["requests"] else None
    res["errors"] = sum(res[k] for k in ("connect", "read", "write",
                                         "timeout"))
    return res
