/* Test helpers shared by every unit test; see support.h. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record_json.h"
#include "core/text.h"

int td_test_decode_bytes(const td_protocol *p, td_session *s, const uint8_t *frame, size_t len,
                         td_decode_ctx *ctx)
{
    static td_session fresh;
    if (!s) {
        memset(&fresh, 0, sizeof(fresh));
        s = &fresh;
    }
    td_decode_ctx_reset(ctx, s, TD_TEST_NOW_MS);
    int rc = p->decode(ctx, frame, len);
    if (rc < 0)
        assert_true(ctx->err[0] != '\0'); /* every error says what was wrong */
    if (rc < 0)
        assert_non_null(strstr(ctx->err, p->name));
    for (int i = 0; rc == 0 && i < ctx->nrec; i++)
        assert_record_sane(&ctx->rec[i]);
    return rc;
}

int td_test_decode(const td_protocol *p, td_session *s, const char *frame, td_decode_ctx *ctx)
{
    return td_test_decode_bytes(p, s, (const uint8_t *)frame, strlen(frame), ctx);
}

void td_test_expect_error(const td_protocol *p, td_decode_ctx *ctx, const char *frame,
                          const char *msg)
{
    assert_true(td_test_decode(p, NULL, frame, ctx) < 0);
    assert_int_equal(ctx->nrec, 0);
    assert_string_equal(ctx->err, msg);
}

const td_record *td_test_decode_n(const td_protocol *p, td_session *s, const char *frame,
                                  td_decode_ctx *ctx, int n)
{
    memset(s, 0, sizeof(*s));
    if (td_test_decode(p, s, frame, ctx) != 0)
        fail_msg("'%s': %s", frame, ctx->err);
    assert_int_equal(ctx->nrec, n);
    for (int i = 0; i < n; i++)
        assert_record_sane(&ctx->rec[i]);
    return n ? &ctx->rec[0] : NULL;
}

const char *td_test_reply(const td_decode_ctx *ctx)
{
    static char buf[TD_REPLY_MAX + 1];
    memcpy(buf, ctx->reply, ctx->reply_len);
    buf[ctx->reply_len] = '\0';
    return buf;
}

void td_test_assert_time(const td_record *r, const char *iso)
{
    int64_t want;
    assert_true(td_parse_iso8601(iso, &want));
    assert_true(r->has_time);
    if (r->time_ms != want) {
        char got[32];
        fail_msg("time %s, want %s", td_iso8601(r->time_ms, got, sizeof(got)), iso);
    }
}

const td_record *td_test_find(const td_decode_ctx *ctx, td_rec_type type)
{
    for (int i = 0; i < ctx->nrec; i++)
        if (ctx->rec[i].type == type)
            return &ctx->rec[i];
    return NULL;
}

void assert_record_sane(const td_record *r)
{
    assert_true(r->type >= TD_REC_POSITION && r->type <= TD_REC_OTHER);
    /* After 1999, and no more than a day past the test clock. */
    assert_true(r->time_ms >= 946684800000LL);
    assert_true(r->time_ms <= TD_TEST_NOW_MS + 86400000LL || r->time_ms < 4102444800000LL);
    if (r->type == TD_REC_POSITION) {
        assert_true(r->latitude >= -90.0 && r->latitude <= 90.0);
        assert_true(r->longitude >= -180.0 && r->longitude <= 180.0);
        assert_true(r->speed >= 0.0 && r->speed < 2000.0);
        assert_true(r->course >= 0.0 && r->course <= 360.0);
    }
    if (td_rec_has(r, TD_ATTR_BATTERY_LEVEL))
        assert_true(r->attr[TD_ATTR_BATTERY_LEVEL].i >= 0 &&
                    r->attr[TD_ATTR_BATTERY_LEVEL].i <= 100);
    if (td_rec_has(r, TD_ATTR_SPO2))
        assert_true(r->attr[TD_ATTR_SPO2].i >= 0 && r->attr[TD_ATTR_SPO2].i <= 100);
    if (td_rec_has(r, TD_ATTR_HEART_RATE))
        assert_true(r->attr[TD_ATTR_HEART_RATE].i >= 0 && r->attr[TD_ATTR_HEART_RATE].i < 300);
    if (td_rec_has(r, TD_ATTR_BODY_TEMPERATURE))
        assert_true(r->attr[TD_ATTR_BODY_TEMPERATURE].d > 0 &&
                    r->attr[TD_ATTR_BODY_TEMPERATURE].d < 50);
    assert_true(r->ncells >= 0 && r->ncells <= TD_MAX_CELLS);
    assert_true(r->nwifi >= 0 && r->nwifi <= TD_MAX_WIFI);
    assert_true(r->nraw >= 0 && r->nraw <= TD_MAX_RAW);
}

