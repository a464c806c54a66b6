/*
 * addr — names and addresses of data products and ports (DESIGN.md §2).
 *
 * Owns: the URN and short-form grammar, name rules, access patterns and the Kafka names derived
 * from a port. Pure string work on caller buffers: no I/O, no heap, no state.
 * Must not: look anything up (the registry does) or talk to Kafka.
 */
#include "addr.h"

#include <stdio.h>
#include <string.h>

#define EXCERPT_MAX 80 /* visible characters of untrusted input quoted in a message */

const char *pb_addr_excerpt(const char *s, char *buf, size_t cap) {
    PB_ASSERT(buf && cap >= 8);
    size_t o = 0, shown = 0;
    if (!s) s = "(null)";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (shown == EXCERPT_MAX || o + 8 >= cap) {
            /* room for "..." and the NUL was kept by the o + 8 bound */
            memcpy(buf + o, "...", 4);
            return buf;
        }
        if (c >= 0x20 && c < 0x7f) {
            buf[o++] = (char)c;
        } else {
            snprintf(buf + o, cap - o, "\\x%02x", c);
            o += 4;
        }
        shown++;
    }
    buf[o] = '\0';
    return buf;
}

/* A character for a message: "'c'" or "'\xNN'". */
static const char *charname(unsigned char c, char buf[8]) {
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "'\\x%02x'", c);
    return buf;
}

static int is_alpha(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alnum(int c) { return is_alpha(c) || is_digit(c); }

int pb_addr_check_name(const char *what, const char *name, pb_err_t *err) {
    char ex[EXCERPT_MAX * 4 + 8], cn[8];
    size_t n = strlen(name);
    if (n == 0) return pb_err_set(err, PB_ERR_INVALID, "%s is empty", what);
    if (n > PB_ADDR_NAME_MAX)
        return pb_err_set(err, PB_ERR_INVALID, "%s '%s': %zu characters, at most %d", what,
                          pb_addr_excerpt(name, ex, sizeof ex), n, PB_ADDR_NAME_MAX);
    if (!is_alpha((unsigned char)name[0]))
        return pb_err_set(err, PB_ERR_INVALID,
                          "%s '%s': must start with a letter (names are [A-Za-z][A-Za-z0-9_-]*)",
                          what, pb_addr_excerpt(name, ex, sizeof ex));
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!is_alnum(c) && c != '_' && c != '-')
            return pb_err_set(err, PB_ERR_INVALID,
                              "%s '%s': character %s at offset %zu is not allowed (names are "
                              "[A-Za-z][A-Za-z0-9_-]*)",
                              what, pb_addr_excerpt(name, ex, sizeof ex), charname(c, cn), i);
    }
    return 0;
}

int pb_addr_check_namespace(const char *ns, pb_err_t *err) {
    char ex[EXCERPT_MAX * 4 + 8], cn[8];
    size_t n = strlen(ns);
    if (n == 0) return pb_err_set(err, PB_ERR_INVALID, "namespace is empty");
    if (n > PB_ADDR_NS_MAX)
        return pb_err_set(err, PB_ERR_INVALID, "namespace '%s': %zu characters, at most %d",
                          pb_addr_excerpt(ns, ex, sizeof ex), n, PB_ADDR_NS_MAX);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)ns[i];
        if (c == '.' || c == '\0') {
            size_t len = i - start;
            if (len == 0)
                return pb_err_set(err, PB_ERR_INVALID,
                                  "namespace '%s': empty label at offset %zu (labels are separated "
                                  "by single dots)",
                                  pb_addr_excerpt(ns, ex, sizeof ex), i);
            if (len > PB_ADDR_LABEL_MAX)
                return pb_err_set(
                    err, PB_ERR_INVALID,
                    "namespace '%s': label at offset %zu has %zu characters, at most %d",
                    pb_addr_excerpt(ns, ex, sizeof ex), start, len, PB_ADDR_LABEL_MAX);
            if (!is_alnum((unsigned char)ns[start]) || !is_alnum((unsigned char)ns[i - 1]))
                return pb_err_set(err, PB_ERR_INVALID,
                                  "namespace '%s': label at offset %zu must start and end with a "
                                  "letter or digit",
                                  pb_addr_excerpt(ns, ex, sizeof ex), start);
            start = i + 1;
            continue;
        }
        if (!is_alnum(c) && c != '_' && c != '-')
            return pb_err_set(err, PB_ERR_INVALID,
                              "namespace '%s': character %s at offset %zu is not allowed "
                              "(reverse-DNS: labels of [A-Za-z0-9_-] separated by '.')",
                              pb_addr_excerpt(ns, ex, sizeof ex), charname(c, cn), i);
    }
    return 0;
}

