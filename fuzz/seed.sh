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

# with_prelude TARGET FORMAT FILE...: pieces of 20 lines of each recording, each after two lines that make the
# recorded task known (its mmdb-record marker and an exec), so that the lowering acts on the piece's records.
with_prelude() {
    target=$1
    format=$2
    shift 2
    mkdir -p "$corpus/$target" "$corpus/tmp"
    for f in "$@"; do
        base=$(basename "$f")
        case $f in
        *.xz) xz -dc "$f" >"$corpus/tmp/text" ;;
        *) cat "$f" >"$corpus/tmp/text" ;;
        esac
        if [ "$format" = perf ]; then
            pid=$(grep -o 'mmdb-record pid=[0-9]*' "$f.truth" 2>/dev/null | head -1 | cut -d= -f2)
        else
            pid=$(grep -o 'mmdb-record pid=[0-9]*' "$corpus/tmp/text" | head -1 | cut -d= -f2)
        fi
        [ -n "$pid" ] || continue
        rm -f "$corpus"/tmp/piece-*
        split -l 20 -a 4 "$corpus/tmp/text" "$corpus/tmp/piece-"
        for piece in "$corpus"/tmp/piece-*; do
            out="$corpus/$target/seed-prelude-$base-$(basename "$piece")"
            if [ "$format" = perf ]; then
                printf '               x  %s/%s  [000]     0.000002000:  sched:sched_process_exec: filename=/x pid=%s old_pid=%s\n' \
                    "$pid" "$pid" "$pid" "$pid" >"$out"
                cat "$piece" >>"$out"
                printf '\0000.000001000: mmdb-record pid=%s cmd=x\n' "$pid" >>"$out"
            else
                printf '            mmdb-1       [000] ...1.     0.000001: tracing_mark_write: mmdb-record pid=%s cmd=x\n' "$pid" >"$out"
                printf '               x-%s    [000] .....     0.000002: sched_process_exec: filename=/x pid=%s old_pid=%s\n' \
                    "$pid" "$pid" "$pid" >>"$out"
                cat "$piece" >>"$out"
            fi
        done
    done
    rm -rf "$corpus/tmp"
}

rm -f "$corpus"/*/seed-*
chunks ftrace "$root"/traces/real/*.ftrace "$root"/traces/real/*.ftrace.xz "$root"/crates/mmdb-trace/tests/data/ftrace-tgid.txt \
    "$root"/crates/mmdb-trace/tests/data/trace-cmd-report.txt
with_prelude ftrace ftrace "$root"/traces/real/*.ftrace "$root"/traces/real/*.ftrace.xz
chunks perf "$root"/traces/real/*.perf.txt "$root"/crates/mmdb-trace/tests/data/perf-*.txt
with_prelude perf perf "$root"/traces/real/*.perf.txt
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
