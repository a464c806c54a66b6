/*
 * crash.c — the last words of a crashing process (crash.h). On a fatal signal the handler writes,
 * with write(2) only, one line naming the signal, the faulting address, the thread and the
 * version, then glibc's backtrace of the thread, then restores the default action and re-raises,
 * so the exit status and any core dump are what the kernel would have given. Owns the alternate
 * signal stack. Must not: allocate, use stdio or locks inside the handler, replace a handler
 * someone installed before (the sanitizers report better), or try to keep the process running.
 */
#include "crash.h"

#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PB_VERSION
#define PB_VERSION "0.0.0"
#endif

enum { STACK_DEPTH = 64 };

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static const char *signal_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "SIGSEGV, invalid memory access";
    case SIGBUS: return "SIGBUS, bus error";
    case SIGFPE: return "SIGFPE, arithmetic error";
    case SIGILL: return "SIGILL, illegal instruction";
    case SIGABRT: return "SIGABRT, aborted";
    default: return "fatal signal";
    }
}

/* Bounded appends for the handler: no printf. */
static int put_str(char *out, int n, int at, const char *s) {
    while (*s && at < n - 1)
        out[at++] = *s++;
    return at;
}

static int put_uint(char *out, int n, int at, uintptr_t v, int base) {
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = "0123456789abcdef"[v % (uintptr_t)base];
        v /= (uintptr_t)base;
    } while (v && k < (int)sizeof tmp);
    while (k > 0 && at < n - 1)
        out[at++] = tmp[--k];
    return at;
}

/* The first line of the report (as one line, NUL-terminated in out[n]); returns its length. */
static int headline(char *out, int n, int sig, const void *addr, const char *thread) {
    if (n <= 0) return 0;
    int at = put_str(out, n, 0, "portbroker: crashed: signal ");
    at = put_uint(out, n, at, (uintptr_t)sig, 10);
    at = put_str(out, n, at, " (");
    at = put_str(out, n, at, signal_name(sig));
    at = put_str(out, n, at, ")");
    if (addr) {
        at = put_str(out, n, at, " at address 0x");
        at = put_uint(out, n, at, (uintptr_t)addr, 16);
    }
    at = put_str(out, n, at, " in thread '");
    at = put_str(out, n, at, thread && *thread ? thread : "?");
    at = put_str(out, n, at,
                 "', portbroker " PB_VERSION
                 ". Stack (resolve with addr2line -e <binary> -f <+offset>):");
    if (at < n - 1) out[at++] = '\n';
    out[at] = '\0';
    return at;
}

static void on_fatal(int sig, siginfo_t *si, void *uctx) {
    (void)uctx;
    char line[320], thread[16] = "";
    pthread_getname_np(pthread_self(), thread, sizeof thread);
    int fault = sig != SIGABRT && si && si->si_code > 0; /* sent by the kernel, not kill(2) */
    int len = headline(line, (int)sizeof line, sig, fault ? si->si_addr : NULL, thread);
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    void *frames[STACK_DEPTH];
    int depth = backtrace(frames, STACK_DEPTH);
    backtrace_symbols_fd(frames, depth, STDERR_FILENO);
    (void)w;
    /* The kernel's own ending: SA_RESETHAND restored the default action; the signal again
     * (blocked while we run) takes it on return. */
    raise(sig);
}

void pb_crash_install(void) {
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    /* backtrace() loads libgcc's unwinder on its first call, which allocates: do it now. */
    void *prime[2];
    backtrace(prime, 2);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
        struct sigaction old;
        if (sigaction(fatal_signals[i], NULL, &old) != 0) continue;
        if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fatal;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(fatal_signals[i], &sa, NULL);
    }
}
