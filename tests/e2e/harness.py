"""harness.py -- shared pieces of the end-to-end tests.

The tests start the real amsd binary on loopback ports and talk HTTP to
it.  Python 3 standard library only.

    AMSD              path of the amsd binary (maybe a sanitizer build)
    AMS_PLUGINS       directory of the bundled plugins (counter.so, ...)
    AMS_TEST_PLUGINS  directory of the test plugins (testplug.so, and
                      deliberately broken ones: never point amsd at it)
    AMS_SOURCE        source root

Output is TAP: "ok N - ..." / "not ok N - ...", "# ..." diagnostics and
the plan "1..N" at the end; the process exits 1 when anything failed.
"""
import atexit
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("AMS_SOURCE",
                        os.path.dirname(os.path.dirname(HERE)))
AMSD = os.environ.get("AMSD", os.path.join(SOURCE, "build", "core", "amsd"))
PLUGINS = os.environ.get("AMS_PLUGINS", os.path.join(SOURCE, "build",
                                                     "plugins"))
TEST_PLUGINS = os.environ.get("AMS_TEST_PLUGINS",
                              os.path.join(SOURCE, "build", "tests",
                                           "plugins"))

# Where each plugin the tests may use is built.
PLUGIN_DIRS = {"testplug": TEST_PLUGINS, "counter": PLUGINS,
               "param": PLUGINS}
# BUNDLED: every plugin built from plugins/ (plugins/meson.build).
BUNDLED = ("param", "counter", "time", "tag", "chance", "uid", "unique",
           "pool", "coupon", "credit", "status", "board")
for _name in BUNDLED:
    PLUGIN_DIRS.setdefault(_name, PLUGINS)

START_TIMEOUT = 15.0
_LIVE = set()  # Amsd instances not yet closed, for the exit handlers


# The identity setting of every amsd.conf a test writes (here and in
# test_check.py, test_checker.py): these tests send the uid in the body,
# which amsd accepts only where `auth = "body"` is written
# (test_identity.py tests the real settings).
AUTH_BODY = 'auth = "body";\n'
# ... and the warning `amsd -t` and the start-up log give for it.
AUTH_BODY_WARNING = 'auth = "body": the uid is taken from the request body'


def _sanitized(path):
    """True when the binary at path is a sanitizer build."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__asan_init" in data or b"__ubsan_handle" in data


SHUTDOWN_TIMEOUT_MS = 10000  # shutdown_timeout_ms of every amsd here
# How long amsd's processes may take to leave once told to (SIGTERM to the
# master; the parent-death SIGTERM a worker gets when its master dies):
# the workers' shutdown timeout, the 2 s more the master gives them before
# its SIGKILL, then teardown; in a sanitizer build every process also runs
# a leak check at exit, which takes seconds on a loaded 2-vCPU machine.
# Waiting ends as soon as they are gone: only a hang costs the whole time.
EXIT_TIMEOUT = (SHUTDOWN_TIMEOUT_MS / 1000 + 2 +
                (20 if _sanitized(AMSD) else 5))
# What the master logs when a worker does not leave cleanly on a stop.
UNCLEAN_STOP = re.compile(r"worker \d+ (\(pid \d+\) (killed by signal|"
                          r"exited with status)|did not stop in time)|"
                          r"shutdown timeout: abandoning")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "Sanitizer:DEADLYSIGNAL", "LeakSanitizer has encountered",
                   "runtime error:", "WARNING: AddressSanitizer")


# ---------------------------------------------------------------- TAP

class Tap:
    """A TAP reporter.  check() records one test point; section() runs a
    block and turns an exception into a failing point with a traceback,
    so one broken scenario does not hide the others."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self.started = time.monotonic()

    def diag(self, *lines):
        for text in lines:
            for line in str(text).splitlines() or [""]:
                print("# " + line, flush=True)

    def check(self, cond, desc, *diag):
        self.n += 1
        desc = desc.replace("#", "no.")  # '#' would start a directive
        if cond:
            print("ok %d - %s" % (self.n, desc), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc), flush=True)
            self.diag(*diag)
        return bool(cond)

    def eq(self, got, want, desc):
        return self.check(got == want, desc,
                          "got:  %r" % (got,), "want: %r" % (want,))

    def section(self, name):
        return _Section(self, name)

    def run(self, main):
        """Run a test script's main(): an exception it lets out becomes a
        failing point (with its traceback), then the plan is printed and
        the process exits."""
        try:
            main()
        except BaseException as e:
            if isinstance(e, SystemExit) and e.code in (0, None):
                pass
            else:
                self.check(False, "the test script ran to the end",
                           *traceback.format_exception(type(e), e,
                                                       e.__traceback__))
        finally:
            _cleanup_all()
        self.done()

    def done(self):
        print("1..%d" % self.n, flush=True)
        self.diag("%d passed, %d failed (%.1f s)" %
                  (self.n - self.failed, self.failed,
                   time.monotonic() - self.started))
        sys.exit(1 if self.failed or self.n == 0 else 0)


