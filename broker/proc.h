/*
 * proc — process-wide settings of a long-running portbroker process (the daemon and the
 * benchmarks that stand in for it).
 *
 * Owns: the C library's allocator tuning. Must not: hold state, or be called from library code
 * (tests and tools keep the defaults).
 */
#ifndef PB_PROC_H
#define PB_PROC_H

/*
 * Call first thing in main(), before threads start. Turns glibc's fastbins off (M_MXFAST=0):
 * the data plane allocates and frees small blocks in batches (librdkafka: a block per message
 * header, thousands in flight, freed in delivery-report batches), which overflow the per-thread
 * cache into fastbins that every larger allocation then consolidates; without fastbins those
 * frees coalesce at once. Measured with bench_route: relay-thread CPU per record -30% for both
 * the bare librdkafka relay and routing. Not thread-safe (process start only).
 */
void pb_proc_tune(void);

#endif
