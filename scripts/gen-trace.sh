#!/bin/sh
# gen-trace.sh: records the large real traces the benchmarks and `mmdb bench` measure. Not committed: regenerate
# them on demand (root only; `mmdb record` needs tracefs).
#
# Usage: scripts/gen-trace.sh [-s SECONDS] [-o DIR] [-b KB] [--perf] [--tile MB]
#
#   -s SECONDS  how long the churn workload runs (default 5; about 160 MB of ftrace text per second here)
#   -o DIR      where the traces go (default target/traces)
#   -b KB       the per-CPU ring buffer of the recording (default 65536); smaller buffers lose more events, and
#               the lost events stay in the trace as `CPU:N [LOST M EVENTS]`, as they do in real captures
#   --perf      also record the same workload with `mmdb record --perf` (perf script text)
#   --tile MB   also write churn-tiled.ftrace: the ftrace recording repeated, timestamps shifted, until it
#               holds MB megabytes (for sizes beyond what a recording gives; see scripts/tile-trace.py)
#
# The workload is crates/mmdb-workloads/src/bin/churn.rs: fork, copy-on-write, MADV_FREE, MADV_DONTNEED, munmap
# and threads, in rounds, until the time is up.
set -eu
secs=5 dir=target/traces buffer=65536 perf=0 tile=0
while [ $# -gt 0 ]; do
    case "$1" in
        -s) secs=$2; shift 2 ;;
        -o) dir=$2; shift 2 ;;
        -b) buffer=$2; shift 2 ;;
        --perf) perf=1; shift ;;
        --tile) tile=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gen-trace.sh: unknown argument $1 (--help explains)" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -p mmdb-cli -p mmdb-workloads
mkdir -p "$dir"
out="$dir/churn-${secs}s.ftrace"
target/release/mmdb record --buffer-size-kb "$buffer" -o "$out" -- target/release/churn "$secs"
ls -l "$out"
if [ "$perf" = 1 ]; then
    target/release/mmdb record --perf -o "$dir/churn-${secs}s.perf.txt" -- target/release/churn "$secs"
    ls -l "$dir/churn-${secs}s.perf.txt"
fi
if [ "$tile" != 0 ]; then
    python3 scripts/tile-trace.py "$out" "$dir/churn-tiled.ftrace" --mb "$tile"
    ls -l "$dir/churn-tiled.ftrace"
fi
