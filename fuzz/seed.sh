#!/bin/sh
# Builds the seed corpora of the fuzz targets from the repository's traces (fuzz/corpus/<target>/; not kept in the
# repository). Run from anywhere; it replaces corpus/<target>/seed-* and leaves what the fuzzer added alone.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
corpus=$here/corpus

# chunks TARGET FILE...: each file cut into pieces of 30 lines (under 8 KiB, libFuzzer's -max_len here).
chunks() {
    target=$1
    shift
    mkdir -p "$corpus/$target"
    for f in "$@"; do
        base=$(basename "$f")
        case $f in
        *.xz) xz -dc "$f" ;;
        *) cat "$f" ;;
        esac | split -l 30 -a 4 - "$corpus/$target/seed-$base-"
    done
}

rm -f "$corpus"/*/seed-*
chunks ftrace "$root"/traces/real/*.ftrace "$root"/traces/real/*.ftrace.xz "$root"/crates/mmdb-trace/tests/data/ftrace-tgid.txt \
    "$root"/crates/mmdb-trace/tests/data/trace-cmd-report.txt
chunks perf "$root"/traces/real/*.perf.txt "$root"/crates/mmdb-trace/tests/data/perf-*.txt
chunks mm_events "$root"/traces/*.events "$root"/traces/err/*.events "$root"/book/src/examples/*.events
chunks truth "$root"/traces/real/*.truth "$root"/crates/mmdb-trace/tests/data/truth-excerpt.txt
chunks repl_command "$root"/book/src/examples/*.mmdb
mkdir -p "$corpus/model_ops"
# A few fixed byte strings: the fuzzer grows them.
printf '\001\001\001\000\001\002\003\004\005\006\007\010\011\012' > "$corpus/model_ops/seed-ops"
printf '\000\000\000\000\020\020\020\020\200\200\001\001' > "$corpus/model_ops/seed-zeros"
for d in "$corpus"/*; do
    echo "$(basename "$d"): $(ls "$d" | wc -l) files"
done
