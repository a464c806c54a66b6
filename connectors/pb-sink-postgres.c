/*
 * pb-sink-postgres — an input port's records upserted into a PostgreSQL table, effectively once:
 * each batch is one transaction that upserts the rows by record key and moves the next offset per
 * partition in a table of its own (pb_sink_offsets); the cursors are committed to the broker only
 * after the database commit, and a restart skips what the offsets table says is already in.
 *
 * The table is derived from the reader schema (GET /schemas/ids/{schema_id} of the first record):
 * one column per top-level field — string/enum text, int integer, long bigint, float real, double
 * double precision, boolean boolean, bytes bytea-as-text, uuid uuid, date date,
 * timestamp-millis/micros timestamptz, decimal numeric(p,s), ["null", T] as T nullable, records,
 * arrays, maps and other unions jsonb — plus pb_key text PRIMARY KEY, pb_partition, pb_offset.
 *
 * Owns: its table and the pb_sink_offsets rows of its port. Must not: commit a cursor before the
 * transaction that holds its records has committed.
 */
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "portbroker/client.h"
#include "portbroker/connector.h"

#define MAXCOL 256

typedef struct {
    char *name; /* field name (also the column, quoted) */
    char sqltype[64];
    int json; /* value sent as JSON text (jsonb) */
    int unit; /* an integer value is: 1 epoch ms, 2 epoch us, 3 epoch days (else as is) */
} col_t;

typedef struct {
    const char *port, *conninfo, *table;
    long batch, flush_ms, wait_ms;
    int once;
    PGconn *db;
    col_t cols[MAXCOL];
    int ncols;
    char *upsert; /* the prepared statement's text */
    pb_conn_pos_t pos;
    json_t *rows; /* the batch */
    long written, skipped, batches, commits;
    pb_client_t *cl;
    int ready; /* the table is set up (at the first record: its reader schema) */
} sink_t;

static void die_db(sink_t *k, const char *what, PGresult *r) {
    fprintf(stderr, "pb-sink-postgres: %s: %s", what,
            r ? PQresultErrorMessage(r) : PQerrorMessage(k->db));
}

static int exec_ok(sink_t *k, const char *sql) {
    PGresult *r = PQexec(k->db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) die_db(k, sql, r);
    PQclear(r);
    return ok ? 0 : -1;
}

/* SQL type of an Avro type (JSON); sets *json when the value goes as JSON text. */
static void sql_type(const json_t *t, char *out, size_t n, int *json, int *unit) {
    *json = 0;
    *unit = 0;
    if (json_is_array(t)) {
        if (json_array_size(t) == 2) {
            const json_t *a = json_array_get(t, 0), *b = json_array_get(t, 1);
            if (json_is_string(a) && !strcmp(json_string_value(a), "null")) {
                sql_type(b, out, n, json, unit);
                return;
            }
            if (json_is_string(b) && !strcmp(json_string_value(b), "null")) {
                sql_type(a, out, n, json, unit);
                return;
            }
        }
        snprintf(out, n, "jsonb");
        *json = 1;
        return;
    }
    const char *name =
        json_is_string(t) ? json_string_value(t) : json_string_value(json_object_get(t, "type"));
    const char *lt =
        json_is_object(t) ? json_string_value(json_object_get(t, "logicalType")) : NULL;
    if (!name) name = "";
    if (lt && !strcmp(lt, "decimal"))
        snprintf(out, n, "numeric(%d,%d)", (int)json_integer_value(json_object_get(t, "precision")),
                 (int)json_integer_value(json_object_get(t, "scale")));
    else if (lt && !strcmp(lt, "uuid"))
        snprintf(out, n, "uuid");
    else if (lt && !strcmp(lt, "date")) {
        snprintf(out, n, "date");
        *unit = 3;
    } else if (lt && (!strcmp(lt, "timestamp-millis") || !strcmp(lt, "timestamp-micros"))) {
        snprintf(out, n, "timestamptz");
        *unit = strstr(lt, "micros") ? 2 : 1;
    } else if (lt &&
               (!strcmp(lt, "local-timestamp-millis") || !strcmp(lt, "local-timestamp-micros"))) {
        snprintf(out, n, "timestamp");
        *unit = strstr(lt, "micros") ? 2 : 1;
    } else if (lt && (!strcmp(lt, "time-millis") || !strcmp(lt, "time-micros")))
        snprintf(out, n, "time");
    else if (!strcmp(name, "string") || !strcmp(name, "enum") || !strcmp(name, "bytes") ||
             !strcmp(name, "fixed"))
        snprintf(out, n, "text");
    else if (!strcmp(name, "int"))
        snprintf(out, n, "integer");
    else if (!strcmp(name, "long"))
        snprintf(out, n, "bigint");
    else if (!strcmp(name, "float"))
        snprintf(out, n, "real");
    else if (!strcmp(name, "double"))
        snprintf(out, n, "double precision");
    else if (!strcmp(name, "boolean"))
        snprintf(out, n, "boolean");
    else {
        snprintf(out, n, "jsonb");
        *json = 1;
    }
}

