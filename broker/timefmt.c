/*
 * timefmt — RFC 3339 timestamps (see timefmt.h). Civil-date arithmetic is Howard Hinnant's
 * days-from-civil algorithm, so no libc time zone state is involved.
 */
#include "timefmt.h"

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

size_t pb_timefmt_format(int64_t unix_ms, char out[PB_TIMEFMT_LEN + 1]) {
    int64_t days = unix_ms >= 0 ? unix_ms / 86400000 : -((-unix_ms + 86399999) / 86400000);
    int64_t ms = unix_ms - days * 86400000;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    out[0] = 0;
    if (y < 0 || y > 9999) return 0;
    unsigned s = (unsigned)(ms / 1000), frac = (unsigned)(ms % 1000);
    /* Fixed layout written by hand: every field's width is known, no format truncation. */
    const unsigned v[] = {(unsigned)y / 100, (unsigned)y % 100, m,     d,
                          s / 3600,          s / 60 % 60,       s % 60};
    static const char sep[] = "\0-- ::.";
    char *p = out;
    for (size_t i = 0; i < 7; i++) {
        if (i > 1) *p++ = i == 4 ? 'T' : sep[i - 1];
        *p++ = (char)('0' + v[i] / 10);
        *p++ = (char)('0' + v[i] % 10);
    }
    *p++ = '.';
    *p++ = (char)('0' + frac / 100);
    *p++ = (char)('0' + frac / 10 % 10);
    *p++ = (char)('0' + frac % 10);
    *p++ = 'Z';
    *p = 0;
    return PB_TIMEFMT_LEN;
}

/* n digits at s[*i] into *v. */
static int digits(const char *s, size_t len, size_t *i, int n, int *v) {
    int x = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9') return 0;
        x = x * 10 + (s[*i] - '0');
    }
    *v = x;
    return 1;
}

static int expect(const char *s, size_t len, size_t i, const char *accept) {
    if (i >= len) return 0;
    for (const char *a = accept; *a; a++)
        if (s[i] == *a) return 1;
    return 0;
}

int pb_timefmt_parse(const char *s, size_t len, int64_t *unix_ms, pb_err_t *err) {
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t i = 0, at = 0;
    int y, mo, d, h, mi, se, oh = 0, om = 0, ms = 0;
#define FAIL(what)                                                                                 \
    return pb_err_set(err, PB_ERR_INVALID, "not an RFC 3339 time: at %zu: %s", at, what)
    at = i;
    if (!digits(s, len, &i, 4, &y)) FAIL("expected a 4-digit year");
    at = i;
    if (!expect(s, len, i++, "-")) FAIL("expected '-' after the year");
    at = i;
    if (!digits(s, len, &i, 2, &mo) || mo < 1 || mo > 12) FAIL("expected a month 01-12");
    at = i;
    if (!expect(s, len, i++, "-")) FAIL("expected '-' after the month");
    at = i;
    if (!digits(s, len, &i, 2, &d) || d < 1 || (unsigned)d > mdays[mo - 1])
        FAIL("expected a day of that month");
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        FAIL("February 29 of a year that is not a leap year");
    at = i;
    if (!expect(s, len, i++, "Tt ")) FAIL("expected 'T' between date and time");
    at = i;
    if (!digits(s, len, &i, 2, &h) || h > 23) FAIL("expected an hour 00-23");
    at = i;
    if (!expect(s, len, i++, ":")) FAIL("expected ':' after the hour");
    at = i;
    if (!digits(s, len, &i, 2, &mi) || mi > 59) FAIL("expected minutes 00-59");
    at = i;
    if (!expect(s, len, i++, ":")) FAIL("expected ':' after the minutes");
    at = i;
    if (!digits(s, len, &i, 2, &se) || se > 60) FAIL("expected seconds 00-60");
    int leap = se == 60;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        for (int scale = 100; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
            ms += (s[i] - '0') * scale; /* scale reaches 0 after three digits: truncation */
        at = i;
        if (i == start) FAIL("expected digits after '.'");
    }
    if (leap) {
        se = 59;
        ms = 999;
    }
    if (expect(s, len, i, "Zz")) {
        i++;
    } else if (expect(s, len, i, "+-")) {
        int sign = s[i++] == '-' ? -1 : 1;
        at = i;
        if (!digits(s, len, &i, 2, &oh) || oh > 23) FAIL("expected an offset hour 00-23");
        at = i;
        if (!expect(s, len, i++, ":")) FAIL("expected ':' in the offset");
        at = i;
        if (!digits(s, len, &i, 2, &om) || om > 59) FAIL("expected offset minutes 00-59");
        oh *= sign;
        om *= sign;
    } else {
        at = i;
        FAIL("expected 'Z' or an offset such as +01:00");
    }
    at = i;
    if (i != len) FAIL("unexpected text after the time");
#undef FAIL
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - (oh * 3600 + om * 60);
    *unix_ms = secs * 1000 + ms;
    return 0;
}
