#!/usr/bin/env python3
"""test_checker.py -- `amsd -t -c CONF` on broken activity files, with the
bundled plugins: every error the checker promises (docs/operator-guide.md,
"The checker") is produced by a file that has it, and the message names
file:line and what is wrong; warnings leave the exit status 0.

Every scenario also checks that each message line of the output starts
with "FILE:LINE: " naming one of its activity files and a line inside it.
"""
import os
import re
import shutil
import subprocess
import tempfile

import harness as H

tap = H.Tap()

START = "2026-01-01T00:00:00+08:00"
END = "2099-12-31T23:59:59+08:00"
SHOW = '      { name = "show"; handler = { use = "status.show"; }; }'


def activity(aid, methods, resources=None, crowd=None, start=START,
             end=END):
    """Text of one activity; "{ id = N;" on one line, so the activity's
    line is the line of its id."""
    out = ["  { id = %d;" % aid,
           '    name = "checker %d";' % aid,
           '    start = "%s";' % start,
           '    end = "%s";' % end,
           '    timezone = "+08:00";']
    if crowd:
        out.append("    crowd = %s;" % crowd)
    if resources:
        out.append("    resources = {\n%s\n    };" % resources)
    out.append("    methods = (\n%s\n    );" % ",\n".join(methods))
    out.append("  }")
    return "\n".join(out)


def activities_file(*acts):
    return "activities = (\n%s\n);\n" % ",\n".join(acts)


def line_of(text, needle, nth=1):
    """1-based line number of the nth line containing needle."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError("%r not in the text" % needle)


class Checker:
    """A temp dir with every bundled plugin, an activities dir and an
    amsd.conf with absolute paths; run() writes the given activity files
    (and only those) and runs amsd -t."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="amsd-checker-")
        self.plugins = os.path.join(self.dir, "plugins")
        self.acts = os.path.join(self.dir, "activities")
        os.makedirs(self.plugins)
        os.makedirs(self.acts)
        for p in H.BUNDLED:
            os.symlink(os.path.join(H.PLUGIN_DIRS[p], p + ".so"),
                       os.path.join(self.plugins, p + ".so"))
        self.conf = os.path.join(self.dir, "amsd.conf")
        with open(self.conf, "w") as f:
            f.write('listen = "127.0.0.1:%d";\n'
                    'admin = "127.0.0.1:%d";\n'
                    "workers = 1;\n"
                    'store = "lmdb:%s";\n'
                    'plugins = "%s";\n'
                    'activities = "%s";\n'
                    % (H.free_port(), H.free_port(),
                       os.path.join(self.dir, "store"), self.plugins,
                       self.acts) + H.AUTH_BODY)
        self.texts = {}

    def path(self, name):
        return os.path.join(self.acts, name)

    def run(self, files):
        for old in os.listdir(self.acts):
            os.unlink(os.path.join(self.acts, old))
        self.texts = {}
        for name, text in files.items():
            with open(self.path(name), "w") as f:
                f.write(text)
            self.texts[self.path(name)] = text
        r = subprocess.run([H.AMSD, "-t", "-c", self.conf],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=120)
        return r.returncode, (r.stdout.decode(errors="replace") +
                              r.stderr.decode(errors="replace"))

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


MSG = re.compile(r"^(.+?):(\d+): (.*)$")
LOG = re.compile(r"^amsd\[\d+\] ")


def message_lines(out):
    """The checker's messages: all but amsd's own summary ("amsd: ...")
    and log lines ("amsd[PID] ...")."""
    return [l for l in out.splitlines()
            if l.strip() and not l.startswith("amsd: ") and
            not LOG.match(l) and H.AUTH_BODY_WARNING not in l]