class _Section:
    def __init__(self, tap, name):
        self.tap = tap
        self.name = name

    def __enter__(self):
        self.tap.diag("--- " + self.name)
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            return False
        if issubclass(et, KeyboardInterrupt):
            return False
        self.tap.check(False, "%s: ran to the end" % self.name,
                       *traceback.format_exception(et, ev, tb))
        return True  # go on with the next section


# ---------------------------------------------------------------- net

def free_port():
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_all(sock, timeout, done=None):
    """Read until EOF, reset, timeout, or until done(data) is true.
    Returns (bytes, how) with how in "eof", "reset", "timeout", "done"."""
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done is not None and done(data):
            return data, "done"
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk
    return data, "timeout"


def parse_raw_response(data):
    """Status code of the first HTTP response in data, or None."""
    if not data.startswith(b"HTTP/1."):
        return None
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def body_bytes(body):
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


SIGNED_SCHEME = "AMS-HMAC-SHA256"


def ams_sign(secret, app, path, body, ts, nonce=None, verb="POST",
             query=""):
    """The Authorization value of a signed server-to-server caller, made
    the way the operator guide ("Signed callers") tells a service to: an
    HMAC-SHA256 under secret (bytes) over eight lines.  ts in seconds
    (the server's clock: X-AMS-Now / 1000 when a test sets it).  Returns
    (header value, sig)."""
    nonce = nonce or uuid.uuid4().hex
    pieces = sorted(p for p in query.split("&") if p)
    canonical = "\n".join([SIGNED_SCHEME, app, verb, path, "&".join(pieces),
                           str(ts), nonce,
                           hashlib.sha256(body_bytes(body)).hexdigest()])
    sig = hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()
    return ("%s app=%s, ts=%d, nonce=%s, sig=%s"
            % (SIGNED_SCHEME, app, ts, nonce, sig), sig)


def request(conn, method, path, body=None, headers=None):
    """One request on an http.client connection.  Returns (status,
    parsed JSON or None, raw bytes, response headers as a dict with
    lower-case names)."""
    data = body_bytes(body)
    h = {"Content-Type": "application/json"}
    if headers:
        h.update(headers)
    if method in ("GET", "HEAD") and body is None:
        h.pop("Content-Type", None)
        conn.request(method, path, headers=h)
    else:
        conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    raw = resp.read()
    try:
        parsed = json.loads(raw.decode()) if raw else None
    except (ValueError, RecursionError):
        parsed = None
    return resp.status, parsed, raw, {k.lower(): v
                                      for k, v in resp.getheaders()}


# ---------------------------------------------------------------- amsd

def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    rest = stat[stat.rindex(")") + 2:].split()
    return int(rest[1]) if len(rest) > 1 else None


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[0]


def children_of(pid):
    """Live children of pid (zombies left out)."""
    kids = set()
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    if not kids:
        # Kernels without CONFIG_PROC_CHILDREN: scan every process.
        for name in os.listdir("/proc"):
            if name.isdigit() and _ppid(int(name)) == pid:
                kids.add(int(name))
    return sorted(k for k in kids if _state(k) not in (None, "Z", "X"))


def alive(pid):
    return _state(pid) not in (None, "Z", "X")