int pb_addr_parse_major(const char *s, unsigned *out, pb_err_t *err) {
    char ex[EXCERPT_MAX * 4 + 8];
    if (!*s) return pb_err_set(err, PB_ERR_INVALID, "major is empty");
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (!is_digit((unsigned char)*p))
            return pb_err_set(err, PB_ERR_INVALID,
                              "major '%s': not a decimal number (digits only, no sign)",
                              pb_addr_excerpt(s, ex, sizeof ex));
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > PB_ADDR_MAJOR_MAX)
            return pb_err_set(err, PB_ERR_INVALID, "major '%s': larger than %u",
                              pb_addr_excerpt(s, ex, sizeof ex), PB_ADDR_MAJOR_MAX);
    }
    if (s[0] == '0' && s[1])
        return pb_err_set(err, PB_ERR_INVALID, "major '%s': leading zeros are not allowed",
                          pb_addr_excerpt(s, ex, sizeof ex));
    *out = (unsigned)v;
    return 0;
}

const char *pb_addr_kind_segment(pb_port_kind_t kind) {
    return kind == PB_PORT_INPUT ? "inputports" : "outputports";
}

const char *pb_addr_kind_name(pb_port_kind_t kind) {
    return kind == PB_PORT_INPUT ? "input" : "output";
}

static int parse_kind(const char *seg, pb_port_kind_t *kind) {
    if (strcmp(seg, "outputports") == 0) {
        *kind = PB_PORT_OUTPUT;
        return 0;
    }
    if (strcmp(seg, "inputports") == 0) {
        *kind = PB_PORT_INPUT;
        return 0;
    }
    return -1;
}

/* Split buf in place at sep into at most max segments; returns the count, or max + 1 when there
 * are more. */
static size_t split(char *buf, char sep, char **seg, size_t max) {
    size_t n = 0;
    char *p = buf;
    for (;;) {
        if (n == max) return max + 1;
        seg[n++] = p;
        char *q = strchr(p, sep);
        if (!q) return n;
        *q = '\0';
        p = q + 1;
    }
}

/* Validate the parts and fill *out. ns_idx and first are the indexes of the namespace (-1: the
 * default namespace) and product segments in the input, for messages; head is the message head
 * ("port URN 'x': "). */
static int fill(pb_addr_t *out, const char *ns, const char *product, const char *major,
                const char *kindseg, const char *port, int ns_idx, int first, const char *head,
                pb_err_t *err) {
    pb_addr_t a;
    memset(&a, 0, sizeof a);
    if (pb_addr_check_namespace(ns, err)) {
        if (ns_idx >= 0) return pb_err_prefix(err, "%ssegment %d: ", head, ns_idx);
        return pb_err_prefix(err, "%sdefault namespace: ", head);
    }
    if (pb_addr_check_name("product name", product, err))
        return pb_err_prefix(err, "%ssegment %d: ", head, first);
    if (pb_addr_parse_major(major, &a.major, err))
        return pb_err_prefix(err, "%ssegment %d: ", head, first + 1);
    if (kindseg) {
        char ex[EXCERPT_MAX * 4 + 8];
        if (parse_kind(kindseg, &a.kind))
            return pb_err_set(err, PB_ERR_INVALID,
                              "%ssegment %d must be 'outputports' or 'inputports', not '%s'", head,
                              first + 2, pb_addr_excerpt(kindseg, ex, sizeof ex));
        if (pb_addr_check_name("port name", port, err))
            return pb_err_prefix(err, "%ssegment %d: ", head, first + 3);
        a.is_port = 1;
        strcpy(a.port, port);
    }
    strcpy(a.ns, ns);
    strcpy(a.product, product);
    *out = a;
    return 0;
}