def check_prefixes(ck, what, out):
    """Every message starts with FILE:LINE: of one of the scenario's
    activity files, LINE within it; and nothing else says "error" or
    "warning" without one (a log line of a plugin's init)."""
    bad = []
    for l in message_lines(out):
        m = MSG.match(l)
        text = ck.texts.get(m.group(1)) if m else None
        if text is None or not 1 <= int(m.group(2)) <= \
                len(text.splitlines()):
            bad.append(l)
    tap.check(message_lines(out) and not bad,
              "%s: every message starts with file:line:" % what, *bad, out)
    logs = [l for l in out.splitlines() if LOG.match(l)]
    tap.check(not logs, "%s: no error or warning printed without "
              "file:line (log lines of plugin init)" % what, *logs)


def find(out, path, lines, words, warning=False):
    """A message "path:L: [warning: ]..." with L in lines and every word."""
    if isinstance(lines, int):
        lines = (lines,)
    for l in out.splitlines():
        for n in lines:
            prefix = "%s:%d: " % (path, n)
            if not l.startswith(prefix):
                continue
            rest = l[len(prefix):]
            if rest.startswith("warning: ") != warning:
                continue
            if all(w in rest for w in words):
                return True
    return False


def describe(ck, name, lines, words, kind=""):
    """"file:line: ... words" for a test point (temp dir left out)."""
    if isinstance(lines, int):
        lines = (lines,)
    return "%s:%s: %s... %s" % (
        name, " or ".join(str(n) for n in lines), kind,
        " / ".join(w.replace(ck.acts + os.sep, "") for w in words))


def expect_errors(ck, what, files, errors, count=None):
    """errors: (file name, line or lines, words...)."""
    rc, out = ck.run(files)
    tap.check(rc not in (0, None), "%s: exits non-zero" % what,
              "rc %r" % rc, out)
    tap.check("configuration NOT ok" in out and
              "configuration ok" not in out,
              "%s: says the configuration is NOT ok" % what, out)
    for name, lines, *words in errors:
        tap.check(find(out, ck.path(name), lines, words),
                  "%s: %s" % (what, describe(ck, name, lines, words)), out)
    if count is not None:
        tap.check(re.search(r"\b%d error\(s\)" % count, out),
                  "%s: %d error(s) in all" % (what, count), out)
    check_prefixes(ck, what, out)
    return out


def expect_warnings(ck, what, files, warnings):
    """A configuration that loads with warnings."""
    rc, out = ck.run(files)
    tap.eq(rc, 0, "%s: exits 0 (warnings only)" % what)
    tap.check("configuration ok" in out, "%s: configuration ok" % what, out)
    for name, lines, *words in warnings:
        tap.check(find(out, ck.path(name), lines, words, warning=True),
                  "%s: %s" % (what, describe(ck, name, lines, words,
                                             "warning: ")), out)
    n = sum(1 for l in message_lines(out) if ": warning: " in l)
    tap.eq(n, len(warnings), "%s: %d warning(s), no more" %
           (what, len(warnings)))
    check_prefixes(ck, what, out)
    return out


# ---------------------------------------------------------------- scenarios

def shipped(ck):
    files = {}
    src = os.path.join(H.SOURCE, "conf", "activities")
    for name in sorted(os.listdir(src)):
        if name.endswith(".conf"):
            with open(os.path.join(src, name)) as f:
                files[name] = f.read()
    rc, out = ck.run(files)
    tap.eq(rc, 0, "the shipped activities pass the check")
    tap.check("configuration ok (%d activities, %d plugins)"
              % (len(files), len(H.BUNDLED)) in out,
              "... configuration ok (%d activities, %d plugins)"
              % (len(files), len(H.BUNDLED)), out)
    tap.check(not message_lines(out), "... with no message", out)


def duplicate_ids(ck):
    a = activities_file(activity(4242, [SHOW]))
    b = activities_file(activity(7, [SHOW]), activity(4242, [SHOW]))
    out = expect_errors(ck, "duplicate activity id", {
        "a.conf": a, "b.conf": b}, [
        ("b.conf", line_of(b, "id = 4242"), "id:", "activity 4242",
         "already defined at %s:%d" % (ck.path("a.conf"),
                                       line_of(a, "id = 4242")))], count=1)
    return out