class Amsd:
    """One amsd under test, in a temp dir of its own.

    activities: {"name.conf": "libconfig text"}
    plugins:    names of the plugins to link into its plugins dir
    http:       dict of http { } settings (max_body, timeout_ms, ...)
    lmdb:       dict of lmdb { } settings
    extra:      more amsd.conf text
    store_dir:  reuse a store directory (restart tests); default: fresh
    clock_header: testing { clock_header } (honour X-AMS-Now)
    store:      a store URI instead of the private lmdb: one (redis://...)
    auth:       the identity settings (default AUTH_BODY; None: leave
                them to extra)
    listeners:  a `listeners = ( ... );` text written instead of
                `listen` (its first listener should be on self.port)
    """

    def __init__(self, tap, activities, workers=1,
                 plugins=("testplug", "counter", "param"), http=None,
                 lmdb=None, extra="", store_dir=None, name="amsd",
                 clock_header=True, store=None, auth=AUTH_BODY,
                 listeners=None):
        self.tap = tap
        self.name = name
        self.workers = workers
        self.dir = tempfile.mkdtemp(prefix="amsd-e2e-")
        self.port = free_port()
        self.admin_port = free_port()
        while self.admin_port == self.port:
            self.admin_port = free_port()
        self.store_dir = store_dir or os.path.join(self.dir, "store")
        self.store = store or "lmdb:" + self.store_dir
        self.plugins_dir = os.path.join(self.dir, "plugins")
        self.activities_dir = os.path.join(self.dir, "activities")
        self.conf_path = os.path.join(self.dir, "amsd.conf")
        self.log_path = os.path.join(self.dir, "amsd.log")
        self.proc = None
        self.log_file = None
        self.seen_pids = set()  # workers ever seen
        self.all_pids = set()   # masters and workers ever seen
        self.logs = []  # logs of earlier runs of this instance
        self.unclean = []  # how the last stop (end()) went wrong
        self._conn = None
        os.makedirs(self.plugins_dir)
        os.makedirs(self.activities_dir)
        for p in plugins:
            os.symlink(os.path.join(PLUGIN_DIRS[p], p + ".so"),
                       os.path.join(self.plugins_dir, p + ".so"))
        for fname, text in activities.items():
            with open(os.path.join(self.activities_dir, fname), "w") as f:
                f.write(text)
        self.http = dict(http or {})
        self.lmdb = dict(lmdb or {})
        self.extra = extra
        self.clock_header = clock_header
        self.auth = auth
        self.listeners = listeners
        self.write_conf()
        _LIVE.add(self)

    # -- configuration

    def write_conf(self):
        def group(name, d):
            if not d:
                return ""
            body = " ".join("%s = %s;" % (k, _cfg_value(v))
                            for k, v in d.items())
            return "%s = { %s };\n" % (name, body)

        text = (
            (('listen = "127.0.0.1:%d";\n' if not self.listeners else
              "# listeners below; the first on port %d\n") +
             'admin = "127.0.0.1:%d";\n'
            "workers = %d;\n"
            'store = "%s";\n'
            'plugins = "%s";\n'
            'activities = "%s";\n'
            'log_level = "info";\n'
            "shutdown_timeout_ms = %d;\n")
            % (self.port, self.admin_port, self.workers, self.store,
               self.plugins_dir, self.activities_dir, SHUTDOWN_TIMEOUT_MS))
        if self.auth:
            text += self.auth
        if self.listeners:
            text += self.listeners
        text += group("http", self.http)
        text += group("lmdb", self.lmdb)
        text += "testing = { clock_header = %s; };\n" % (
            "true" if self.clock_header else "false")
        text += self.extra
        with open(self.conf_path, "w") as f:
            f.write(text)

    # -- life cycle

    def start(self, timeout=START_TIMEOUT):
        """Start amsd and wait until /healthz answers 200."""
        if self.proc is not None:
            raise RuntimeError("already started")
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([AMSD, "-c", self.conf_path],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log_file,
                                     stderr=subprocess.STDOUT)
        self.all_pids.add(self.proc.pid)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("amsd exited with %s during start:\n%s"
                                   % (self.proc.returncode, self.log()))
            try:
                status, body = self.healthz(timeout=2)
                last = (status, body)
                if status == 200:
                    self.worker_pids()  # remember them for the cleanup
                    return self
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError("amsd not healthy within %.0f s (last: %r):\n%s"
                           % (timeout, last, self.log()))

    def stop(self, timeout=EXIT_TIMEOUT):
        """SIGTERM the master, wait, return its exit code (None if it did
        not exit within timeout)."""
        if self.proc is None:
            return None
        self.close_conn()
        self.worker_pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._finish_run()
        return rc

    def kill(self):
        """SIGKILL the master (a crash).  Its workers get SIGTERM from the
        kernel (PR_SET_PDEATHSIG) and leave by themselves, as they would
        in production; they are waited for, not killed: a SIGKILL during
        their exit would cut their exit-time leak check short (an empty
        sanitizer log, or one holding only LeakSanitizer's "Unable to get
        registers from thread N.") and hide what it would have found."""
        if self.proc is None:
            return
        self.close_conn()
        self.worker_pids()
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._finish_run()

    def _leftovers(self):
        """Processes this master forked that are still alive: its
        children, or its orphans."""
        master = self.proc.pid if self.proc else None
        left = []
        for pid in sorted(self.seen_pids):
            if not alive(pid) or _ppid(pid) not in (master, 1):
                continue
            try:
                exe = os.readlink("/proc/%d/exe" % pid)
            except OSError:
                continue
            if os.path.basename(exe).startswith(os.path.basename(AMSD)):
                left.append(pid)
        return left

    def _finish_run(self):
        if self.proc is not None and self.proc.poll() is not None:
            # Orphans of a killed master are on their way out; one still
            # here after EXIT_TIMEOUT hangs, and is killed so that nothing
            # outlives the test (a failure: see close()).
            wait_until(lambda: not self._leftovers(), EXIT_TIMEOUT)
            for pid in self._leftovers():
                self.unclean.append("pid %d still alive %.0f s after its "
                                    "master (pid %d) exited: SIGKILL"
                                    % (pid, EXIT_TIMEOUT, self.proc.pid))
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if self.log_file is not None:
                self.log_file.close()
                self.log_file = None
            self.logs.append(self.log())
            with open(self.log_path, "wb"):
                pass
            self.proc = None

    def restart(self):
        """Start again with the same configuration and store."""
        self.start()
        return self

    def end(self):
        """Stop amsd if it runs, as an operator would (SIGTERM), so that
        every process goes through its whole exit path, a sanitizer
        build's exit-time leak check included.  What goes wrong is kept
        in unclean: an exit status but 0, a worker that dies or is
        killed on the way, and a master that does not leave within
        EXIT_TIMEOUT (then, only then, it is SIGKILLed)."""
        if self.proc is None:
            return
        before = len(self.log())
        rc = self.stop()
        if rc is None:
            self.unclean.append("the master (pid %d) did not exit within "
                                "%.0f s of SIGTERM: SIGKILL"
                                % (self.proc.pid, EXIT_TIMEOUT))
            self.kill()
            return
        if rc != 0:
            self.unclean.append("the master exited with %d" % rc)
        self.unclean += [l for l in self.logs[-1][before:].splitlines()
                         if UNCLEAN_STOP.search(l)]

    def close(self):
        """Always safe: stops what is left (end()), checks that it
        stopped cleanly and that the logs hold no sanitizer report (two
        test points), removes the temp dir."""
        try:
            self.end()
            self.tap.check(not self.unclean, "%s: stops cleanly when told "
                           "to" % self.name, *self.unclean)
            text = "\n".join(self.logs)
            found = [l for l in text.splitlines()
                     if any(m in l for m in SANITIZER_MARKS)]
            found += sanitizer_files(self.all_pids)
            self.tap.check(not found,
                           "%s: no sanitizer reports in the amsd log"
                           % self.name, *found[:20])
        finally:
            _LIVE.discard(self)
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and not issubclass(et, KeyboardInterrupt):
            self.tap.diag("amsd log (%s):" % self.name, self.log()[-4000:])
        self.close()
        return False

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # -- processes

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def worker_pids(self):
        if self.proc is None:
            return []
        pids = children_of(self.proc.pid)
        self.seen_pids.update(pids)
        self.all_pids.update(pids)
        return pids

    def wait_workers(self, n, timeout=15, exclude=()):
        """Wait until the master has n live children none of which is in
        exclude; returns them (or the last list seen)."""
        deadline = time.monotonic() + timeout
        pids = []
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == n and not set(pids) & set(exclude):
                return pids
            time.sleep(0.05)
        return pids

    # -- HTTP

    def connect(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def close_conn(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def path(self, activity, method):
        return "/v1/activities/%s/%s" % (activity, method)

    def post(self, activity, method, body, headers=None, conn=None,
             verb="POST"):
        """POST body (a dict is JSON-encoded, bytes sent as they are) to
        /v1/activities/{activity}/{method}.  Returns (status, parsed JSON
        or None, raw bytes).  Without conn, a keep-alive connection of
        this instance is used (and reopened once if the server had closed
        it while idle)."""
        r = self.request(verb, self.path(activity, method), body, headers,
                         conn)
        return r[0], r[1], r[2]

    def request(self, verb, path, body=None, headers=None, conn=None):
        """Like post, any verb and path; returns (status, json, raw,
        headers)."""
        if conn is not None:
            return request(conn, verb, path, body, headers)
        for attempt in (0, 1):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = self.connect()
            try:
                return request(self._conn, verb, path, body, headers)
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError):
                self.close_conn()
                if not reused or attempt == 1:
                    raise
            except Exception:
                self.close_conn()
                raise
        raise AssertionError("unreachable")

    def healthz(self, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port,
                                          timeout=timeout)
        try:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw.decode())
        except ValueError:
            return resp.status, None