static int parse_urn(const char *s, pb_addr_t *out, pb_err_t *err) {
    char ex[EXCERPT_MAX * 4 + 8], head[EXCERPT_MAX * 4 + 32];
    char buf[PB_ADDR_URN_MAX];
    char *seg[8];
    size_t len = strlen(s);
    if (len >= sizeof buf)
        return pb_err_set(err, PB_ERR_INVALID, "URN '%s': %zu characters, at most %d",
                          pb_addr_excerpt(s, ex, sizeof ex), len, PB_ADDR_URN_MAX - 1);
    memcpy(buf, s, len + 1);
    size_t n = split(buf, ':', seg, 8);
    const char *what = n == 8 ? "port URN" : n == 6 ? "product URN" : "URN";
    snprintf(head, sizeof head, "%s '%s': ", what, pb_addr_excerpt(s, ex, sizeof ex));
    if (n < 2 || strcmp(seg[0], "urn") != 0 || strcmp(seg[1], "dpds") != 0)
        return pb_err_set(err, PB_ERR_INVALID, "%smust start with 'urn:dpds:'", head);
    if (n != 6 && n != 8)
        return pb_err_set(err, PB_ERR_INVALID,
                          "%s%s segments; a product URN has 6 "
                          "(urn:dpds:{ns}:dataproducts:{product}:{major}), a port URN 8 "
                          "(...:{major}:outputports:{port})",
                          head,
                          n > 8    ? "more than 8"
                          : n == 7 ? "7"
                          : n < 6  ? "fewer than 6"
                                   : "?");
    if (strcmp(seg[3], "dataproducts") != 0)
        return pb_err_set(err, PB_ERR_INVALID, "%ssegment 3 must be 'dataproducts', not '%s'", head,
                          pb_addr_excerpt(seg[3], ex, sizeof ex));
    return fill(out, seg[2], seg[4], seg[5], n == 8 ? seg[6] : NULL, n == 8 ? seg[7] : NULL, 2, 4,
                head, err);
}

static int parse_short(const char *s, const char *default_ns, pb_addr_t *out, pb_err_t *err) {
    char ex[EXCERPT_MAX * 4 + 8], head[EXCERPT_MAX * 4 + 32];
    char buf[PB_ADDR_URN_MAX];
    char *seg[5];
    size_t len = strlen(s);
    snprintf(head, sizeof head, "address '%s': ", pb_addr_excerpt(s, ex, sizeof ex));
    if (len >= sizeof buf)
        return pb_err_set(err, PB_ERR_INVALID, "%s%zu characters, at most %d", head, len,
                          PB_ADDR_URN_MAX - 1);
    memcpy(buf, s, len + 1);
    size_t n = split(buf, '/', seg, 5);
    if (n < 2 || n > 5)
        return pb_err_set(err, PB_ERR_INVALID,
                          "%snot a URN (urn:dpds:...) nor a short form "
                          "([{ns}/]{product}/{major}[/outputports|inputports/{port}])",
                          head);
    int has_ns = n == 3 || n == 5;
    const char *ns = has_ns ? seg[0] : default_ns;
    if (!ns)
        return pb_err_set(err, PB_ERR_INVALID,
                          "%sa short form without a namespace needs a default namespace", head);
    char **p = seg + has_ns;
    int with_port = n >= 4;
    return fill(out, ns, p[0], p[1], with_port ? p[2] : NULL, with_port ? p[3] : NULL,
                has_ns ? 0 : -1, has_ns, head, err);
}

