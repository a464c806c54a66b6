/*
 * notify — systemd's readiness protocol (sd_notify(3), "Type=notify" services) without libsystemd.
 *
 * Owns: the NOTIFY_SOCKET address, one unconnected AF_UNIX datagram socket, and which of the
 * protocol's states was last told (READY=1 once at start-up, STATUS= while not ready; RELOADING=1
 * then READY=1 around a reload; STOPPING=1). Every send is non-blocking and its failure only logged
 * (rate-limited): the service manager is told, never waited for. Must not: decide when the broker
 * is ready (broker.c asks pb_broker_ready) or block the loop.
 *
 * Address rules (systemd's): an absolute path ("/run/systemd/notify") or an abstract socket name
 * written with a leading '@' ("@/org/freedesktop/systemd1/notify/42"), at most
 * PB_NOTIFY_ADDR_MAX bytes; anything else is refused with the reason.
 */
#ifndef PB_NOTIFY_H
#define PB_NOTIFY_H

#include <sys/socket.h>
#include <sys/un.h>

#include "err.h"

#define PB_NOTIFY_ADDR_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

typedef struct pb_notify pb_notify_t;

/* Parse a NOTIFY_SOCKET value into *sa and *len (the length to pass to sendto). Pure. Returns 0,
 * or PB_ERR_INVALID naming the value and the rule it breaks. */
int pb_notify_parse_addr(const char *addr, struct sockaddr_un *sa, socklen_t *len, pb_err_t *err);

/* A notifier for addr (normally getenv("NOTIFY_SOCKET")). With addr NULL or "" there is nothing
 * to notify: returns 0 and *out = NULL (every function below accepts NULL and does nothing).
 * Returns PB_ERR_INVALID for a bad address, PB_ERR_IO when no socket can be made, PB_ERR_NOMEM.
 * The caller owns *out (pb_notify_destroy). Any thread; then used by the loop thread only. */
int pb_notify_new(const char *addr, pb_notify_t **out, pb_err_t *err);

/* Close the socket and free. NULL is a no-op. */
void pb_notify_destroy(pb_notify_t *n);

/* Send one datagram of state lines ("KEY=VALUE\n..."), non-blocking. Returns 0 or PB_ERR_IO with
 * errno's text (the caller decides whether to log). Loop thread. */
int pb_notify_send(pb_notify_t *n, const char *state, pb_err_t *err);

/* What /readyz would answer now, once a second (loop thread): the first time ready, READY=1 with
 * STATUS=status; while not ready, STATUS=status when it changed; ready again after that, one
 * STATUS=status. Nothing while ready and nothing changed (so a reload's outcome stays shown), nor
 * while a reload is announced. Returns 1 when READY=1 was sent now, else 0. */
int pb_notify_state(pb_notify_t *n, int ready, const char *status);

/* A reload starts (SIGHUP): RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC, as systemd's
 * notify-reload wants) and STATUS=status. Only once READY=1 was sent (a reload before that is
 * part of start-up as far as systemd is concerned); returns 1 when sent. */
int pb_notify_reloading(pb_notify_t *n, const char *status);

/* The reload started by pb_notify_reloading ended (applied or refused): READY=1 and
 * STATUS=status. Nothing when no reload was announced. */
void pb_notify_reloaded(pb_notify_t *n, const char *status);

/* Shutdown begins: STOPPING=1 and STATUS=status. */
void pb_notify_stopping(pb_notify_t *n, const char *status);

#endif
