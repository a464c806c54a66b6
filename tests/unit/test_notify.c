/*
 * test_notify — notify.c: NOTIFY_SOCKET addresses (path, abstract, refused forms with their
 * reasons) and the protocol's order on a real AF_UNIX datagram socket: READY=1 once, STATUS only on
 * change, RELOADING=1 only after READY=1 and always closed by READY=1, STOPPING=1; a receiver
 * that is gone costs an error, never a block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static void addr_forms(void **state) {
    (void)state;
    struct sockaddr_un sa;
    socklen_t len = 0;
    pb_err_t err = {0};
    assert_int_equal(pb_notify_parse_addr("/run/systemd/notify", &sa, &len, &err), 0);
    assert_string_equal(sa.sun_path, "/run/systemd/notify");
    assert_int_equal(len,
                     offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
    assert_int_equal(pb_notify_parse_addr("@/org/sd/42", &sa, &len, &err), 0);
    assert_int_equal(sa.sun_path[0], 0);
    assert_memory_equal(sa.sun_path + 1, "/org/sd/42", 10);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 11); /* no trailing NUL */

    assert_int_equal(pb_notify_parse_addr("run/notify", &sa, &len, &err), PB_ERR_INVALID);
    assert_string_equal(err.msg,
                        "NOTIFY_SOCKET=run/notify: not an absolute path or an '@' abstract name");
    assert_int_equal(pb_notify_parse_addr("@", &sa, &len, &err), PB_ERR_INVALID);
    assert_string_equal(err.msg, "NOTIFY_SOCKET=@: the name after it is missing");
    assert_int_equal(pb_notify_parse_addr("", &sa, &len, &err), PB_ERR_INVALID);
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    assert_int_equal(pb_notify_parse_addr(longp, &sa, &len, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "199 bytes, a socket address holds at most 107"));
}

static void no_socket_is_a_noop(void **state) {
    (void)state;
    pb_notify_t *n = (pb_notify_t *)1;
    pb_err_t err = {0};
    assert_int_equal(pb_notify_new(NULL, &n, &err), 0);
    assert_null(n);
    assert_int_equal(pb_notify_new("", &n, &err), 0);
    assert_null(n);
    assert_int_equal(pb_notify_state(NULL, 1, "x"), 0);
    pb_notify_stopping(NULL, "x");
    pb_notify_destroy(NULL);
    assert_int_equal(pb_notify_new("relative", &n, &err), PB_ERR_INVALID);
    assert_null(n);
}

/* Next datagram on fd, or "" when none is queued. */
static const char *next(int fd) {
    static char buf[1024];
    ssize_t r = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[r > 0 ? r : 0] = 0;
    return buf;
}

static void protocol_order(void **state) {
    (void)state;
    char path[] = "/tmp/test_notify.XXXXXX";
    assert_non_null(mkdtemp(path));
    char sock[sizeof path + sizeof "/notify"];
    snprintf(sock, sizeof sock, "%s/notify", path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);

    pb_notify_t *n = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_notify_new(sock, &n, &err), 0);
    assert_non_null(n);
    /* A reload before start-up completed is not announced. */
    assert_int_equal(pb_notify_reloading(n, "reloading"), 0);
    pb_notify_reloaded(n, "x");
    assert_string_equal(next(fd), "");
    pb_notify_state(n, 0, "not ready: Kafka");
    pb_notify_state(n, 0, "not ready: Kafka"); /* same: not repeated */
    assert_string_equal(next(fd), "STATUS=not ready: Kafka");
    assert_string_equal(next(fd), "");
    assert_int_equal(pb_notify_state(n, 1, "ready: 3\nproducts"), 1);
    assert_string_equal(next(fd), "READY=1\nSTATUS=ready: 3 products"); /* one line */
    assert_int_equal(pb_notify_state(n, 1, "ready"), 0);                /* nothing changed */
    assert_string_equal(next(fd), "");
    assert_int_equal(pb_notify_reloading(n, "reloading"), 1);
    const char *m = next(fd);
    assert_true(!strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27));
    assert_non_null(strstr(m, "\nSTATUS=reloading"));
    pb_notify_state(n, 0, "not ready: storing"); /* hidden while reloading */
    assert_string_equal(next(fd), "");
    pb_notify_reloaded(n, "ready; reloaded 4 products");
    assert_string_equal(next(fd), "READY=1\nSTATUS=ready; reloaded 4 products");
    pb_notify_reloaded(n, "again"); /* no reload announced: nothing */
    assert_string_equal(next(fd), "");
    pb_notify_state(n, 0, "not ready: Kafka");
    assert_string_equal(next(fd), "STATUS=not ready: Kafka");
    assert_int_equal(pb_notify_state(n, 1, "ready: back"), 0); /* READY=1 only once */
    assert_string_equal(next(fd), "STATUS=ready: back");
    pb_notify_stopping(n, "stopping");
    assert_string_equal(next(fd), "STOPPING=1\nSTATUS=stopping");
    /* The receiver gone: an error, at once. */
    close(fd);
    unlink(sock);
    assert_int_equal(pb_notify_send(n, "STATUS=x", &err), PB_ERR_IO);
    assert_non_null(strstr(err.msg, "systemd notification socket: "));
    pb_notify_destroy(n);
    rmdir(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addr_forms),
        cmocka_unit_test(no_socket_is_a_noop),
        cmocka_unit_test(protocol_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
