#!/usr/bin/env python3
"""check_format.py -- every C file of the tree follows .clang-format.

    check_format.py SOURCE_ROOT [CLANG_FORMAT]

One TAP line per .c/.h file under the project's source folders (not build
trees, not generated files): "ok" when clang-format would change nothing,
"not ok" with the first lines of the difference otherwise.  To fix:
clang-format -i FILE.
"""
import difflib
import os
import subprocess
import sys

FOLDERS = ("bench", "build-aux", "core", "fuzz", "include", "plugins", "sdk",
           "tests", "tools")


def sources(root):
    for top in FOLDERS:
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(x for x in dirs if not x.startswith("build"))
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


def main():
    root = sys.argv[1]
    tool = sys.argv[2] if len(sys.argv) > 2 else "clang-format"
    files = list(sources(root))
    print(f"1..{len(files)}")
    bad = 0
    for i, path in enumerate(files, 1):
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            out = subprocess.run([tool, f"--style=file:{root}/.clang-format",
                                  "--assume-filename=" + path],
                                 input=text, capture_output=True, text=True,
                                 check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"not ok {i} - {rel}: clang-format failed: {e}")
            bad += 1
            continue
        if out == text:
            print(f"ok {i} - {rel} is formatted")
            continue
        bad += 1
        print(f"not ok {i} - {rel} is not formatted (clang-format -i {rel})")
        diff = difflib.unified_diff(text.splitlines(), out.splitlines(),
                                    rel, rel + " (formatted)", lineterm="")
        for line in list(diff)[:12]:
            print("#   " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