def sanitizer_files(pids):
    """Sanitizer reports written to files (ASAN_OPTIONS / UBSAN_OPTIONS
    log_path=PREFIX makes PREFIX.PID) by any of pids: their first lines.
    Every file counts, an empty one too: a sanitizer creates the file
    only to write to it, so an empty one (or one holding only
    LeakSanitizer's "Unable to get registers from thread N.") is an
    exit-time leak check cut short by a SIGKILL, and the harness never
    SIGKILLs a process on its way out (Amsd.end(), Amsd.kill())."""
    found = []
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        for opt in os.environ.get(var, "").replace(",", ":").split(":"):
            if not opt.startswith("log_path="):
                continue
            prefix = opt[len("log_path="):]
            for pid in sorted(pids):
                path = "%s.%d" % (prefix, pid)
                try:
                    with open(path, errors="replace") as f:
                        head = f.read().splitlines()[:15]
                except OSError:
                    continue
                found.append("%s:%s" % (path, "" if head else " (empty)"))
                found.extend("  " + l for l in head)
    return found


def _cleanup_all():
    for a in list(_LIVE):
        try:
            a.end()
        finally:
            _LIVE.discard(a)
            shutil.rmtree(a.dir, ignore_errors=True)


def _on_term(signum, frame):
    # A runner timeout: unwind (with blocks close their amsd), then exit.
    raise SystemExit(128 + signum)


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, _on_term)