void td_test_collect_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    td_test_frames *f = arg;
    (void)s;
    assert_true(f->n < TD_TEST_FRAMES_MAX && len <= sizeof(f->data[0]));
    memcpy(f->data[f->n], frame, len);
    f->len[f->n++] = len;
}

struct run_arg {
    td_test_run *run;
    td_decode_ctx ctx;
};

static void on_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    struct run_arg *a = arg;
    td_decode_ctx_reset(&a->ctx, &s->session, TD_TEST_NOW_MS);
    int rc = s->proto->decode(&a->ctx, frame, len);
    if (rc < 0) {
        if (a->run->errors++ == 0)
            snprintf(a->run->first_error, sizeof(a->run->first_error), "%s", a->ctx.err);
        return;
    }
    for (int i = 0; i < a->ctx.nrec; i++) {
        assert_record_sane(&a->ctx.rec[i]);
        json_array_append_new(a->run->records, td_record_json(&a->ctx.rec[i], s->proto->name));
    }
}

void td_test_run_bytes(const td_protocol *p, const uint8_t *data, size_t len, td_test_run *out)
{
    static struct run_arg a; /* large: keep it off the stack */
    td_stream st;
    char err[256];

    memset(out, 0, sizeof(*out));
    out->records = json_array();
    a.run = out;
    td_stream_init(&st, TD_TCP, p);
    int rc = td_stream_feed(&st, data, len, on_frame, &a, err, sizeof(err));
    if (rc == 0)
        rc = td_stream_flush(&st, on_frame, &a, err, sizeof(err));
    if (rc < 0 && out->errors++ == 0)
        snprintf(out->first_error, sizeof(out->first_error), "%s", err);
    out->proto = st.proto;
    td_stream_free(&st);
}

void td_test_run_free(td_test_run *run)
{
    json_decref(run->records);
    run->records = NULL;
}

static json_t *vectors_from(const char *file, const char *protocol);

json_t *td_test_vectors(const char *protocol)
{
    return vectors_from(TD_VECTORS_FILE, protocol);
}

json_t *td_test_family_vectors(const char *protocol)
{
    return vectors_from(TD_FAMILY_VECTORS_FILE, protocol);
}

void td_test_family_vectors_hold(const td_protocol *p)
{
    json_t *vectors = td_test_family_vectors(p->name);
    static uint8_t frame[70000];
    size_t i, forced = 0, detected = 0;
    json_t *v;

    assert_true(json_array_size(vectors) > 0);
    json_array_foreach(vectors, i, v)
    {
        size_t n = td_test_vector_frame(v, frame, sizeof(frame));
        td_test_run run;
        td_test_run_bytes(p, frame, n, &run);
        forced += (size_t)td_test_vector_holds(v, &run);
        td_test_run_free(&run);
        td_test_run_bytes(NULL, frame, n, &run);
        if (run.proto == p)
            detected += (size_t)td_test_vector_holds(v, &run);
        else
            fprintf(stderr, "%s#%lld: detected as %s\n", p->name,
                    (long long)json_integer_value(json_object_get(v, "index")),
                    run.proto ? run.proto->name : "(none)");
        td_test_run_free(&run);
    }
    fprintf(stderr, "%s vectors: %zu of %zu hold forced, %zu through detection\n", p->name, forced,
            json_array_size(vectors), detected);
    assert_int_equal(forced, json_array_size(vectors));
    assert_int_equal(detected, json_array_size(vectors));
    json_decref(vectors);
}