static void quote_ident(const char *s, char *out, size_t n) {
    size_t j = 0;
    if (n < 3) return;
    out[j++] = '"';
    for (; *s && j + 3 < n; s++) {
        if (*s == '"') out[j++] = '"';
        out[j++] = *s;
    }
    out[j++] = '"';
    out[j] = 0;
}

/* Reads the schema of `schema_id`, creates the table and the offsets table, loads the offsets. */
static int setup(sink_t *k, pb_client_t *cl, long schema_id) {
    char path[64];
    snprintf(path, sizeof path, "/schemas/ids/%ld", schema_id);
    pb_client_resp_t r;
    pb_client_err_t err = {0};
    if (pb_client_request(cl, "GET", path, NULL, NULL, 0, &r, &err)) {
        fprintf(stderr, "pb-sink-postgres: reader schema %ld: %s\n", schema_id, err.msg);
        return -1;
    }
    json_t *d = json_loadb(r.body, r.len, 0, NULL);
    const char *text = d ? json_string_value(json_object_get(d, "schema")) : NULL;
    json_t *sch = text ? json_loads(text, 0, NULL) : NULL;
    pb_client_resp_free(&r);
    json_decref(d);
    json_t *fields = json_object_get(sch, "fields");
    if (!json_is_array(fields)) {
        fprintf(stderr, "pb-sink-postgres: reader schema %ld is not a record schema\n", schema_id);
        json_decref(sch);
        return -1;
    }
    char qt[512], q[300];
    quote_ident(k->table, qt, sizeof qt);
    char *ddl = NULL, *ins = NULL, *upd = NULL;
    size_t dl, il, ul;
    FILE *df = open_memstream(&ddl, &dl), *inf = open_memstream(&ins, &il),
         *uf = open_memstream(&upd, &ul);
    fprintf(df, "CREATE TABLE IF NOT EXISTS %s (pb_key text PRIMARY KEY", qt);
    fprintf(inf, "INSERT INTO %s (pb_key, pb_partition, pb_offset", qt);
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        if (k->ncols >= MAXCOL) break;
        col_t *c = &k->cols[k->ncols++];
        c->name = strdup(json_string_value(json_object_get(f, "name")));
        sql_type(json_object_get(f, "type"), c->sqltype, sizeof c->sqltype, &c->json, &c->unit);
        quote_ident(c->name, q, sizeof q);
        fprintf(df, ", %s %s", q, c->sqltype);
        fprintf(inf, ", %s", q);
        fprintf(uf, ", %s = EXCLUDED.%s", q, q);
    }
    fprintf(df, ", pb_partition integer NOT NULL, pb_offset bigint NOT NULL)");
    fprintf(inf, ") VALUES ($1, $2, $3");
    for (int j = 0; j < k->ncols; j++)
        fprintf(inf, ", $%d::%s", j + 4, k->cols[j].sqltype);
    fprintf(inf, ") ON CONFLICT (pb_key) DO UPDATE SET pb_partition = EXCLUDED.pb_partition, "
                 "pb_offset = EXCLUDED.pb_offset");
    fclose(df);
    fclose(uf);
    fputs(upd, inf);
    fclose(inf);
    free(upd);
    k->upsert = ins;
    json_decref(sch);
    int rc = exec_ok(k, ddl);
    free(ddl);
    if (rc || exec_ok(k, "CREATE TABLE IF NOT EXISTS pb_sink_offsets (port text NOT NULL, "
                         "partition integer NOT NULL, next_offset bigint NOT NULL, "
                         "PRIMARY KEY (port, partition))"))
        return -1;
    PGresult *pr = PQprepare(k->db, "upsert", k->upsert, 0, NULL);
    if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
        die_db(k, "preparing the upsert", pr);
        PQclear(pr);
        return -1;
    }
    PQclear(pr);
    const char *pv[1] = {k->port};
    PGresult * or
        = PQexecParams(k->db, "SELECT partition, next_offset FROM pb_sink_offsets WHERE port = $1",
                       1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(or) != PGRES_TUPLES_OK) {
        die_db(k, "reading pb_sink_offsets", or);
        PQclear(or);
        return -1;
    }
    for (int t = 0; t < PQntuples(or); t++) {
        int p = atoi(PQgetvalue(or, t, 0));
        if (p >= 0 && p < PB_CONN_NPART) k->pos.next[p] = atoll(PQgetvalue(or, t, 1));
    }
    if (PQntuples(or))
        fprintf(stderr, "pb-sink-postgres: resuming from pb_sink_offsets (%d partitions)\n",
                PQntuples(or));
    PQclear(or);
    return 0;
}

