#!/bin/sh
# Install what is missing, build twice (plain, and ASan+UBSan), run every
# test in both builds, then build the fuzzing tree (build-fuzz/, clang +
# libFuzzer, docs/fuzzing.md) and run each fuzz target briefly, and end
# with the line "N passed, N failed".
#
# Every check is a TAP line; scripts/tapcount.py adds them up from meson's
# test logs.  A test program that dies without reporting counts as a
# failure, and so does every sanitizer report any process wrote (workers
# included: they log to files under the report directory).
set -u
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1
status=0

scripts/build.sh build || exit 1
scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=all || exit 1
scripts/fuzz.sh --build || exit 1

reports=$(mktemp -d)
meson test -C build --no-rebuild --print-errorlogs >build/test.out 2>&1 ||
    status=1
ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0" \
UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1" \
    meson test -C build-asan --no-rebuild --print-errorlogs \
    >build-asan/test.out 2>&1 || status=1
# Each target: its seeds replayed, then a few seconds of fuzzing (the
# targets report crashes, leaks and sanitizer errors themselves, with the
# input saved; fuzz/run.py).
meson test -C build-fuzz --no-rebuild --print-errorlogs --suite fuzz \
    >build-fuzz/test.out 2>&1 || status=1

python3 scripts/tapcount.py --reports "$reports" \
    plain=build/meson-logs/testlog.json asan=build-asan/meson-logs/testlog.json \
    fuzz=build-fuzz/meson-logs/testlog.json
rc=$?
rm -rf "$reports"
[ $rc -eq 0 ] && [ $status -eq 0 ] && exit 0
exit 1