void td_test_claims_no_other_family(const td_protocol *p)
{
    json_t *sets[2] = {td_test_family_vectors(NULL), td_test_vectors(NULL)};
    static uint8_t frame[70000];
    size_t i, checked = 0;
    json_t *v;

    for (int s = 0; s < 2; s++) {
        json_array_foreach(sets[s], i, v)
        {
            const char *name = json_string_value(json_object_get(v, "protocol"));
            if (td_protocol_find(name) == p)
                continue;
            long long index = (long long)json_integer_value(json_object_get(v, "index"));
            size_t n = td_test_vector_frame(v, frame, sizeof(frame));
            for (size_t len = 1; len <= n && len <= 300; len++)
                if (p->detect(frame, len) == TD_DETECT_YES)
                    fail_msg("%s#%lld: %s says yes at %zu bytes", name, index, p->name, len);
            if (n >= 32 && p->detect(frame, 32) != TD_DETECT_NO)
                fail_msg("%s#%lld: %s does not say no by 32 bytes", name, index, p->name);
            checked++;
        }
        json_decref(sets[s]);
    }
    assert_true(checked > 400);
}

void td_test_family_detect_own(const td_protocol *p, size_t limit)
{
    json_t *vectors = td_test_family_vectors(p->name);
    static uint8_t frame[70000];
    size_t i;
    json_t *v;

    json_array_foreach(vectors, i, v)
    {
        long long index = (long long)json_integer_value(json_object_get(v, "index"));
        size_t n = td_test_vector_frame(v, frame, sizeof(frame));
        bool maybe;
        /* A frame within 32 bytes is judged at its end (td_detect_final):
         * its lost terminator may be what decides. */
        assert_ptr_equal(n <= 32 ? td_detect_final(frame, n, TD_TCP, &maybe)
                                 : td_detect(frame, 32, TD_TCP, &maybe),
                         p);
        if (p->transports & TD_UDP)
            assert_ptr_equal(td_detect_final(frame, n, TD_UDP, &maybe), p);
        for (size_t len = 0; len <= n && len <= limit; len++) {
            if (p->detect(frame, len) == TD_DETECT_NO)
                fail_msg("%s#%lld: no to its own %zu-byte prefix", p->name, index, len);
            for (size_t k = 0; k < td_protocol_count; k++)
                if (td_protocols[k] != p && td_protocols[k]->detect(frame, len) == TD_DETECT_YES)
                    fail_msg("%s#%lld: %s says yes at %zu bytes", p->name, index,
                             td_protocols[k]->name, len);
        }
    }
    json_decref(vectors);
}

void td_test_family_mutations(const td_protocol *p, const uint8_t *bytes, size_t n,
                              size_t positions, size_t *ok, size_t *failed)
{
    json_t *vectors = td_test_family_vectors(p->name);
    static uint8_t frame[70000], mutated[70000];
    size_t i;
    json_t *v;

    json_array_foreach(vectors, i, v)
    {
        size_t len = td_test_vector_frame(v, frame, sizeof(frame));
        size_t mok = 0, mbad = 0;
        for (size_t cut = 0; cut <= len; cut++)
            td_test_try_malformed(p, frame, cut, ok, failed);
        for (size_t k = 0; k < len && k < positions; k++) {
            for (size_t c = 0; c < n; c++) {
                memcpy(mutated, frame, len);
                mutated[k] = bytes[c];
                td_test_try_malformed(p, mutated, len, &mok, &mbad);
            }
        }
    }
    json_decref(vectors);
}

static json_t *vectors_from(const char *file, const char *protocol)
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0;
    json_t *all = json_array();

    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *v = json_loads(line, 0, &e);
        assert_non_null(v);
        const char *vp = json_string_value(json_object_get(v, "protocol"));
        /* The vectors call the IW family "trv"; trackd's name is "iw". */
        if (protocol && !(strcmp(vp, protocol) == 0 ||
                          (strcmp(vp, "trv") == 0 && strcmp(protocol, "iw") == 0))) {
            json_decref(v);
            continue;
        }
        json_array_append_new(all, v);
    }
    free(line);
    fclose(f);
    return all;
}