static char *value_text(const json_t *v, int json, int unit) {
    if (!v || json_is_null(v)) return NULL;
    if (unit && json_is_integer(v)) { /* Avro's integer forms of dates and timestamps */
        long long x = json_integer_value(v), per = unit == 1 ? 1000 : unit == 2 ? 1000000 : 0;
        long long secs = per ? x / per - (x % per < 0) : x * 86400;
        long long frac = per ? x - secs * per : 0;
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        char b[64];
        if (unit == 3)
            strftime(b, sizeof b, "%Y-%m-%d", &tm);
        else {
            size_t l = strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
            snprintf(b + l, sizeof b - l, unit == 1 ? ".%03lldZ" : ".%06lldZ", frac);
        }
        return strdup(b);
    }
    if (!json && json_is_string(v)) return strdup(json_string_value(v));
    if (!json && json_is_true(v)) return strdup("true");
    if (!json && json_is_false(v)) return strdup("false");
    if (!json && json_is_object(v) && json_object_size(v) == 1) { /* a wrapped union branch */
        const char *kk;
        json_t *vv;
        json_object_foreach((json_t *)v, kk, vv) return value_text(vv, 0, unit);
    }
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* One transaction: the rows, the offsets; then the cursors. pb_conn_sink_t.flush. */
static int flush(void *arg, pb_client_stream_t *s) {
    sink_t *k = arg;
    if (json_array_size(k->rows) == 0) return 0;
    if (exec_ok(k, "BEGIN")) return -1;
    size_t i;
    json_t *rec;
    char *vals[MAXCOL + 3];
    const char *pv[MAXCOL + 3];
    pb_conn_pos_t next = k->pos;
    json_array_foreach(k->rows, i, rec) {
        json_t *val = json_object_get(rec, "value");
        json_t *key = json_object_get(rec, "key");
        char pbuf[24], obuf[24];
        json_int_t p = json_integer_value(json_object_get(rec, "partition"));
        json_int_t o = json_integer_value(json_object_get(rec, "offset"));
        snprintf(pbuf, sizeof pbuf, "%lld", (long long)p);
        snprintf(obuf, sizeof obuf, "%lld", (long long)o);
        vals[0] = key && !json_is_null(key) ? value_text(key, 0, 0) : NULL;
        if (!vals[0]) { /* no key: the record's place is its identity */
            char kb[64];
            snprintf(kb, sizeof kb, "%lld:%lld", (long long)p, (long long)o);
            vals[0] = strdup(kb);
        }
        pv[0] = vals[0];
        pv[1] = pbuf;
        pv[2] = obuf;
        for (int j = 0; j < k->ncols; j++) {
            vals[j + 3] =
                value_text(json_object_get(val, k->cols[j].name), k->cols[j].json, k->cols[j].unit);
            pv[j + 3] = vals[j + 3];
        }
        PGresult *r = PQexecPrepared(k->db, "upsert", k->ncols + 3, pv, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            fprintf(stderr, "pb-sink-postgres: record %lld:%lld (key %s): %s", (long long)p,
                    (long long)o, vals[0], PQresultErrorMessage(r));
        }
        PQclear(r);
        free(vals[0]);
        for (int j = 0; j < k->ncols; j++)
            free(vals[j + 3]);
        if (!ok) {
            exec_ok(k, "ROLLBACK");
            return -1;
        }
        next.next[p] = o + 1;
    }
    for (int p = 0; p < PB_CONN_NPART; p++) {
        if (next.next[p] == k->pos.next[p]) continue;
        char pb[16], ob[24];
        snprintf(pb, sizeof pb, "%d", p);
        snprintf(ob, sizeof ob, "%lld", next.next[p]);
        const char *ov[3] = {k->port, pb, ob};
        PGresult *r = PQexecParams(
            k->db,
            "INSERT INTO pb_sink_offsets VALUES ($1, $2, $3) ON CONFLICT (port, partition) DO "
            "UPDATE SET next_offset = EXCLUDED.next_offset",
            3, NULL, ov, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) die_db(k, "pb_sink_offsets", r);
        PQclear(r);
        if (!ok) {
            exec_ok(k, "ROLLBACK");
            return -1;
        }
    }
    if (exec_ok(k, "COMMIT")) return -1;
    k->pos = next;
    k->written += (long)json_array_size(k->rows);
    k->batches++;
    json_array_clear(k->rows);
    if (s && !pb_conn_pos_commit(&k->pos, s, "pb-sink-postgres",
                                 "pb_sink_offsets skips what comes again"))
        k->commits++;
    return 0;
}

/* pb_conn_sink_t.record: the first record sets the table up from its reader schema; records
 * are upserted in batches of --batch. */
static int take(void *arg, pb_client_stream_t *s, json_t *r, int p, long long off) {
    sink_t *k = arg;
    (void)p, (void)off;
    if (!k->ready) {
        if (setup(k, k->cl, (long)json_integer_value(json_object_get(r, "schema_id")))) {
            json_decref(r);
            return -1;
        }
        k->ready = 1;
    }
    json_array_append_new(k->rows, r);
    return (long)json_array_size(k->rows) >= k->batch ? flush(k, s) : 0;
}

int main(int argc, char **argv) {
    sink_t k = {.batch = 500, .flush_ms = 500, .wait_ms = 30000};
    pb_client_opts_t o;
    const pb_conn_opt_t opts[] = {
        {"port", PB_CONN_STR, &k.port, "PORT", "input port URN or product/major/inputports/name",
         .env = "PB_PORT", .required = 1},
        {"table", PB_CONN_STR, &k.table, "NAME", "the table", .env = "PB_TABLE", .required = 1},
        {"conninfo", PB_CONN_STR, &k.conninfo, "S", "libpq connection string (else PG* variables)",
         .env = "PB_PG_CONNINFO"},
        {"batch", PB_CONN_LONG, &k.batch, "N", "records per transaction", .lo = 1, .hi = 100000},
        {"flush-ms", PB_CONN_LONG, &k.flush_ms, "T", "commit after T ms without a record", .lo = 1,
         .hi = 3600000},
        {"wait-ms", PB_CONN_LONG, &k.wait_ms, "T", "a stream ends after T ms quiet, then reopens",
         .lo = 1, .hi = 3600000},
        {"once", PB_CONN_FLAG, &k.once, NULL, "exit when a stream ends quiet", .set = 1},
    };
    const pb_conn_cli_t cli = {
        "pb-sink-postgres",
        "--port INPUT_PORT --table NAME [--conninfo CONNINFO] [options]",
        "Upserts an input port's records by key into a PostgreSQL table made from the reader "
        "schema.\n",
        "SIGTERM: commit the batch, print a summary, exit 0.\n",
        opts,
        sizeof opts / sizeof opts[0]};
    int pr = pb_conn_parse(&cli, argc, argv, &o);
    if (pr) return pr == 1 ? 0 : 2;
    pb_conn_pos_init(&k.pos);
    k.db = PQconnectdb(k.conninfo ? k.conninfo : "");
    if (PQstatus(k.db) != CONNECTION_OK) {
        fprintf(stderr, "pb-sink-postgres: cannot connect to PostgreSQL: %s", PQerrorMessage(k.db));
        PQfinish(k.db);
        return 2;
    }
    pb_client_err_t err = {0};
    pb_client_t *cl = pb_client_new(&o, &err);
    if (!cl) {
        fprintf(stderr, "pb-sink-postgres: %s\n", err.msg);
        PQfinish(k.db);
        return 2;
    }
    pb_conn_signals();
    k.cl = cl;
    k.rows = json_array();
    pb_conn_sink_t sk = {.prog = "pb-sink-postgres",
                         .port = k.port,
                         .wait_ms = k.wait_ms,
                         .idle_ms = k.flush_ms,
                         .once = k.once,
                         .pos = &k.pos,
                         .skipped = &k.skipped,
                         .record = take,
                         .flush = flush,
                         .arg = &k};
    int rc = pb_conn_sink_run(cl, &sk);
    fprintf(
        stderr,
        "pb-sink-postgres: %s -> %s: %ld records upserted in %ld transactions, %ld redeliveries "
        "skipped, %ld commits\n",
        k.port, k.table, k.written, k.batches, k.skipped, k.commits);
    json_decref(k.rows);
    for (int j = 0; j < k.ncols; j++)
        free(k.cols[j].name);
    free(k.upsert);
    PQfinish(k.db);
    pb_client_destroy(cl);
    return rc;
}
