#!/usr/bin/env python3
"""tile-trace.py: a synthetic ftrace trace of any size, made of copies of a real recording.

Usage: scripts/tile-trace.py IN OUT --mb MB

Writes IN's lines to OUT again and again until OUT holds MB megabytes. Each copy's timestamps are shifted to start
1 ms after the previous copy ends, so time keeps increasing; pids, pfns and fields are left as they are. The
processes of a churn recording all exit before it ends, so each copy replays like a new run of the workload (the
page cache it leaves behind makes a few `fault-alloc` divergences at the next copy's file faults). `#` lines and the
recorder's markers (one `mmdb-record` per trace, checkpoints with unique ids) are kept from the first copy only. The copies are not committed; scripts/gen-trace.sh --tile makes one.
"""
import argparse
import re
import sys

# `comm-pid [cpu] irq secs.frac:` -- the timestamp is the first `<digits>.<digits>:` after the CPU field.
TS = re.compile(rb"(\[\d+\] (?:[^ ]{4,5} +)?)(\d+)\.(\d+):")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--mb", type=int, required=True, help="the size to reach, in megabytes")
    args = ap.parse_args()
    with open(args.input, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"  # a recording cut short: end its last line, so the next copy starts a line
    stamps = [m for m in (TS.search(l) for l in lines) if m]
    if not stamps:
        print(f"tile-trace.py: {args.input} has no ftrace record lines", file=sys.stderr)
        return 2
    to_ns = lambda m: int(m.group(2)) * 10**9 + int(m.group(3).ljust(9, b"0")[:9])
    first, last = to_ns(stamps[0]), to_ns(stamps[-1])
    span = last - first + 1_000_000
    want = args.mb * 10**6
    written = 0
    copy = 0
    with open(args.output, "wb") as out:
        while written < want:
            shift = copy * span
            for line in lines:
                if copy > 0 and (line.lstrip().startswith(b"#") or b"tracing_mark_write: mmdb-" in line):
                    continue
                if shift:
                    def moved(m: re.Match) -> bytes:
                        ns = to_ns(m) + shift
                        return m.group(1) + b"%d.%06d:" % (ns // 10**9, (ns % 10**9) // 1000)
                    line = TS.sub(moved, line, count=1)
                out.write(line)
                written += len(line)
                if written >= want:
                    break
            copy += 1
    print(f"tile-trace.py: {args.output}: {written / 1e6:.0f} MB, {copy} copies of {args.input}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