size_t td_test_vector_frame(json_t *v, uint8_t *out, size_t cap)
{
    const char *frame = json_string_value(json_object_get(v, "frame"));
    const char *kind = json_string_value(json_object_get(v, "kind"));
    size_t n = strlen(frame);

    if (strcmp(kind, "hex") == 0) {
        long got = td_hex_decode(frame, n, out, cap);
        assert_true(got >= 0);
        return (size_t)got;
    }
    assert_true(n <= cap);
    memcpy(out, frame, n);
    return n;
}

static int vec_fail(json_t *v, const td_test_run *run, const char *why)
{
    char *recs = json_dumps(run->records, JSON_COMPACT);
    fprintf(stderr, "vector %s#%lld: %s\n  frame: %.200s\n  records: %.600s\n  error: %s\n",
            json_string_value(json_object_get(v, "protocol")),
            (long long)json_integer_value(json_object_get(v, "index")), why,
            json_string_value(json_object_get(v, "frame")), recs, run->first_error);
    free(recs);
    return 0;
}

static bool value_matches(json_t *want, json_t *got)
{
    if (!got)
        return false;
    if (json_is_number(want) && json_is_number(got))
        return fabs(json_number_value(want) - json_number_value(got)) < 1e-6;
    return json_equal(want, got);
}

static bool has_alarm(json_t *rec, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(rec, "alarms"), i,
                       a) if (strcmp(json_string_value(a), name) == 0) return true;
    return false;
}

/* A position record matches the vector's optional time/valid/lat/lon. */
static bool fix_matches(json_t *v, json_t *rec)
{
    json_t *t = json_object_get(v, "time"), *valid = json_object_get(v, "valid");
    json_t *lat = json_object_get(v, "lat"), *lon = json_object_get(v, "lon");
    if (t) {
        int64_t want, got;
        if (!td_parse_iso8601(json_string_value(t), &want) ||
            !td_parse_iso8601(json_string_value(json_object_get(rec, "time")), &got) ||
            want / 1000 != got / 1000)
            return false;
    }
    if (valid && !json_equal(valid, json_object_get(rec, "valid")))
        return false;
    if (lat &&
        fabs(json_number_value(lat) - json_number_value(json_object_get(rec, "latitude"))) > 1e-4)
        return false;
    if (lon &&
        fabs(json_number_value(lon) - json_number_value(json_object_get(rec, "longitude"))) > 1e-4)
        return false;
    return true;
}

int td_test_vector_holds(json_t *v, const td_test_run *run)
{
    const char *expect = json_string_value(json_object_get(v, "expect"));
    size_t i, npos = 0;
    json_t *rec;

    if (run->errors)
        return vec_fail(v, run, "decode error");
    json_array_foreach(
        run->records, i,
        rec) if (strcmp(json_string_value(json_object_get(rec, "type")), "position") == 0) npos++;
    if (strcmp(expect, "null") == 0)
        return npos == 0 ? 1 : vec_fail(v, run, "expected no position");
    if (strcmp(expect, "notnull") == 0)
        return json_array_size(run->records) > 0 ? 1 : vec_fail(v, run, "expected a record");
    if (strcmp(expect, "position") == 0 || strcmp(expect, "positions") == 0) {
        if (npos == 0)
            return vec_fail(v, run, "expected a position");
        json_array_foreach(run->records, i, rec)
        {
            if (strcmp(json_string_value(json_object_get(rec, "type")), "position") != 0)
                continue;
            if (!fix_matches(v, rec))
                return vec_fail(v, run, "fix does not match");
            if (strcmp(expect, "position") == 0)
                break;
        }
        return 1;
    }
    if (strcmp(expect, "attribute") == 0) {
        const char *key = json_string_value(json_object_get(v, "key"));
        json_t *want = json_object_get(v, "value");
        json_array_foreach(run->records, i, rec)
        {
            if (strcmp(key, "alarm") == 0) {
                if (json_is_string(want) && has_alarm(rec, json_string_value(want)))
                    return 1;
                if (json_is_array(want)) {
                    size_t k, ok = 0;
                    json_t *w;
                    json_array_foreach(want, k, w) ok += has_alarm(rec, json_string_value(w));
                    if (ok == json_array_size(want))
                        return 1;
                }
            } else if (strcmp(key, "speed") == 0 || strcmp(key, "course") == 0 ||
                       strcmp(key, "altitude") == 0) {
                if (value_matches(want, json_object_get(rec, key)))
                    return 1;
            } else if (value_matches(want,
                                     json_object_get(json_object_get(rec, "attributes"), key))) {
                return 1;
            }
        }
        return vec_fail(v, run, "attribute not found");
    }
    return vec_fail(v, run, "unknown expectation");
}