int pb_addr_parse(const char *s, const char *default_ns, pb_addr_t *out, pb_err_t *err) {
    PB_ASSERT(s && out);
    /* pb_err_prefix returns 0 without an err to keep the code in: parse into a scratch one. */
    pb_err_t scratch;
    if (!err) err = &scratch;
    if (strncmp(s, "urn:", 4) == 0) return parse_urn(s, out, err);
    return parse_short(s, default_ns, out, err);
}

int pb_addr_parse_product(const char *s, const char *default_ns, pb_addr_t *out, pb_err_t *err) {
    pb_addr_t a;
    int rc = pb_addr_parse(s, default_ns, &a, err);
    if (rc) return rc;
    if (a.is_port) {
        char ex[EXCERPT_MAX * 4 + 8];
        return pb_err_set(err, PB_ERR_INVALID,
                          "'%s' is a port address; a product address is expected",
                          pb_addr_excerpt(s, ex, sizeof ex));
    }
    *out = a;
    return 0;
}

int pb_addr_parse_port(const char *s, const char *default_ns, pb_addr_t *out, pb_err_t *err) {
    pb_addr_t a;
    int rc = pb_addr_parse(s, default_ns, &a, err);
    if (rc) return rc;
    if (!a.is_port) {
        char ex[EXCERPT_MAX * 4 + 8];
        return pb_err_set(err, PB_ERR_INVALID,
                          "'%s' is a product address; a port address is expected "
                          "(...:outputports:{port} or .../outputports/{port})",
                          pb_addr_excerpt(s, ex, sizeof ex));
    }
    *out = a;
    return 0;
}

int pb_addr_make(const char *ns, const char *product, unsigned major, pb_port_kind_t kind,
                 const char *port, pb_addr_t *out, pb_err_t *err) {
    pb_addr_t a;
    memset(&a, 0, sizeof a);
    if (pb_addr_check_namespace(ns, err)) return PB_ERR_INVALID;
    if (pb_addr_check_name("product name", product, err)) return PB_ERR_INVALID;
    if (major > PB_ADDR_MAJOR_MAX)
        return pb_err_set(err, PB_ERR_INVALID, "major %u: larger than %u", major,
                          PB_ADDR_MAJOR_MAX);
    if (port) {
        if (pb_addr_check_name("port name", port, err)) return PB_ERR_INVALID;
        a.is_port = 1;
        a.kind = kind;
        strcpy(a.port, port);
    }
    strcpy(a.ns, ns);
    strcpy(a.product, product);
    a.major = major;
    *out = a;
    return 0;
}

size_t pb_addr_format_product(const pb_addr_t *a, char *out, size_t cap) {
    int n = snprintf(out, cap, "urn:dpds:%s:dataproducts:%s:%u", a->ns, a->product, a->major);
    return n < 0 ? 0 : (size_t)n;
}

