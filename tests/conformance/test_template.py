#!/usr/bin/env python3
"""The SDK installs, and the template builds out of tree against it.

1. `meson install --destdir` of this build into a temporary directory (no
   root, nothing outside it is touched); the .pc file is relocatable
   (${pcfiledir}), so PKG_CONFIG_PATH is all a consumer needs;
2. the installed header, ams-plugin.pc, ams-conform, docs and template;
3. `pkg-config --cflags ams-plugin` points at the installed header;
4. `cc -shared -fPIC $(pkg-config --cflags ams-plugin) my.c -o my.so`
   builds the template's source, and the installed ams-conform passes it;
5. the installed template, copied elsewhere, configures, builds and runs
   its own tests (ams-conform through meson test).
Prints TAP.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

BUILD = os.environ["AMS_BUILD"]
TMP = os.environ.get("AMS_TEST_TMP") or tempfile.gettempdir()

results = []


def check(ok, what, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {what}")
    if not ok and detail:
        for line in detail.splitlines()[-30:]:
            print("#   " + line.replace("#", "No."))
    sys.stdout.flush()
    return ok


def sh(cmd, env=None, cwd=None, timeout=240):
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, errors="replace",
                       timeout=timeout, shell=isinstance(cmd, str))
    return p.returncode, p.stdout


def options():
    rc, out = sh(["meson", "introspect", "--buildoptions", BUILD])
    opts = {o["name"]: o["value"] for o in json.loads(out)} if rc == 0 else {}
    return {k: opts.get(k, d) for k, d in (
        ("prefix", "/usr/local"), ("bindir", "bin"),
        ("includedir", "include"), ("datadir", "share"))}


def ams_conform_passes(out):
    oks = [l for l in out.splitlines() if l.startswith("ok ")]
    bad = [l for l in out.splitlines() if l.startswith("not ok ")]
    return len(oks), bad


def main():
    print("1..10")
    os.makedirs(TMP, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sdk-", dir=TMP)
    dest = os.path.join(tmp, "dest")
    rc, out = sh(["meson", "install", "-C", BUILD, "--no-rebuild",
                  "--destdir", dest])
    if not check(rc == 0, f"meson install --destdir {dest}", out):
        return 0
    o = options()
    root = dest + o["prefix"]
    d = lambda k: os.path.join(root, o[k])  # noqa: E731
    pcdir = os.path.join(d("datadir"), "pkgconfig")
    want = [os.path.join(d("includedir"), "ams", "ams.h"),
            os.path.join(pcdir, "ams-plugin.pc"),
            os.path.join(d("bindir"), "ams-conform"),
            os.path.join(d("datadir"), "doc", "amsd", "plugin-guide.md"),
            os.path.join(d("datadir"), "amsd", "sdk", "template",
                         "meson.build"),
            os.path.join(d("datadir"), "amsd", "sdk", "template",
                         "my_plugin.c")]
    missing = [w for w in want if not os.path.exists(w)]
    check(not missing, "installed: <ams/ams.h>, ams-plugin.pc, ams-conform, "
          "the plugin guide, the template", "missing: " + ", ".join(missing))

    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = pcdir
    env.pop("PKG_CONFIG_SYSROOT_DIR", None)
    rc1, cflags = sh(["pkg-config", "--cflags", "ams-plugin"], env=env)
    rc2, abi = sh(["pkg-config", "--variable=pluginabi", "ams-plugin"], env=env)
    rc3, conform = sh(["pkg-config", "--variable=conform", "ams-plugin"],
                      env=env)
    rc4, tpl = sh(["pkg-config", "--variable=templatedir", "ams-plugin"],
                  env=env)
    conform, tpl, abi = conform.strip(), tpl.strip(), abi.strip()
    inc = cflags.strip()[2:] if cflags.strip().startswith("-I") else ""
    check(rc1 == rc2 == rc3 == rc4 == 0 and inc and
          os.path.samefile(os.path.join(inc, "ams", "ams.h"), want[0]) and
          os.access(conform, os.X_OK) and os.path.isdir(tpl) and
          abi.count(".") == 1,
          f"pkg-config: --cflags {cflags.strip()}, pluginabi {abi}, "
          "conform and templatedir point into the install",
          f"cflags={cflags!r} abi={abi!r} conform={conform!r} tpl={tpl!r}")

    # The one-liner of the SDK promise, on the template's source.
    one = os.path.join(tmp, "oneliner")
    os.makedirs(one)
    shutil.copy(os.path.join(tpl or want[5], "my_plugin.c"),
                os.path.join(one, "my.c"))
    rc, out = sh("cc -shared -fPIC $(pkg-config --cflags ams-plugin) my.c "
                 "-o my.so", env=env, cwd=one)
    check(rc == 0 and os.path.exists(os.path.join(one, "my.so")),
          "cc -shared -fPIC $(pkg-config --cflags ams-plugin) my.c -o my.so",
          out)
    # amsd wants NAME.so to be the manifest's name: build it once more so.
    shutil.copy(os.path.join(one, "my.c"), os.path.join(one, "my_plugin.c"))
    rc, out = sh("cc -shared -fPIC $(pkg-config --cflags ams-plugin) "
                 "my_plugin.c -o my_plugin.so && $(pkg-config "
                 "--variable=conform ams-plugin) --tap --request "
                 f"{os.path.join(tpl, 'tests', 'request.json')} my_plugin.so",
                 env=env, cwd=one)
    n, bad = ams_conform_passes(out)
    check(rc == 0 and n > 0 and not bad,
          f"the installed ams-conform passes it ({n} checks)", out)

    # AMS_PLUGIN_FLAGS compares the lengths of FLAGS and ENTRIES when the
    # plugin is built: the host cannot, and would read a short FLAGS past
    # its end.  The template (above) shows the matching case compiles.
    short = os.path.join(one, "short_flags.c")
    with open(short, "w") as f:
        f.write('#include <ams/ams.h>\n'
                'static const ams_entry entries[] = {\n'
                '    {"a", AMS_RULE, "a", NULL, NULL, NULL, NULL, NULL, NULL},\n'
                '    {"b", AMS_RULE, "a", NULL, NULL, NULL, NULL, NULL, NULL},\n'
                '    AMS_ENTRIES_END};\n'
                'static const uint32_t flags[] = {AMS_EF_READONLY};\n'
                'AMS_PLUGIN_FLAGS("short_flags", "1.0.0", entries, flags);\n'
                'AMS_ENTRY(a) { return AMS_OK; }\n')
    rc, out = sh("cc -c -fPIC $(pkg-config --cflags ams-plugin) "
                 "short_flags.c -o short_flags.o", env=env, cwd=one)
    check(rc != 0 and "one value per entry" in out,
          "AMS_PLUGIN_FLAGS with fewer flags than entries does not compile, "
          "and says why", out)

    # The template, out of tree, against the installed SDK only.
    src = os.path.join(tmp, "my_plugin")
    bld = os.path.join(tmp, "my_plugin-build")
    shutil.copytree(tpl, src)
    rc, out = sh(["meson", "setup", bld, src], env=env)
    if not check(rc == 0, "template: meson setup (out of tree, "
                 "dependency('ams-plugin') from the install)", out):
        return 0
    rc, out = sh(["meson", "compile", "-C", bld], env=env)
    check(rc == 0 and os.path.exists(os.path.join(bld, "my_plugin.so")),
          "template: meson compile builds my_plugin.so", out)
    rc, out = sh(["meson", "test", "-C", bld, "--print-errorlogs"], env=env)
    n, bad = 0, []
    try:
        with open(os.path.join(bld, "meson-logs", "testlog.json")) as f:
            for line in f:
                t = json.loads(line)
                k, b = ams_conform_passes(t.get("stdout") or "")
                n, bad = n + k, bad + b
    except OSError as e:
        out += f"\n{e}"
    check(rc == 0 and n > 0 and not bad,
          f"template: meson test runs ams-conform, {n} checks pass",
          out + "\n" + "\n".join(bad))
    rc, out = sh(["pkg-config", "--modversion", "ams-plugin"], env=env)
    check(rc == 0 and out.strip() != "",
          f"pkg-config --modversion ams-plugin: {out.strip()}", out)
    if all(results):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"# kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
