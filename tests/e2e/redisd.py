"""A private redis-server for end-to-end tests, a tiny RESP client, and a
relay that makes Redis slow or silent on cue.

Standard library only.  RedisServer runs the real redis-server (path in
$AMS_REDIS_SERVER, else "redis-server" on PATH) on a free loopback port
in a temp dir of its own; the tests stop, kill, freeze (SIGSTOP) and
restart it to cause the faults they check.  With persist=True the server
keeps an append-only file fsync'd on every write, so a restart (after
stop() or kill()) finds every acknowledged write again.
"""
import collections
import os
import select
import shutil
import signal
import socket
import threading
import subprocess
import tempfile
import time


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisError(Exception):
    """An error reply (-ERR ...) from the server."""


class Client:
    """One blocking RESP connection.  cmd() returns str/int/list/None,
    raises RedisError on an error reply, OSError on a network fault."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("latin-1")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise OSError("bad RESP line %r" % line)

    def cmd(self, *args):
        self.send(*args)
        return self.reply()


class RedisServer:
    def __init__(self, persist=False, password=None):
        self.dir = tempfile.mkdtemp(prefix="ams-redis-e2e.")
        self.persist = persist
        self.password = password
        self.port = None
        self.proc = None
        self.start()

    @property
    def uri(self):
        return "redis://127.0.0.1:%d" % self.port

    def _args(self):
        a = [os.environ.get("AMS_REDIS_SERVER", "redis-server"),
             "--port", str(self.port), "--bind", "127.0.0.1",
             "--daemonize", "no", "--dir", self.dir, "--save", ""]
        if self.persist:
            a += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            a += ["--appendonly", "no"]
        if self.password:
            a += ["--requirepass", self.password]
        return a

    def _pong(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=0.5) as s:
                if self.password:
                    s.sendall(b"AUTH %s\r\n" % self.password.encode())
                    s.recv(64)
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self):
        """Start (again, on the same port once one was had)."""
        tries = 1 if self.port else 5
        for _ in range(tries):
            if self.port is None or tries > 1:
                self.port = _free_port()
            log = open(os.path.join(self.dir, "redis.log"), "ab")
            self.proc = subprocess.Popen(
                self._args(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._pong():
                    return
                time.sleep(0.02)
            self.stop()
        raise RuntimeError("could not start redis-server:\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def client(self):
        c = Client(self.port)
        if self.password:
            c.cmd("AUTH", self.password)
        return c

    def cmd(self, *args):
        with self.client() as c:
            return c.cmd(*args)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM: redis flushes its append-only file and exits."""
        if self.running():
            if self.proc.returncode is None:
                try:
                    os.kill(self.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        """SIGKILL: no goodbye (appendfsync always keeps acknowledged
        writes)."""
        if self.running():
            self.proc.kill()
            self.proc.wait()

    def freeze(self):
        """SIGSTOP, and wait until the server is stopped: kill() returns
        before the signal takes effect."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/stat" % self.proc.pid) as f:
                    if f.read().rpartition(")")[2].split()[0] == "T":
                        return
            except (OSError, IndexError):
                return
            time.sleep(0.002)

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Relay:
    """A TCP relay between amsd and Redis (or any loopback port), to
    cause faults the server itself cannot:

    delay:  every Redis->client chunk is passed on this many seconds
            after it arrived, in order (a distant or busy Redis);
    hold(pattern, skip=0): after the (skip+1)-th client->Redis chunk
            that contains pattern is forwarded, that connection goes
            silent both ways: Redis runs the command and its answer never
            arrives (a timeout after send, on exactly that command).
    """

    def __init__(self, target_port, delay=0.0):
        self.target = target_port
        self.delay = delay
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.lock = threading.Lock()
        self.pattern = None
        self.skip = 0
        self.held = 0
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self):
        return "redis://127.0.0.1:%d" % self.port

    def hold(self, pattern, skip=0):
        with self.lock:
            self.pattern = pattern
            self.skip = skip

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.socks += [c, s]
            threading.Thread(target=self._pump, args=(c, s),
                             daemon=True).start()

    def _held(self, tail, data):
        """Whether forwarding data (after tail) triggers the hold."""
        with self.lock:
            if not self.pattern or self.pattern not in tail + data:
                return False, (tail + data)[-256:]
            if self.skip > 0:
                self.skip -= 1
                return False, b""  # counted: not again
            self.pattern = None
            self.held += 1
            return True, b""

    def _pump(self, c, s):
        held, tail = False, b""
        later = collections.deque()  # (due, bytes) for the client
        try:
            while True:
                wait = 0.5
                if later:
                    wait = max(0.0, later[0][0] - time.monotonic())
                ready, _, _ = select.select([c, s], [], [], wait)
                while later and later[0][0] <= time.monotonic():
                    if not held:
                        c.sendall(later.popleft()[1])
                    else:
                        later.clear()
                for x in ready:
                    data = x.recv(65536)
                    if not data:
                        return
                    if held:
                        continue  # silence, both ways
                    if x is s:
                        if self.delay > 0:
                            later.append((time.monotonic() + self.delay,
                                          data))
                        else:
                            c.sendall(data)
                        continue
                    s.sendall(data)
                    held, tail = self._held(tail, data)
        except OSError:
            pass
        finally:
            c.close()
            s.close()

    def close(self):
        self.ls.close()
        with self.lock:
            for x in self.socks:
                try:
                    x.close()
                except OSError:
                    pass
