"""test_reload_scale.py -- reloads that keep what did not change.

A snapshot names every activity file by its content (docs/operator-guide.md,
"Reload"): unchanged files are neither copied nor parsed again.  Checked
here from the outside, with 300 files and 2 workers:

- an edit in place of one file is served after the reload, the others
  unchanged;
- a refused reload leaves the generation serving with its own files: a
  worker respawned afterwards serves what the generation served, not what
  is on disk;
- a file edited back to an earlier content (whose stored copy was
  removed) and a second in-place edit of the same size right after a
  reload are both served;
- a removed file's activity is gone, a new file's is there.

And with 10,000 files: two files defining the same id are reported by
`amsd -t` and by a refused reload, each naming both files (the operator's,
not the snapshot's) with their lines.
"""
import os
import signal
import subprocess
import time

import harness as H

tap = H.Tap()

BASE = 1000  # activity ids: BASE + file number


def act_file(i, value):
    return H.activities_file(H.activity(BASE + i, [
        '{ name = "m"; handler = { use = "testplug.stateful"; '
        'params = { value = %d; }; }; }' % value], name="f%d" % i))


def write_in_place(path, text):
    """Rewrite path in place (same inode), as `cat > file` does."""
    with open(path, "r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()


def reload(a):
    return a.request("POST", "/admin/reload", b"",
                     conn=H.http.client.HTTPConnection(
                         "127.0.0.1", a.admin_port, timeout=120))


def values(a, i, n=16):
    """The value activity BASE+i answers, over n fresh connections (so
    both workers answer); a set."""
    got = set()
    for k in range(n):
        conn = a.connect(timeout=30)
        try:
            st, js, _ = a.post(BASE + i, "m", {"request_id": "v-%d-%d-%f" % (
                i, k, time.monotonic()), "uid": "u"}, conn=conn)
        finally:
            conn.close()
        got.add(((js or {}).get("data") or {}).get("value")
                if st == 200 else st)
    return got


def test_snapshots(a):
    path = os.path.join(a.activities_dir, "f0005.conf")
    tap.eq(values(a, 5), {5}, "at start: activity 5 has its value")

    write_in_place(path, act_file(5, 555))
    st, js, raw, _ = reload(a)
    tap.eq(st, 200, "reload after an edit in place of one of 300 files")
    tap.eq(values(a, 5), {555}, "the edited file is served by every worker")
    tap.eq(values(a, 6), {6}, "an unchanged one still serves")

    broken = os.path.join(a.activities_dir, "broken.conf")
    write_in_place(path, act_file(5, 777))
    with open(broken, "w") as f:
        f.write("activities = ( { oops\n")
    st, js, raw, _ = reload(a)
    errors = " | ".join((js or {}).get("errors") or [])
    tap.check(st == 422 and broken in errors and "/amsd-run-" not in errors,
              "a broken file: refused, naming the operator's file", errors)
    tap.eq(values(a, 5), {555}, "the generation serving keeps its content")
    pids = a.worker_pids()
    os.kill(pids[0], signal.SIGKILL)
    after = a.wait_workers(2, exclude=pids[:1])
    tap.check(len(after) == 2 and pids[0] not in after,
              "a worker killed after the refused reload is respawned",
              repr((pids, after)))
    H.wait_until(lambda: a.healthz()[1].get("workers", {}).get("ready") == 2,
                 15)
    tap.eq(values(a, 5), {555},
           "the respawned worker serves the snapshot, not the file on disk")
    os.remove(broken)

    st, _, _, _ = reload(a)
    tap.eq(st, 200, "the broken file gone: reload")
    tap.eq(values(a, 5), {777}, "the new content is served")
    pids = a.worker_pids()
    os.kill(pids[1], signal.SIGKILL)
    a.wait_workers(2, exclude=pids[1:2])
    H.wait_until(lambda: a.healthz()[1].get("workers", {}).get("ready") == 2,
                 15)
    tap.eq(values(a, 5), {777}, "and by a worker respawned after it")

    # Back to the first content: its stored copy went with the snapshots
    # that named it.
    write_in_place(path, act_file(5, 5))
    st, _, _, _ = reload(a)
    tap.eq((st, values(a, 5)), (200, {5}),
           "a file back to an earlier content is served")
    # At once, the same size: its stat may look like the last one's but
    # for the change time; a stat this recent is not trusted anyway.
    write_in_place(path, act_file(5, 6))
    st, _, _, _ = reload(a)
    tap.eq((st, values(a, 5)), (200, {6}),
           "an edit of the same size right after a reload is served")

    os.remove(os.path.join(a.activities_dir, "f0010.conf"))
    with open(os.path.join(a.activities_dir, "new.conf"), "w") as f:
        f.write(act_file(400, 40))
    st, _, _, _ = reload(a)
    tap.eq(st, 200, "reload after removing one file and adding another")
    tap.eq(values(a, 10, 4), {404}, "the removed file's activity is gone")
    tap.eq(values(a, 400, 4), {40}, "the new file's activity serves")


def test_duplicates():
    n = 10000
    a = H.Amsd(tap, {}, workers=1, plugins=("testplug",),
               lmdb={"sync": "none"}, name="amsd-10k")
    with a:
        for i in range(n):
            with open(os.path.join(a.activities_dir, "f%05d.conf" % i),
                      "w") as f:
                f.write(act_file(i, i % 1000))
        first = os.path.join(a.activities_dir, "f00017.conf")
        last = os.path.join(a.activities_dir, "f09999.conf")
        with open(last, "w") as f:
            f.write(act_file(17, 1))
        want = "%s:2: id: activity %d is already defined at %s:2" % (
            last, BASE + 17, first)
        t = time.monotonic()
        r = subprocess.run([H.AMSD, "-t", "-c", a.conf_path],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=120)
        tap.diag("amsd -t with %d files: %.2f s" % (n, time.monotonic() - t))
        tap.check(r.returncode == 1 and want in r.stderr,
                  "amsd -t: the duplicate id among 10,000 files names both "
                  "file:line", r.stderr[-2000:])
        with open(last, "w") as f:
            f.write(act_file(9999, 1))
        a.start(timeout=120)
        tap.eq(values(a, 17, 2), {17}, "10,000 files: serving")
        with open(last, "w") as f:
            f.write(act_file(17, 1))
        st, js, raw, _ = reload(a)
        errors = (js or {}).get("errors") or []
        tap.check(st == 422 and want in errors,
                  "a reload bringing the duplicate: refused, naming both "
                  "of the operator's files with their lines", repr(errors))
        with open(last, "w") as f:
            f.write(act_file(9999, 2))
        t = time.monotonic()
        st, js, raw, _ = reload(a)
        tap.diag("reload after one edit among %d files: %.0f ms"
                 % (n, (time.monotonic() - t) * 1000))
        tap.eq(st, 200, "fixed: the next reload is accepted")
        tap.eq(values(a, 9999, 2), {2}, "and serves the edited file")


def main():
    a = H.Amsd(tap, {"f%04d.conf" % i: act_file(i, i) for i in range(300)},
               workers=2, plugins=("testplug",), lmdb={"sync": "none"})
    with a:
        a.start()
        with tap.section("snapshots across reloads"):
            test_snapshots(a)
    with tap.section("duplicate ids among 10,000 files"):
        test_duplicates()


tap.run(main)
