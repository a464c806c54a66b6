/*
 * proc — process-wide settings of a long-running portbroker process (the daemon and the
 * benchmarks that stand in for it).
 *
 * Owns: the C library's allocator tuning and reading the process's own figures from /proc.
 * Must not: hold state, or be called from library code (tests and tools keep the defaults).
 */
#ifndef PB_PROC_H
#define PB_PROC_H

#include <stddef.h>
#include <stdint.h>

/*
 * Call first thing in main(), before threads start. Turns glibc's fastbins off (M_MXFAST=0):
 * the data plane allocates and frees small blocks in batches (librdkafka: a block per message
 * header, thousands in flight, freed in delivery-report batches), which overflow the per-thread
 * cache into fastbins that every larger allocation then consolidates; without fastbins those
 * frees coalesce at once. Measured with bench_route: relay-thread CPU per record -30% for both
 * the bare librdkafka relay and routing. Not thread-safe (process start only).
 */
void pb_proc_tune(void);

/*
 * Give the memory freed inside malloc's arenas back to the system (malloc_trim). Bursts (the
 * registry replay, a reconcile of a thousand bindings, the OpenLineage jobs rebuilt) free tens of
 * MB in the middle of the heap, which glibc keeps: at 1,000 bindings RSS was 124 MB with 35 MB of
 * it free and unused. Takes a few ms with a 100 MB heap; any thread.
 */
void pb_proc_trim(void);

/* Resident memory and what of malloc's heap is in use: their difference, grown since the last
 * trim, is what a pb_proc_trim could give back. */
typedef struct pb_proc_memory {
    size_t resident_bytes;    /* /proc/self/statm's resident pages */
    size_t heap_in_use_bytes; /* mallinfo2: uordblks + hblkhd (allocated, arenas and mmapped) */
} pb_proc_memory_t;

/*
 * Fills *out: one read of /proc/self/statm and a mallinfo2 (it walks the free lists under each
 * arena's lock: well under a millisecond at 1,000 bindings). 0, or -1 when /proc is unreadable.
 * Any thread.
 */
int pb_proc_memory(pb_proc_memory_t *out);

/* The process's figures as Prometheus client libraries export them (process_*). */
typedef struct pb_proc_stats {
    double cpu_seconds;     /* user + system CPU time */
    double start_time;      /* Unix time the process started, seconds */
    int64_t resident_bytes; /* RSS */
    int64_t virtual_bytes;  /* address space */
    int64_t open_fds;       /* entries of /proc/self/fd */
    int64_t max_fds;        /* soft RLIMIT_NOFILE (-1: unlimited) */
    int64_t threads;        /* OS threads */
} pb_proc_stats_t;

/* Read them from /proc/self (Linux). Returns 0, or -1 when /proc cannot be read (out untouched
 * then). Any thread; costs a few syscalls plus one readdir of the fd table. */
int pb_proc_stats(pb_proc_stats_t *out);

#endif