def end_before_start(ck):
    text = activities_file(activity(11, [SHOW],
                                    start="2027-02-01T00:00:00+08:00",
                                    end="2027-01-01T00:00:00+08:00"))
    expect_errors(ck, "end before start", {"window.conf": text}, [
        ("window.conf", line_of(text, "end ="), "end:",
         "2027-01-01T00:00:00+08:00", "is not after start")], count=1)


def unknown_entry(ck):
    text = activities_file(activity(12, [
        '      { name = "a";\n'
        '        operations = ( { use = "coupon.nope"; } ); }',
        '      { name = "b";\n'
        '        handler = { use = "nosuch.thing"; }; }']))
    expect_errors(ck, "unknown entry", {"entry.conf": text}, [
        ("entry.conf", line_of(text, "coupon.nope"),
         'plugin "coupon" has no entry "nope"'),
        ("entry.conf", line_of(text, "nosuch.thing"),
         'unknown plugin "nosuch"')], count=2)


def bad_params(ck):
    res = ('      coupons = ( { name = "c1"; value = 1; } );\n'
           '      budgets = ( { name = "b1"; total = 1000; } );')
    text = activities_file(activity(13, [
        '      { name = "a";\n'
        '        operations = ( { use = "coupon.grant";\n'
        '          params = { coupon = "c1";\n'
        '                     count = 1000; }; } ); }',
        '      { name = "b";\n'
        '        rule = { use = "param.compare";\n'
        '          params = { field = "amount"; op = "ge";\n'
        '                     value = "high"; }; };\n'
        '        handler = { use = "status.show"; }; }',
        '      { name = "c";\n'
        '        operations = ( { use = "credit.add";\n'
        '          params = { key = "k"; budget = "b1"; }; } ); }',
        '      { name = "d";\n'
        '        handler = { use = "board.top";\n'
        '          params = { board = "x";\n'
        '                     colour = "red"; }; }; }'], resources=res))
    expect_errors(ck, "bad params", {"params.conf": text}, [
        ("params.conf", line_of(text, "count = 1000"), "coupon.grant",
         "params.count", "1000", "maximum 100"),
        ("params.conf", line_of(text, '"high"'), "param.compare",
         "params.value", "number"),
        ("params.conf", line_of(text, 'key = "k"'), "credit.add",
         "params.amount", "missing"),
        ("params.conf", line_of(text, "colour"), "board.top",
         "params.colour", "unknown")], count=4)


def undeclared_resources(ck):
    res = ('      pools = ( { name = "real";\n'
           '        prizes = ( { name = "p"; stock = 5; weight = 1.0; } );'
           ' } );\n'
           '      coupons = ( { name = "c1"; value = 1; stock = 5; } );')
    text = activities_file(activity(14, [
        '      { name = "a";\n'
        '        operations = ( { use = "pool.draw";\n'
        '          params = { pool = "nope"; }; } ); }',
        '      { name = "b";\n'
        '        operations = ( { use = "coupon.grant";\n'
        '          params = { coupon = "nocoupon"; }; } ); }',
        '      { name = "c";\n'
        '        operations = ( { use = "credit.add";\n'
        '          params = { key = "k"; amount = 1;\n'
        '                     budget = "nobudget"; }; } ); }'],
        resources=res))
    expect_errors(ck, "undeclared resources", {"res.conf": text}, [
        ("res.conf", line_of(text, '"nope"'), "pool.draw", "params.pool",
         '"nope" is not a declared pool'),
        ("res.conf", line_of(text, '"nocoupon"'), "coupon.grant",
         '"nocoupon" is not a declared coupon'),
        ("res.conf", line_of(text, '"nobudget"'), "credit.add",
         '"nobudget" is not a declared budget')], count=3)