void td_test_cmd_start(td_test_cmd *tc, const td_protocol *p, const char *type)
{
    memset(tc, 0, sizeof(*tc));
    tc->proto = p;
    tc->cmd.def = td_cmd_type_find(p, type);
    if (!tc->cmd.def)
        fail_msg("%s has no command %s", p->name, type);
    tc->cmd.id = 42;
    for (int i = 0; i < TD_CMD_PARAMS_MAX && tc->cmd.def->params[i].name; i++)
        if (tc->cmd.def->params[i].kind == TD_PARAM_INT)
            tc->cmd.arg[i].num = tc->cmd.def->params[i].def;
}

td_cmd_arg *td_test_cmd_arg(td_test_cmd *tc, const char *name)
{
    int i = td_cmd_param_index(tc->cmd.def, name);
    if (i < 0)
        fail_msg("%s has no parameter %s", tc->cmd.def->type, name);
    tc->cmd.arg[i].set = true;
    return &tc->cmd.arg[i];
}

void td_test_cmd_num(td_test_cmd *tc, const char *name, long v)
{
    td_test_cmd_arg(tc, name)->num = v;
}

void td_test_cmd_str(td_test_cmd *tc, const char *name, const char *v)
{
    td_cmd_arg *a = td_test_cmd_arg(tc, name);
    a->str = v;
    a->len = strlen(v);
}

void td_test_expect_commands(const td_protocol *p, const char *const *types, size_t n)
{
    size_t count = 0;
    for (const td_cmd_type *t = p->commands; t->type; t++, count++) {
        assert_non_null(t->label);
        for (int i = 0; i < TD_CMD_PARAMS_MAX && t->params[i].name; i++)
            assert_non_null(t->params[i].label);
    }
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++)
        assert_non_null(td_cmd_type_find(p, types[i]));
}

td_session *td_test_session(td_session *s, const char *device_id)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->device_id, sizeof(s->device_id), "%s", device_id);
    return s;
}

void td_test_expect_encode_n(const td_test_cmd *tc, const td_session *s, const void *want, size_t n,
                             const char *ack)
{
    static uint8_t out[1024];
    char key[TD_ACK_MAX], err[TD_ERRMSG_MAX] = "";
    size_t len = 0;

    int rc = tc->proto->encode(s, &tc->cmd, out, sizeof(out), &len, key, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s: %d %s", tc->cmd.def->type, rc, err);
    if (len != n || memcmp(out, want, n) != 0)
        fail_msg("%s: got '%.*s', want '%.*s'", tc->cmd.def->type, (int)len, (const char *)out,
                 (int)n, (const char *)want);
    assert_string_equal(key, ack);
}

void td_test_expect_encode(const td_test_cmd *tc, const td_session *s, const char *want,
                           const char *ack)
{
    td_test_expect_encode_n(tc, s, want, strlen(want), ack);
}

void td_test_expect_plain(td_test_cmd *tc, const td_protocol *p, td_session *(*session)(void),
                          const td_test_plain *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        td_test_cmd_start(tc, p, list[i].type);
        td_test_expect_encode(tc, session(), list[i].bytes, list[i].ack);
    }
}

void td_test_expect_encode_fail(const td_test_cmd *tc, const td_session *s, int code,
                                const char *msg)
{
    static uint8_t out[1024];
    char key[TD_ACK_MAX], err[TD_ERRMSG_MAX] = "";
    size_t len = 0;

    assert_int_equal(tc->proto->encode(s, &tc->cmd, out, sizeof(out), &len, key, err, sizeof(err)),
                     code);
    assert_string_equal(err, msg);
    assert_string_equal(key, "");
    assert_int_equal(len, 0);
}