size_t pb_addr_format(const pb_addr_t *a, char *out, size_t cap) {
    if (!a->is_port) return pb_addr_format_product(a, out, cap);
    int n = snprintf(out, cap, "urn:dpds:%s:dataproducts:%s:%u:%s:%s", a->ns, a->product, a->major,
                     pb_addr_kind_segment(a->kind), a->port);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- Access lists ---- */

int pb_addr_check_pattern(const char *pattern, pb_err_t *err) {
    char ex[EXCERPT_MAX * 4 + 8];
    size_t n = strlen(pattern);
    if (strcmp(pattern, "*") == 0) return 0;
    const char *star = strchr(pattern, '*');
    if (star && star != pattern + n - 1)
        return pb_err_set(err, PB_ERR_INVALID,
                          "access pattern '%s': '*' is only allowed at the end",
                          pb_addr_excerpt(pattern, ex, sizeof ex));
    if (strncmp(pattern, "urn:dpds:", 9) != 0)
        return pb_err_set(err, PB_ERR_INVALID,
                          "access pattern '%s': must be '*', a product URN, or a URN prefix "
                          "ending in '*' (urn:dpds:com.acme:dataproducts:*)",
                          pb_addr_excerpt(pattern, ex, sizeof ex));
    if (star) return 0;
    pb_addr_t a;
    if (parse_urn(pattern, &a, err)) return pb_err_prefix(err, "access pattern: ");
    if (a.is_port)
        return pb_err_set(err, PB_ERR_INVALID,
                          "access pattern '%s': names a port; access lists admit products",
                          pb_addr_excerpt(pattern, ex, sizeof ex));
    return 0;
}

int pb_addr_match(const char *pattern, const char *product_urn) {
    size_t n = strlen(pattern);
    const char *star = strchr(pattern, '*');
    if (!star) return strcmp(pattern, product_urn) == 0;
    if (star != pattern + n - 1) return 0;
    return strncmp(pattern, product_urn, n - 1) == 0;
}

/* ---- Kafka names ---- */

int pb_addr_check_topic(const char *topic, pb_err_t *err) {
    char ex[EXCERPT_MAX * 4 + 8], cn[8];
    size_t n = strlen(topic);
    if (n == 0) return pb_err_set(err, PB_ERR_INVALID, "topic name is empty");
    if (n > PB_ADDR_TOPIC_MAX)
        return pb_err_set(err, PB_ERR_INVALID,
                          "topic '%s': %zu characters, Kafka allows at most %d",
                          pb_addr_excerpt(topic, ex, sizeof ex), n, PB_ADDR_TOPIC_MAX);
    if (strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0)
        return pb_err_set(err, PB_ERR_INVALID,
                          "topic '%s': '.' and '..' are not allowed as topic names", topic);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)topic[i];
        if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
            return pb_err_set(err, PB_ERR_INVALID,
                              "topic '%s': character %s at offset %zu is not allowed; Kafka topic "
                              "names use [A-Za-z0-9._-]",
                              pb_addr_excerpt(topic, ex, sizeof ex), charname(c, cn), i);
    }
    return 0;
}

/* Copy a built name into out after validation; cap too small for a valid topic is a bug. */
static int put_topic(const char *built, char *out, size_t cap, pb_err_t *err) {
    int rc = pb_addr_check_topic(built, err);
    if (rc) return rc;
    PB_ASSERT(strlen(built) < cap);
    strcpy(out, built);
    return 0;
}

int pb_addr_topic(const pb_addr_t *port, char *out, size_t cap, pb_err_t *err) {
    char t[PB_ADDR_URN_MAX];
    PB_ASSERT(port->is_port);
    snprintf(t, sizeof t, "%s.%s.v%u.%s%s", port->ns, port->product, port->major,
             port->kind == PB_PORT_INPUT ? "in." : "", port->port);
    return put_topic(t, out, cap, err);
}

int pb_addr_dlq_topic(const char *topic, char *out, size_t cap, pb_err_t *err) {
    char ex[40];
    size_t n = strlen(topic);
    if (n + 4 > PB_ADDR_TOPIC_MAX)
        return pb_err_set(err, PB_ERR_INVALID,
                          "topic '%s': %zu characters; its dead-letter topic ('.dlq' added) would "
                          "have %zu, Kafka allows %d",
                          pb_addr_excerpt(topic, ex, sizeof ex), n, n + 4, PB_ADDR_TOPIC_MAX);
    char t[PB_ADDR_TOPIC_MAX + 1];
    snprintf(t, sizeof t, "%s.dlq", topic);
    return put_topic(t, out, cap, err);
}

size_t pb_addr_subject(const char *topic, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s-value", topic);
    return n < 0 ? 0 : (size_t)n;
}

size_t pb_addr_route_group(const char *input_topic, char *out, size_t cap) {
    int n = snprintf(out, cap, "portbroker.route.%s", input_topic);
    return n < 0 ? 0 : (size_t)n;
}

size_t pb_addr_sub_group(const char *input_topic, char *out, size_t cap) {
    int n = snprintf(out, cap, "portbroker.sub.%s", input_topic);
    return n < 0 ? 0 : (size_t)n;
}