def prizes_over_pool_stock(ck):
    res = ('      pools = ( { name = "big"; stock = 100;\n'
           '        prizes = ( { name = "a"; stock = 150; weight = 1.0; },\n'
           '                   { name = "b"; stock = 50; weight = 1.0; } );'
           ' } );')
    text = activities_file(activity(15, [
        '      { name = "draw";\n'
        '        operations = ( { use = "pool.draw";'
        ' params = { pool = "big"; }; } ); }'], resources=res))
    expect_errors(ck, "prizes over the pool's stock", {"pool.conf": text}, [
        ("pool.conf", line_of(text, 'name = "big"'), 'pool "big"',
         "promise 200", "stock of 100")], count=1)


def promises_over_stock(ck):
    res = ('      coupons = ( { name = "cash"; value = 10; stock = 100; },\n'
           '                  { name = "few"; value = 10; stock = 3; } );\n'
           '      budgets = ( { name = "fund"; total = 1000; } );')
    text = activities_file(activity(16, [
        '      { name = "grab";\n'
        '        limits = { total = 200; };\n'
        '        operations = ( { use = "coupon.grant";\n'
        '          params = { coupon = "cash"; }; } ); }',
        '      { name = "bulk";\n'
        '        operations = ( { use = "coupon.grant";\n'
        '          params = { coupon = "few"; count = 5; }; } ); }',
        '      { name = "pay1";\n'
        '        limits = { total = 30; };\n'
        '        operations = ( { use = "credit.add";\n'
        '          params = { key = "k"; amount = 20;'
        ' budget = "fund"; }; } ); }',
        '      { name = "pay2";\n'
        '        limits = { total = 10; };\n'
        '        operations = ( { use = "credit.add";\n'
        '          params = { key = "k"; amount = 50;'
        ' budget = "fund"; }; } ); }'],
        resources=res))
    expect_errors(ck, "promises over stock and budget", {"give.conf": text}, [
        ("give.conf",
         (line_of(text, "coupon.grant"), line_of(text, "total = 200")),
         'coupon kind "cash"', "configured to give 200", "stock of 100"),
        ("give.conf", line_of(text, "coupon.grant", 2), "coupon.grant",
         "takes 5 per call", '"few"', "only 3"),
        ("give.conf",
         (line_of(text, "credit.add"), line_of(text, "total = 30")),
         'budget "fund"', "configured to give 1100", "total of 1000")],
        count=3)


def probabilities(ck):
    res = ('      pools = (\n'
           '        { name = "range";\n'
           '          prizes = ( { name = "a"; stock = 1;\n'
           '                       probability = 1.5; },\n'
           '                     { name = "b"; stock = 1;\n'
           '                       probability = -0.25; } ); },\n'
           '        { name = "over";\n'
           '          prizes = ( { name = "a"; stock = 1;'
           ' probability = 0.7; },\n'
           '                     { name = "b"; stock = 1;'
           ' probability = 0.6; } ); },\n'
           '        { name = "zero";\n'
           '          prizes = ( { name = "a"; stock = 1; weight = 0.0; },\n'
           '                     { name = "b"; stock = 1;'
           ' weight = 0.0; } ); }\n'
           '      );')
    text = activities_file(activity(17, [SHOW], resources=res))
    out = expect_errors(ck, "odds", {"odds.conf": text}, [
        ("odds.conf", line_of(text, "1.5"), "probability", "1.5",
         "outside [0, 1]"),
        ("odds.conf", line_of(text, "-0.25"), "probability", "-0.25",
         "outside [0, 1]"),
        ("odds.conf", line_of(text, '"over"'), 'pool "over"', "1.3",
         "cannot be met"),
        ("odds.conf", line_of(text, '"zero"'), 'pool "zero"',
         "every prize has weight 0")], count=4)
    wrong = [l for l in out.splitlines()
             if 'pool "range"' in l and "weight 0" in l]
    tap.check(not wrong, "odds: a pool of probabilities is not said to "
              "have \"every prize has weight 0\" (its probabilities were "
              "already reported as out of range)", *wrong)


