#!/bin/sh
# Fuzz one target for a long run (docs/fuzzing.md):
#
#   scripts/fuzz.sh TARGET [SECONDS [LIBFUZZER-FLAGS...]]
#   scripts/fuzz.sh --list
#   scripts/fuzz.sh --build      (only set up and build build-fuzz/)
#
# Builds build-fuzz/ (clang, libFuzzer, ASan+UBSan) if needed, then runs
# build-fuzz/fuzz/fuzz_TARGET for SECONDS (default 600; 0: until stopped)
# from the committed seeds, in one process per core (libFuzzer -fork).  New inputs go to
# build-fuzz/fuzz/work/TARGET/long-corpus/ (kept between runs); a crash is
# saved under build-fuzz/fuzz/work/TARGET/artifacts/ and its path printed.
set -eu
cd "$(dirname "$0")/.."
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
    CC=clang scripts/build.sh "$dir" -Dfuzz=true -Dtests=false \
        -Dbenches=false -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all
else
    ninja -C "$dir" >&2
fi
case "${1:-}" in
--build) exit 0 ;;
--list | "")
    for f in "$dir"/fuzz/fuzz_*; do
        [ -f "$f" ] && [ -x "$f" ] && printf '%s\n' "${f##*/fuzz_}"
    done
    [ -n "${1:-}" ] || {
        echo "usage: scripts/fuzz.sh TARGET [SECONDS [LIBFUZZER-FLAGS...]]" \
            "| --list | --build (targets above)" >&2
        exit 2
    }
    exit 0 ;;
esac
t=$1
secs=${2:-600}
[ $# -ge 2 ] && shift 2 || shift 1
exe=$dir/fuzz/fuzz_$t
[ -x "$exe" ] || { echo "fuzz.sh: no target $t (--list)" >&2; exit 2; }
work=$dir/fuzz/work/$t
mkdir -p "$work/long-corpus" "$work/artifacts" "$work/cwd"
dict=""
[ -f "fuzz/dict/$t.dict" ] && dict="-dict=$PWD/fuzz/dict/$t.dict"
jobs=$(nproc)
echo "fuzz.sh: $t for ${secs}s on $jobs jobs; new inputs in $work/long-corpus," \
     "crashes in $work/artifacts" >&2
top=$PWD
cd "$work/cwd"
# shellcheck disable=SC2086
AMS_PLUGINS="$top/$dir/plugins" \
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
LSAN_OPTIONS=suppressions="$top/fuzz/lsan.supp" \
    "$top/$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$top/$work/artifacts/" $dict -fork="$jobs" \
    "$@" "$top/$work/long-corpus" "$top/fuzz/corpus/$t" \
    </dev/null
