#!/usr/bin/env python3
"""test_check.py -- `amsd -t -c FILE`: the configuration check.

A good configuration prints "configuration ok" and exits 0; a broken one
exits non-zero and prints every error as file:line: message.  Also: amsd
refuses to serve a broken configuration, and a plugin whose init fails
stops the start with the reason.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import harness as H

tap = H.Tap()

GOOD_ACTIVITY = H.activities_file(H.activity(1, [
    '{ name = "echo"; handler = { use = "testplug.echo"; }; }',
    '{ name = "earn"; login = true;\n'
    '      rule = { use = "param.compare";'
    ' params = { field = "amount"; op = "ge"; value = 100.0; }; };\n'
    '      operations = ( { use = "counter.add";'
    ' params = { key = "points"; max = 100; }; } ); }',
]))


class Setup:
    """A temp dir with plugins/, activities/ and amsd.conf."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="amsd-check-")
        self.plugins = os.path.join(self.dir, "plugins")
        self.acts = os.path.join(self.dir, "activities")
        os.makedirs(self.plugins)
        os.makedirs(self.acts)
        for p in ("testplug", "counter", "param"):
            os.symlink(os.path.join(H.PLUGIN_DIRS[p], p + ".so"),
                       os.path.join(self.plugins, p + ".so"))
        self.conf = os.path.join(self.dir, "amsd.conf")

    def write_conf(self, text=None, extra="", workers=1):
        if text is None:
            text = ('listen = "127.0.0.1:%d";\n'
                    'admin = "127.0.0.1:%d";\n'
                    'store = "lmdb:%s/store";\n'
                    'plugins = "plugins";\n'
                    'activities = "activities";\n'
                    % (H.free_port(), H.free_port(), self.dir))
            text += H.AUTH_BODY
            if workers is not None:
                text += "workers = %d;\n" % workers
            text += extra
        with open(self.conf, "w") as f:
            f.write(text)
        return self.conf

    def write_activity(self, name, text):
        for old in os.listdir(self.acts):
            os.unlink(os.path.join(self.acts, old))
        path = os.path.join(self.acts, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self):
        r = subprocess.run([H.AMSD, "-t", "-c", self.conf],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        return r.returncode, r.stdout.decode(errors="replace"), \
            r.stderr.decode(errors="replace")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def line_of(text, needle, nth=1):
    """1-based line number of the nth line containing needle."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError("%r not in the text" % needle)


def has_error(out, path, line, *words):
    """A line "path:line: ..." that contains every word."""
    prefix = "%s:%d: " % (path, line)
    return any(l.startswith(prefix) and all(w in l for w in words)
               for l in out.splitlines())


def expect_errors(s, what, errors, count=None):
    """Run the check; errors is a list of (path, line, words...)."""
    rc, out, err = s.check()
    both = out + err
    tap.check(rc != 0, "%s: exits non-zero" % what, "rc %r" % rc, both)
    tap.check("configuration ok" not in both,
              "%s: does not claim the configuration is ok" % what)
    for path, line, *words in errors:
        tap.check(has_error(both, path, line, *words),
                  "%s: prints %s:%d: ... %s" %
                  (what, os.path.basename(path), line, " ".join(words)),
                  both)
    if count is not None:
        tap.check(re.search(r"\b%d error\(s\)" % count, both),
                  "%s: counts %d error(s)" % (what, count), both)
    return both


def main():
    s = Setup()
    try:
        with tap.section("good configuration"):
            s.write_conf()
            s.write_activity("good.conf", GOOD_ACTIVITY)
            rc, out, err = s.check()
            tap.eq(rc, 0, "amsd -t on a good configuration exits 0")
            tap.check("configuration ok" in out,
                      "... and prints \"configuration ok\"", out, err)
            tap.check("1 activities" in out and "3 plugins" in out,
                      "... with what it checked (1 activity, 3 plugins)",
                      out)
            tap.check(not os.path.exists(os.path.join(s.dir, "store")),
                      "the check does not create the store")

        with tap.section("syntax error in amsd.conf"):
            text = ('listen = "127.0.0.1:1";\n'
                    "workers = 1;\n"
                    "http = { max_body = 100 ; ;\n"
                    'admin = "127.0.0.1:2";\n')
            s.write_conf(text)
            expect_errors(s, "syntax error", [(s.conf, 3, "syntax error")])

        with tap.section("unknown setting in amsd.conf"):
            conf = s.write_conf(extra="\n# comment\nbogus_setting = 3;\n"
                                      "http = { timeout_ms = 1000;"
                                      " max_bodyy = 5; };\n")
            text = open(conf).read()
            expect_errors(s, "unknown setting", [
                (conf, line_of(text, "bogus_setting"), '"bogus_setting"',
                 "unknown"),
                (conf, line_of(text, "max_bodyy"), '"max_bodyy"', "unknown"),
            ], count=2)

        with tap.section("bad values in amsd.conf"):
            conf = s.write_conf(workers=None,
                                extra='workers = "many";\n'
                                      "http = { timeout_ms = 5; };\n"
                                      'lmdb = { sync = "sometimes"; };\n')
            text = open(conf).read()
            expect_errors(s, "bad values", [
                (conf, line_of(text, '"many"'), "workers", "integer"),
                (conf, line_of(text, "timeout_ms"), "timeout_ms", "5"),
                (conf, line_of(text, "sometimes"), "sync", "sometimes"),
            ], count=3)

        s.write_conf()
        with tap.section("unknown plugin entry in an activity"):
            text = H.activities_file(H.activity(7, [
                '{ name = "a";\n'
                '      handler = { use = "nosuch.thing"; }; }',
                '{ name = "b";\n'
                '      handler = { use = "testplug.nope"; }; }',
            ]))
            path = s.write_activity("plugins.conf", text)
            expect_errors(s, "unknown plugin entry", [
                (path, line_of(text, "nosuch.thing"), '"nosuch"'),
                (path, line_of(text, "testplug.nope"), '"testplug"',
                 '"nope"'),
            ], count=2)

        with tap.section("an entry of the wrong kind"):
            text = H.activities_file(H.activity(7, [
                '{ name = "a";\n'
                '      handler = { use = "counter.add";'
                ' params = { key = "k"; max = 1; }; }; }']))
            path = s.write_activity("kind.conf", text)
            expect_errors(s, "wrong kind", [
                (path, line_of(text, "counter.add"), '"counter.add"',
                 "operation", "handler")])

        with tap.section("bad params"):
            text = H.activities_file(H.activity(7, [
                '{ name = "a";\n'
                '      operations = ( { use = "counter.add";\n'
                '        params = { key = "k";\n'
                '                   max = "lots"; }; } ); }']))
            path = s.write_activity("params.conf", text)
            expect_errors(s, "param of the wrong type", [
                (path, line_of(text, '"lots"'), "counter.add", "max",
                 "integer")], count=1)

            text = H.activities_file(H.activity(7, [
                '{ name = "a";\n'
                '      operations = ( { use = "testplug.count";\n'
                '        params = { key = "k"; max = 5;\n'
                '                   colour = "red"; }; } ); }',
                '{ name = "b";\n'
                '      operations = ( { use = "counter.add";\n'
                '        params = { key = "k"; }; } ); }',
                '{ name = "c";\n'
                '      handler = { use = "testplug.sleep";\n'
                '        params = { ms = 999999; }; }; }']))
            path = s.write_activity("params2.conf", text)
            expect_errors(s, "unknown, missing and out-of-range params", [
                (path, line_of(text, "colour"), "colour", "unknown"),
                (path, line_of(text, 'key = "k"; }'), "counter.add", "max",
                 "missing"),
                (path, line_of(text, "999999"), "testplug.sleep", "ms",
                 "maximum"),
            ], count=3)

        with tap.section("two errors in one file"):
            text = H.activities_file(H.activity(7, [
                '{ name = "a";\n'
                '      handler = { use = "testplug.echo"; }; color = 1; }',
                '{ name = "b";\n'
                '      handler = { use = "testplug.sleep";'
                ' params = { ms = "slow"; }; }; }']))
            path = s.write_activity("two.conf", text)
            expect_errors(s, "two errors", [
                (path, line_of(text, "color"), '"color"'),
                (path, line_of(text, '"slow"'), "ms", "integer"),
            ], count=2)

        with tap.section("errors in amsd.conf and an activity together"):
            conf = s.write_conf(extra="nonsense = true;\n")
            ctext = open(conf).read()
            text = H.activities_file(H.activity(7, [
                '{ name = "a";\n'
                '      handler = { use = "nosuch.thing"; }; }']))
            path = s.write_activity("mixed.conf", text)
            expect_errors(s, "errors in two files", [
                (conf, line_of(ctext, "nonsense"), '"nonsense"'),
                (path, line_of(text, "nosuch"), '"nosuch"'),
            ], count=2)
            s.write_conf()

        with tap.section("syntax error in an activity file"):
            text = ("activities = (\n  { id = 1;\n    name = \"x\"\n"
                    "    start = ;\n  }\n);\n")
            path = s.write_activity("broken.conf", text)
            rc, out, err = s.check()
            tap.check(rc != 0 and re.search(
                re.escape(path) + r":\d+: syntax error", out + err),
                      "activity syntax error: file:line: syntax error",
                      out + err)

        with tap.section("a broken configuration is not served"):
            s.write_conf(extra="bogus_setting = 3;\n")
            s.write_activity("good.conf", GOOD_ACTIVITY)
            r = subprocess.run([H.AMSD, "-c", s.conf],
                               stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=60)
            err = r.stderr.decode(errors="replace")
            tap.check(r.returncode != 0 and '"bogus_setting"' in err,
                      "amsd -c with an unknown setting exits non-zero "
                      "naming it", "rc %r" % r.returncode, err)

        with tap.section("a plugin whose init fails stops the start"):
            s.write_conf()
            text = H.activities_file(H.activity(7, [
                '{ name = "a";\n'
                '      handler = { use = "testplug.stateful";'
                ' params = { value = 3; fail_init = true; }; }; }']))
            path = s.write_activity("init.conf", text)
            rc, out, err = s.check()
            tap.check(rc != 0 and has_error(out + err, path,
                                            line_of(text, "stateful"),
                                            "testplug.stateful",
                                            "asked_to_fail"),
                      "amsd -t reports the failed init with file:line and "
                      "the reason", out + err)
            t0 = time.monotonic()
            try:
                r = subprocess.run([H.AMSD, "-c", s.conf],
                                   stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=30)
                rc, err = r.returncode, r.stderr.decode(errors="replace")
            except subprocess.TimeoutExpired as e:
                rc, err = None, repr(e)
            tap.check(rc not in (0, None) and "asked_to_fail" in err,
                      "amsd -c exits non-zero instead of respawning a "
                      "worker that cannot start (%.1f s)"
                      % (time.monotonic() - t0), "rc %r" % rc, err[-3000:])
    finally:
        s.close()


if __name__ == "__main__":
    tap.run(main)