def no_operations(ck):
    text = activities_file(activity(18, [
        '      { name = "nothing"; login = true; }',
        '      { name = "emptyops";\n'
        '        operations = ( ); }']))
    expect_errors(ck, "no operations and no handler", {"empty.conf": text}, [
        ("empty.conf", line_of(text, '"nothing"'), 'method "nothing"',
         "no operations and no handler"),
        ("empty.conf", line_of(text, '"emptyops"'), 'method "emptyops"',
         "no handler")], count=2)


def init_refuses(ck):
    res = ('      pools = ( { name = "mixed";\n'
           '        prizes = ( { name = "a"; stock = 1; weight = 1.0; },\n'
           '                   { name = "b"; stock = 1;'
           ' probability = 0.5; } ); } );')
    text = activities_file(activity(19, [
        '      { name = "late";\n'
        '        rule = { use = "time.window";\n'
        '          params = { from = "25:00"; to = "26:00"; }; };\n'
        '        handler = { use = "status.show"; }; }',
        '      { name = "draw";\n'
        '        operations = ( { use = "pool.draw";\n'
        '          params = { pool = "mixed"; }; } ); }'], resources=res))
    expect_errors(ck, "init refuses its params", {"init.conf": text}, [
        ("init.conf", line_of(text, "time.window"), "time.window",
         "init failed", "bad_time"),
        ("init.conf", line_of(text, "pool.draw"), "pool.draw",
         "init failed", "mixed_odds")], count=2)


def warn_ended(ck):
    text = activities_file(activity(20, [SHOW],
                                    start="2020-01-01T00:00:00+08:00",
                                    end="2021-01-01T00:00:00+08:00"))
    expect_warnings(ck, "an activity that has ended", {"old.conf": text}, [
        ("old.conf", line_of(text, "id = 20"), "activity 20",
         "ended at 2020-12-31T16:00:00Z")])


def warn_never(ck):
    text = activities_file(activity(21, [
        '      { name = "never";\n'
        '        rule = { use = "chance.roll";\n'
        '          params = { chance = 0.0; }; };\n'
        '        handler = { use = "status.show"; }; }',
        '      { name = "notalways";\n'
        '        rule = { not = { use = "chance.roll";\n'
        '          params = { chance = 1.0; }; }; };\n'
        '        handler = { use = "status.show"; }; }',
        SHOW],
        crowd='{ use = "uid.allow";\n'
              '      params = { uids = [ ]; }; }'))
    expect_warnings(ck, "rules that can never pass", {"never.conf": text}, [
        ("never.conf", (line_of(text, "id = 21"), line_of(text, "crowd =")),
         "activity 21", "crowd", "can never pass"),
        ("never.conf", (line_of(text, '"never"'), line_of(text, "rule =")),
         'method "never"', "rule", "can never pass"),
        ("never.conf", (line_of(text, '"notalways"'),
                        line_of(text, "rule =", 2)),
         'method "notalways"', "rule", "can never pass")])


def main():
    ck = Checker()
    try:
        for name, fn in [
                ("the shipped activities", shipped),
                ("duplicate activity ids in two files", duplicate_ids),
                ("end before start", end_before_start),
                ("unknown entries", unknown_entry),
                ("bad parameters", bad_params),
                ("undeclared pool, coupon kind, budget",
                 undeclared_resources),
                ("prizes promising more than the pool's stock",
                 prizes_over_pool_stock),
                ("limits.total x per call over stock and budget",
                 promises_over_stock),
                ("probabilities and weights", probabilities),
                ("a method with no operations and no handler",
                 no_operations),
                ("init refusing its params", init_refuses),
                ("warning: ended", warn_ended),
                ("warning: never passes", warn_never)]:
            with tap.section(name):
                fn(ck)
    finally:
        ck.close()


if __name__ == "__main__":
    tap.run(main)