void td_test_expect_too_small(const td_test_cmd *tc, const td_session *s, const void *want,
                              size_t n)
{
    static uint8_t out[2048];
    const char *name = tc->proto->name, *type = tc->cmd.def->type;
    char key[TD_ACK_MAX], err[TD_ERRMSG_MAX], msg[TD_ERRMSG_MAX];
    size_t len;

    assert_true(n < sizeof(out));
    for (size_t cap = 0; cap <= n; cap++) {
        memset(out, 0xAA, sizeof(out));
        strcpy(key, "x");
        len = 99;
        int rc = tc->proto->encode(s, &tc->cmd, out, cap, &len, key, err, sizeof(err));
        if (cap == n) {
            if (rc != 0)
                fail_msg("%s %s: cap %zu gave %d %s", name, type, cap, rc, err);
            assert_int_equal(len, n);
            assert_memory_equal(out, want, n);
        } else {
            if (rc != TD_ETOOBIG)
                fail_msg("%s %s: cap %zu gave %d", name, type, cap, rc);
            snprintf(msg, sizeof(msg), "%s: the %s command does not fit in %zu bytes", name, type,
                     cap);
            assert_string_equal(err, msg);
            assert_string_equal(key, "");
            assert_int_equal(len, 0);
        }
        for (size_t i = cap; i < sizeof(out); i++)
            if (out[i] != 0xAA)
                fail_msg("%s %s: byte %zu written with cap %zu", name, type, i, cap);
    }
}

void td_test_split_everywhere(const td_protocol *p, const uint8_t *bytes, size_t total,
                              const size_t *lens, size_t n)
{
    static td_test_frames f; /* large: keep it off the stack */

    for (size_t cut = 0; cut <= total; cut++) {
        td_stream st;
        char err[256] = "";
        memset(&f, 0, sizeof(f));
        td_stream_init(&st, TD_TCP, NULL);
        int rc = td_stream_feed(&st, bytes, cut, td_test_collect_frame, &f, err, sizeof(err));
        if (rc == 0)
            rc = td_stream_feed(&st, bytes + cut, total - cut, td_test_collect_frame, &f, err,
                                sizeof(err));
        if (rc == 0)
            rc = td_stream_flush(&st, td_test_collect_frame, &f, err, sizeof(err));
        if (rc != 0)
            fail_msg("%s cut at %zu: %d %s", p->name, cut, rc, err);
        assert_ptr_equal(st.proto, p);
        td_stream_free(&st);
        if ((size_t)f.n != n)
            fail_msg("%s cut at %zu: %d frames, want %zu", p->name, cut, f.n, n);
        for (size_t i = 0, at = 0; i < n; at += lens[i++]) {
            assert_int_equal(f.len[i], lens[i]);
            assert_memory_equal(f.data[i], bytes + at, lens[i]);
        }
    }
}

void td_test_try_malformed(const td_protocol *p, const uint8_t *data, size_t len, size_t *ok,
                           size_t *bad)
{
    static td_decode_ctx ctx; /* large: keep it off the stack */
    size_t nl = strlen(p->name);
    uint8_t *exact = malloc(len ? len : 1);
    td_test_run run;

    assert_non_null(exact);
    if (len)
        memcpy(exact, data, len);
    int rc = td_test_decode_bytes(p, NULL, exact, len, &ctx);
    if (rc < 0) {
        if (strncmp(ctx.err, p->name, nl) != 0 || ctx.err[nl] != ':')
            fail_msg("%s: error does not name the protocol: '%s'", p->name, ctx.err);
        (*bad)++;
    } else {
        (*ok)++;
    }
    td_test_run_bytes(p, exact, len, &run);
    if (run.errors && strncmp(run.first_error, p->name, nl) != 0)
        fail_msg("%s: stream error does not name the protocol: '%s'", p->name, run.first_error);
    td_test_run_free(&run);
    free(exact);
}

