/* gzip.c: Accept-Encoding parsing, one-shot and streaming compression read back by zlib's
 * inflate (a streamed reply is decodable after every write, before the trailer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "gzip.h"

static void test_accepted(void **state) {
    (void)state;
    const char *yes[] = {"gzip",   "GZIP", "deflate, gzip",          "gzip;q=0.5",
                         "x-gzip", "*",    "br;q=1.0, gzip ; q=0.1", "identity, *;q=0.3"};
    const char *no[] = {NULL,          "",      "identity", "deflate, br", "gzip;q=0",
                        "gzip; q=0.0", "gzipx", "xgzip",    "br, *;q=0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!pb_gzip_accepted(yes[i])) fail_msg("'%s' admits gzip", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (pb_gzip_accepted(no[i])) fail_msg("'%s' does not admit gzip", no[i] ? no[i] : "NULL");
}

/* Inflate in[0..n) (gzip) into out (cap bytes), Z_SYNC_FLUSH; returns the bytes produced. */
static size_t inflate_all(z_stream *z, const void *in, size_t n, char *out, size_t cap, int *end) {
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)n;
    z->next_out = (Bytef *)out;
    z->avail_out = (uInt)cap;
    int r = inflate(z, Z_SYNC_FLUSH);
    assert_true(r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR);
    *end = r == Z_STREAM_END;
    return cap - z->avail_out;
}

/* pb_gzip_decompress reads back what pb_gzip_compress wrote, appending to what out holds; it
 * refuses more than max bytes, truncated and corrupt data, leaving out's length as it was. */
static void test_decompress(void **state) {
    (void)state;
    pb_buf_t text = {0}, z = {0}, out = {0};
    pb_err_t err = {0};
    for (int i = 0; i < 3000; i++) /* repetitive, as an OpenLineage body: compresses well */
        assert_int_equal(pb_buf_printf(&text, "{\"_producer\":\"urn:x\",\"n\":%d}", i), 0);
    assert_int_equal(pb_gzip_compress(text.data, text.len, &z, &err), 0);
    assert_true(z.len * 4 < text.len);
    assert_int_equal(pb_buf_append(&out, "head:", 5), 0);
    assert_int_equal(pb_gzip_decompress(z.data, z.len, text.len, &out, &err), 0);
    assert_int_equal(out.len, 5 + text.len);
    assert_memory_equal(out.data, "head:", 5);
    assert_memory_equal(out.data + 5, text.data, text.len);
    /* one byte over max */
    out.len = 5;
    assert_int_equal(pb_gzip_decompress(z.data, z.len, text.len - 1, &out, &err), PB_ERR_TOO_LARGE);
    assert_int_equal(out.len, 5);
    /* every truncation, and a flipped byte in the data or the checksum */
    for (size_t cut = 0; cut < z.len; cut += 7) {
        assert_int_equal(pb_gzip_decompress(z.data, cut, text.len, &out, &err), PB_ERR_INVALID);
        assert_int_equal(out.len, 5);
    }
    size_t at[] = {z.len / 2, z.len - 6};
    for (size_t i = 0; i < 2; i++) {
        z.data[at[i]] ^= 0x55;
        /* corrupt deflate data may also decode to more than max first */
        int rc = pb_gzip_decompress(z.data, z.len, text.len, &out, &err);
        assert_true(rc == PB_ERR_INVALID || rc == PB_ERR_TOO_LARGE);
        assert_int_equal(out.len, 5);
        z.data[at[i]] ^= 0x55;
    }
    /* either side of the small-window threshold (4 KiB): both read back */
    for (size_t len = 4095; len <= 4097; len++) {
        pb_buf_t zz = {0}, back = {0};
        assert_int_equal(pb_gzip_compress(text.data, len, &zz, &err), 0);
        assert_int_equal(pb_gzip_decompress(zz.data, zz.len, len, &back, &err), 0);
        assert_int_equal(back.len, len);
        assert_memory_equal(back.data, text.data, len);
        pb_buf_free(&zz);
        pb_buf_free(&back);
    }
    /* empty input text */
    pb_buf_t e = {0}, back = {0};
    assert_int_equal(pb_gzip_compress("", 0, &e, &err), 0);
    assert_int_equal(pb_gzip_decompress(e.data, e.len, 10, &back, &err), 0);
    assert_int_equal(back.len, 0);
    pb_buf_free(&text);
    pb_buf_free(&z);
    pb_buf_free(&out);
    pb_buf_free(&e);
    pb_buf_free(&back);
}

static void test_roundtrip(void **state) {
    (void)state;
    char text[5000], back[6000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i % 13);
    pb_buf_t z = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_gzip_compress(text, sizeof text, &z, &err), 0);
    assert_true(z.len < sizeof text / 4);
    z_stream in = {0};
    int end = 0;
    assert_int_equal(inflateInit2(&in, 16 + MAX_WBITS), Z_OK);
    assert_int_equal(inflate_all(&in, z.data, z.len, back, sizeof back, &end), sizeof text);
    assert_true(end);
    assert_memory_equal(back, text, sizeof text);
    inflateEnd(&in);
    /* streaming: each write decodes on its own, the trailer completes the member */
    pb_gzip_stream_t *s = pb_gzip_stream_new();
    assert_non_null(s);
    assert_int_equal(inflateInit2(&in, 16 + MAX_WBITS), Z_OK);
    const char *lines[] = {"{\"offset\":0}\n", "{\"offset\":1}\n", ": keepalive\n\n"};
    for (size_t i = 0; i < 3; i++) {
        pb_buf_reset(&z);
        assert_int_equal(pb_gzip_stream_write(s, lines[i], strlen(lines[i]), &z), 0);
        size_t got = inflate_all(&in, z.data, z.len, back, sizeof back, &end);
        assert_int_equal(got, strlen(lines[i]));
        assert_memory_equal(back, lines[i], got);
        assert_false(end);
    }
    pb_buf_reset(&z);
    assert_int_equal(pb_gzip_stream_finish(s, &z), 0);
    assert_int_equal(inflate_all(&in, z.data, z.len, back, sizeof back, &end), 0);
    assert_true(end);
    inflateEnd(&in);
    pb_gzip_stream_destroy(s);
    pb_gzip_stream_destroy(NULL);
    pb_buf_free(&z);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_decompress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
