#!/usr/bin/env python3
"""CPU per thread of a running process over a window, from /proc/PID/task/*/stat.

    bench/thread_cpu.py PID [SECONDS]

Prints one line per thread that used CPU (tid, name, % of one core over the window), then the
sums per thread name (librdkafka names its threads rdk:main, rdk:broker<N>...: several clients
share a name) and the process total. Used with bench_scale.py --hold to split an idle
instance's CPU (bench/README.md, "Parked output partitions")."""
import os
import sys
import time

def ticks(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        out[int(tid)] = (name, int(rest[11]) + int(rest[12]))  # utime + stime
    return out

def main():
    pid = int(sys.argv[1])
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    hz = os.sysconf("SC_CLK_TCK")
    a = ticks(pid)
    t0 = time.monotonic()
    time.sleep(secs)
    b = ticks(pid)
    dt = time.monotonic() - t0
    per_name = {}
    total = 0.0
    rows = []
    for tid, (name, t) in b.items():
        used = (t - a.get(tid, (name, 0))[1]) / hz / dt * 100
        total += used
        per_name[name] = per_name.get(name, 0.0) + used
        if used > 0:
            rows.append((used, tid, name))
    for used, tid, name in sorted(rows, reverse=True):
        print("thread %d %-16s %6.2f %%" % (tid, name, used))
    for name, used in sorted(per_name.items(), key=lambda x: -x[1]):
        if used > 0:
            print("name %-16s %6.2f %%" % (name, used))
    print("total %.2f %% of a core over %.0f s (%d threads)" % (total, dt, len(b)))

if __name__ == "__main__":
    main()
