#!/usr/bin/python3
"""CPU per thread of a running process, over a window (what an idle broker's threads cost).

Reads utime + stime of every /proc/PID/task/TID/stat at the start and the end of the window and
prints each thread's CPU as % of one core, busiest first, then the sum per thread name (the
broker's loop thread is the one whose tid is the pid; its job workers are named `pb-job-<type>`,
librdkafka's threads `rdk:main`, `rdk:broker<N>`, ...). Threads that started or ended inside the
window count from their start or up to their last reading. A measurement, never an assertion.

usage: thread_cpu.py PID [SECONDS] [--seconds 60] [--top 15]
Used with bench_scale.py --hold to split an idle instance's CPU (bench/README.md, "Parked output
partitions" and "Idle cost at 1,000 bindings: loop thread, offset reader, lag sweeps").
Prints name=value lines too: thread_cpu_total_pct, thread_cpu_loop_pct, thread_cpu_<name>_pct
(names with ':' and '-' turned into '_').
"""
import argparse
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("pid", type=int)
ap.add_argument("window", type=float, nargs="?", default=None, metavar="SECONDS",
                help="the window (as --seconds)")
ap.add_argument("--seconds", type=float, default=60.0)
ap.add_argument("--top", type=int, default=15, help="threads listed one by one")
args = ap.parse_args()
if args.window is not None:
    args.seconds = args.window
HZ = os.sysconf("SC_CLK_TCK")


def sample(pid):
    """{tid: (name, ticks)} of every thread of pid now."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/stat" % (base, tid)) as f:
                s = f.read()
        except OSError:
            continue  # ended meanwhile
        # comm is in parentheses and may hold spaces: split after the last ')'.
        name = s[s.index("(") + 1:s.rindex(")")]
        fields = s[s.rindex(")") + 2:].split()
        out[int(tid)] = (name, int(fields[11]) + int(fields[12]))  # utime, stime
    return out


def main():
    a = sample(args.pid)
    t0 = time.time()
    last = dict(a)
    end = t0 + args.seconds
    while time.time() < end:  # every second, so a thread that ends still counts
        time.sleep(min(1.0, max(0.0, end - time.time())))
        try:
            now = sample(args.pid)
        except FileNotFoundError:
            print("thread_cpu: process %d ended" % args.pid, file=sys.stderr)
            break
        last.update(now)
    wall = time.time() - t0
    rows = []
    for tid, (name, ticks) in last.items():
        start = a.get(tid, (name, 0))[1]
        pct = 100.0 * (ticks - start) / HZ / wall
        if tid == args.pid:
            name = "loop(%s)" % name
        rows.append((pct, tid, name))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print("thread_cpu: pid %d, %d threads, %.1f s: %.2f %% of a core in all"
          % (args.pid, len(rows), wall, total))
    for pct, tid, name in rows[:args.top]:
        print("  %6.2f %%  %-7d %s" % (pct, tid, name))
    per = {}
    for pct, tid, name in rows:
        key = "loop" if tid == args.pid else name
        # librdkafka numbers its broker threads: one key for them all.
        if key.startswith("rdk:broker"):
            key = "rdk:broker"
        per[key] = per.get(key, 0.0) + pct
    print("by name:")
    for key, pct in sorted(per.items(), key=lambda x: -x[1]):
        print("  %6.2f %%  %s" % (pct, key))
    print("thread_cpu_total_pct=%.2f" % total)
    for key, pct in sorted(per.items()):
        print("thread_cpu_%s_pct=%.2f" % (key.replace(":", "_").replace("-", "_"), pct))


if __name__ == "__main__":
    main()
