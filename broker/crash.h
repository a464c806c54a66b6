/*
 * crash.h — the last words of a process that crashed: which signal, where, and its stack, on
 * stderr, before the kernel's default action (exit status 128+N, core dump if enabled).
 */
#ifndef PB_CRASH_H
#define PB_CRASH_H

/* Install the handler for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT, on an alternate stack for
 * the main thread (the loop), so its stack overflowing is reported too. A signal that already has a
 * handler (a sanitizer's) keeps it. Call once, first thing in main, before any thread starts. Never
 * fails: without an alternate stack the handler still runs on the thread's own stack. */
void pb_crash_install(void);

#endif
