/*
 * proc — see proc.h: glibc allocator tuning at start, and the process's own figures read from
 * /proc/self for the process_* series of /metrics.
 * Must not: keep state between calls, or parse anything but /proc's fixed formats.
 */
#include "proc.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void pb_proc_tune(void) { mallopt(M_MXFAST, 0); }

void pb_proc_trim(void) { (void)malloc_trim(0); }

int pb_proc_memory(pb_proc_memory_t *out) {
    long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    int n = fscanf(f, "%lld %lld", &size, &resident);
    fclose(f);
    if (n != 2) return -1;
    struct mallinfo2 mi = mallinfo2();
    out->resident_bytes = (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
    out->heap_in_use_bytes = mi.uordblks + mi.hblkhd;
    return 0;
}

/* Seconds since the epoch at boot (/proc/stat's btime), or -1. */
static double boot_time(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    char line[256];
    double bt = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "btime ", 6)) {
            bt = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return bt;
}

int pb_proc_stats(pb_proc_stats_t *out) {
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after "(comm)": comm may hold spaces and parentheses, so start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0, threads = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
     * cstime priority nice num_threads itrealvalue starttime vsize rss */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %lld %*d "
               "%llu %llu %lld",
               &utime, &stime, &threads, &start, &vsize, &rss) != 6)
        return -1;
    double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    double bt = boot_time();
    if (tick <= 0 || page <= 0 || bt < 0) return -1;
    int64_t fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *e = readdir(d); e; e = readdir(d))
            if (e->d_name[0] != '.') fds++;
        closedir(d);
        fds--; /* the directory stream's own descriptor */
    }
    struct rlimit rl;
    out->cpu_seconds = (double)(utime + stime) / tick;
    out->start_time = bt + (double)start / tick;
    out->resident_bytes = (int64_t)((double)rss * page);
    out->virtual_bytes = (int64_t)vsize;
    out->open_fds = d ? fds : -1;
    out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (int64_t)rl.rlim_cur
                       : -1;
    out->threads = threads;
    return 0;
}
