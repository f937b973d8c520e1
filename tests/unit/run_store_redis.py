#!/usr/bin/env python3
"""Run a test binary against a private, throw-away redis-server.

usage: run_store_redis.py [--cluster] REDIS_SERVER TEST_BINARY [ARGS...]

Starts REDIS_SERVER on a free loopback port in a temporary directory (no
persistence), waits until it answers PING, runs TEST_BINARY with
AMS_TEST_STORE=redis://127.0.0.1:PORT (its TAP output goes straight to
ours), stops the server and exits with the test's status.

--cluster runs the server as a one-node Redis Cluster owning every slot.
Such a server refuses (CROSSSLOT) any script whose keys hash to
different slots, even though it holds them all: the suite passing there
shows every store call keeps its keys in one slot, as a sharded
cluster needs.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pong(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def command(port, *args):
    """One command on a fresh connection; the raw reply bytes."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(out)
        return s.recv(65536)


def make_cluster(port):
    """Give the one node every slot; True once the cluster says ok."""
    if not command(port, "CLUSTER", "ADDSLOTSRANGE", "0",
                   "16383").startswith(b"+OK"):
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if b"cluster_state:ok" in command(port, "CLUSTER", "INFO"):
            return True
        time.sleep(0.05)
    return False


def start(server, tmp, cluster=False):
    """A running server and its port; None after a few tries."""
    for _ in range(5):
        port = free_port()
        log = open(os.path.join(tmp, "redis.log"), "ab")
        proc = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", tmp] +
            (["--cluster-enabled", "yes", "--cluster-config-file",
              "nodes-%d.conf" % port] if cluster else []),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None:
            if pong(port):
                if cluster and not make_cluster(port):
                    break
                return proc, port
            time.sleep(0.02)
        stop(proc)  # lost the port to someone else, or too slow: again
    return None, None


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    args = sys.argv[1:]
    cluster = args[:1] == ["--cluster"]
    if cluster:
        args = args[1:]
    if len(args) < 2:
        print("Bail out! usage: run_store_redis.py [--cluster] REDIS_SERVER "
              "TEST [ARGS]")
        return 2
    tmp = tempfile.mkdtemp(prefix="ams-redis.")
    proc = None
    try:
        proc, port = start(args[0], tmp, cluster)
        if proc is None:
            print("Bail out! could not start %s" % args[0])
            with open(os.path.join(tmp, "redis.log"), "rb") as f:
                for line in f.read().decode(errors="replace").splitlines():
                    print("# " + line)
            return 1
        env = dict(os.environ, AMS_TEST_STORE="redis://127.0.0.1:%d" % port)
        sys.stdout.flush()
        return subprocess.call(args[1:], env=env)
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