def _cfg_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


# ---------------------------------------------------------------- helpers

def activity(aid, methods, name=None, enabled=True,
             start="2000-01-01T00:00:00+00:00",
             end="2099-12-31T23:59:59+00:00", extra=""):
    """Text of one activity group; methods is a list of method group
    texts."""
    return """  {
    id = %d;
    name = "%s";
    enabled = %s;
    start = "%s";
    end = "%s";
    timezone = "+00:00";%s
    methods = (
%s
    );
  }""" % (aid, name or "activity %d" % aid, "true" if enabled else "false",
          start, end, ("\n    " + extra) if extra else "",
          ",\n".join(methods))


def activities_file(*acts):
    return "activities = (\n%s\n);\n" % ",\n".join(acts)


class Load:
    """Client threads POSTing to activity/method of every node until
    stopped, per_node of them each on its own keep-alive connection.
    body(a, i, k) makes the k-th request of thread i on node a.  An answer
    but 200 code 0, or a connection error, is a failure (kept in bad).
    done counts the answers per node name, ok the good ones in all."""

    def __init__(self, nodes, per_node, activity, method, body):
        self.activity, self.method, self.body = activity, method, body
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.done = {a.name: 0 for a in nodes}
        self.ok, self.bad = 0, []
        self.threads = [threading.Thread(target=self.run, args=(a, i))
                        for a in nodes for i in range(per_node)]

    def run(self, a, i):
        conn, k = a.connect(timeout=30), 0
        while not self.stop.is_set():
            k += 1
            try:
                st, js, raw = a.post(self.activity, self.method,
                                     self.body(a, i, k), conn=conn)
                good = st == 200 and (js or {}).get("code") == 0
            except Exception as e:  # a connection error is a failure too
                good, raw = False, repr(e).encode()
                conn.close()
                conn = a.connect(timeout=30)
            with self.lock:
                self.done[a.name] += 1
                if good:
                    self.ok += 1
                else:
                    self.bad.append((a.name, raw[:200]))
        conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def wait_until(pred, timeout, interval=0.05):
    """Poll pred until it returns something true; returns the last
    value."""
    deadline = time.monotonic() + timeout
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(interval)
        v = pred()
    return v


def run_threads(n, body, timeout):
    """Run body(i) in n threads (i = 0..n-1) and wait for them, at most
    timeout seconds in all; returns the errors: each exception a body
    raised ("client i: ..."), and the number of threads still running at
    the deadline."""
    errors = []
    lock = threading.Lock()

    def run(i):
        try:
            body(i)
        except Exception as e:  # noqa: BLE001 -- reported as a failure
            with lock:
                errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=run, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    hung = sum(t.is_alive() for t in threads)
    with lock:
        if hung:
            errors.append("%d clients still running after %d s"
                          % (hung, timeout))
        return list(errors)


def iso_ms(text):
    """Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS+00:00"."""
    import datetime
    return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)