void td_test_mutations_named(const td_protocol *p, const uint8_t *bytes, size_t nbytes, size_t span,
                             size_t *ok, size_t *failed)
{
    json_t *vectors = td_test_family_vectors(p->name);
    static uint8_t frame[70000], mutated[70000];
    size_t i, mok = 0, mbad = 0;
    json_t *v;

    *ok = *failed = 0;
    json_array_foreach(vectors, i, v)
    {
        size_t n = td_test_vector_frame(v, frame, sizeof(frame));
        for (size_t len = 0; len <= n; len++)
            td_test_try_malformed(p, frame, len, ok, failed);
        for (size_t k = 0; k < n && k < span; k++) {
            for (size_t c = 0; c < nbytes; c++) {
                memcpy(mutated, frame, n);
                mutated[k] = bytes[c];
                td_test_try_malformed(p, mutated, n, &mok, &mbad);
            }
        }
    }
    fprintf(stderr,
            "%s truncated: %zu decoded, %zu rejected; corrupted: %zu decoded, %zu rejected\n",
            p->name, *ok, *failed, mok, mbad);
    json_decref(vectors);
}

int td_test_random_named(const td_protocol *p, const char *const opener[2], const char *alphabet,
                         int rounds)
{
    static uint8_t buf[512];
    size_t na = strlen(alphabet), ok = 0, bad = 0;

    srand(20260102);
    for (int round = 0; round < rounds; round++) {
        size_t len = 1 + (size_t)(rand() % 200), at = 0;
        if (round % 3) {
            at = strlen(opener[round % 3 - 1]);
            assert_true(at < 256);
            memcpy(buf, opener[round % 3 - 1], at);
        }
        len += at;
        for (size_t k = at; k < len; k++)
            buf[k] = round % 2 ? (uint8_t)alphabet[(size_t)rand() % na] : (uint8_t)(rand() & 0xff);
        size_t skip = (size_t)-1;
        long n = p->frame(buf, len, &skip);
        assert_true(skip <= len);
        assert_true(n == 0 || n == TD_ETOOBIG || (n > 0 && (size_t)n <= len - skip));
        td_test_try_malformed(p, buf, len, &ok, &bad);
    }
    return (int)bad;
}

void td_test_reply_hex(const td_decode_ctx *ctx, const char *want)
{
    char got[2 * TD_REPLY_MAX + 1];
    td_hex_encode(ctx->reply, ctx->reply_len, got, sizeof(got));
    assert_string_equal(got, want);
}

int64_t td_test_utc(int y, int mo, int d, int h, int mi, int s)
{
    int64_t ms;
    assert_true(td_utc_ms(y, mo, d, h, mi, s, &ms));
    return ms;
}

static const td_raw *raw_of(const td_record *r, const char *key, td_attr_type type)
{
    const td_raw *x = td_rec_raw_find(r, key);
    if (!x)
        fail_msg("raw attribute %s missing", key);
    assert_int_equal(x->type, type);
    return x;
}

int64_t td_test_raw_int(const td_record *r, const char *key)
{
    return raw_of(r, key, TD_T_INT)->v.i;
}

const char *td_test_raw_str(const td_record *r, const char *key)
{
    return r->arena + raw_of(r, key, TD_T_STRING)->str;
}

double td_test_raw_double(const td_record *r, const char *key)
{
    return raw_of(r, key, TD_T_DOUBLE)->v.d;
}

bool td_test_raw_bool(const td_record *r, const char *key)
{
    return raw_of(r, key, TD_T_BOOL)->v.b;
}

/* ---- random input ---- */

int td_test_random_inputs(const td_protocol *p, const char *head, const char *alphabet, int rounds)
{
    static uint8_t buf[1024];
    size_t hl = strlen(head), al = strlen(alphabet), ok = 0, rejected = 0;

    srand(20260102);
    for (int round = 0; round < rounds; round++) {
        size_t len = 1 + (size_t)(rand() % 300), at = 0;
        if (round % 2) {
            at = hl;
            memcpy(buf, head, at);
        }
        len += at;
        for (size_t k = at; k < len; k++)
            buf[k] = round % 4 < 2 ? (uint8_t)alphabet[rand() % al] : (uint8_t)(rand() & 0xff);
        size_t skip = (size_t)-1;
        long n = p->frame(buf, len, &skip);
        assert_true(skip <= len);
        assert_true(n == 0 || n == TD_ETOOBIG || (n > 0 && (size_t)n <= len - skip));
        td_test_try_malformed(p, buf, len, &ok, &rejected);
    }
    return (int)rejected;
}
