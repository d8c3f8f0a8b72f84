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

void td_test_expect_error_bytes(const td_protocol *p, td_decode_ctx *ctx, const uint8_t *frame,
                                size_t len, const char *msg)
{
    if (td_test_decode_bytes(p, NULL, frame, len, ctx) >= 0)
        fail_msg("'%.*s' decoded, want '%s'", (int)(len < 60 ? len : 60), (const char *)frame, msg);
    assert_int_equal(ctx->nrec, 0);
    assert_string_equal(ctx->err, msg);
}

void td_test_expect_error(const td_protocol *p, td_decode_ctx *ctx, const char *frame,
                          const char *msg)
{
    td_test_expect_error_bytes(p, ctx, (const uint8_t *)frame, strlen(frame), msg);
}

void td_test_expect_errors(const td_protocol *p, const td_test_error *cases, size_t n)
{
    static td_decode_ctx ctx; /* large: keep it off the stack */
    for (size_t i = 0; i < n; i++)
        td_test_expect_error(p, &ctx, cases[i].frame, cases[i].msg);
}

const td_record *td_test_decode_bytes_n(const td_protocol *p, td_session *s, const uint8_t *frame,
                                        size_t len, td_decode_ctx *ctx, int n)
{
    memset(s, 0, sizeof(*s));
    if (td_test_decode_bytes(p, s, frame, len, ctx) != 0)
        fail_msg("'%.*s': %s", (int)(len < 60 ? len : 60), (const char *)frame, ctx->err);
    assert_int_equal(ctx->nrec, n);
    for (int i = 0; i < n; i++)
        assert_record_sane(&ctx->rec[i]);
    return n ? &ctx->rec[0] : NULL;
}

const td_record *td_test_decode_n(const td_protocol *p, td_session *s, const char *frame,
                                  td_decode_ctx *ctx, int n)
{
    return td_test_decode_bytes_n(p, s, (const uint8_t *)frame, strlen(frame), ctx, n);
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

void assert_attributes_text(const td_record *r)
{
    json_t *a = td_record_attributes_json(r);
    char *want = json_dumps(a, JSON_COMPACT);
    char *got = td_record_attributes_text(r);
    json_decref(a);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
    free(got);
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
        assert_attributes_text(&a->ctx.rec[i]);
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

static bool is_known(long long index, const long long *known, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (known[i] == index)
            return true;
    return false;
}

/* 1 when the run of vector v holds (or, for a known difference, decoded
 * without an error). */
static int vector_result(json_t *v, const td_test_run *run, const long long *known, size_t nknown)
{
    if (is_known((long long)json_integer_value(json_object_get(v, "index")), known, nknown))
        return run->errors == 0;
    return td_test_vector_holds(v, run);
}

size_t td_test_family_vectors_except(const td_protocol *p, const long long *known, size_t nknown)
{
    json_t *vectors = td_test_family_vectors(p->name);
    static uint8_t frame[70000];
    size_t i, forced = 0, detected = 0, total = json_array_size(vectors);
    json_t *v;

    assert_true(total > 0);
    json_array_foreach(vectors, i, v)
    {
        size_t n = td_test_vector_frame(v, frame, sizeof(frame));
        td_test_run run;
        td_test_run_bytes(p, frame, n, &run);
        forced += (size_t)vector_result(v, &run, known, nknown);
        td_test_run_free(&run);
        td_test_run_bytes(NULL, frame, n, &run);
        if (run.proto == p)
            detected += (size_t)vector_result(v, &run, known, nknown);
        else
            fprintf(stderr, "%s#%lld: detected as %s\n", p->name,
                    (long long)json_integer_value(json_object_get(v, "index")),
                    run.proto ? run.proto->name : "(none)");
        td_test_run_free(&run);
    }
    fprintf(stderr, "%s vectors: %zu of %zu hold forced, %zu through detection", p->name, forced,
            total, detected);
    if (nknown)
        fprintf(stderr, " (%zu known differences)", nknown);
    fputc('\n', stderr);
    assert_int_equal(forced, total);
    assert_int_equal(detected, total);
    json_decref(vectors);
    return total;
}

size_t td_test_family_vectors_hold(const td_protocol *p)
{
    return td_test_family_vectors_except(p, NULL, 0);
}

void td_test_claims_no_other_family(const td_protocol *p, size_t no_by)
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
            if (p->detect(frame, n) == TD_DETECT_YES)
                fail_msg("%s#%lld: %s says yes to the whole frame", name, index, p->name);
            size_t first = n < 32 ? n : 32;
            if (n >= no_by && p->detect(frame, first) != TD_DETECT_NO)
                fail_msg("%s#%lld: %s does not say no by %zu bytes", name, index, p->name, first);
            checked++;
        }
        json_decref(sets[s]);
    }
    assert_true(checked > 400);
}

void td_test_detect_own(const td_protocol *p, const uint8_t *frame, size_t n, size_t yes_by,
                        const char *what)
{
    bool maybe;
    /* A frame within 32 bytes is judged at its end (td_detect_final): its
     * lost terminator may be what decides. */
    const td_protocol *got =
        n <= 32 ? td_detect_final(frame, n, TD_TCP, &maybe) : td_detect(frame, 32, TD_TCP, &maybe);
    if (got != p)
        fail_msg("%s: detected as %s over TCP", what, got ? got->name : "(none)");
    if ((p->transports & TD_UDP) && td_detect_final(frame, n, TD_UDP, &maybe) != p)
        fail_msg("%s: not detected over UDP", what);
    for (size_t len = 0; len <= n; len++) {
        int d = p->detect(frame, len);
        if (d == TD_DETECT_NO)
            fail_msg("%s: no to its own %zu-byte prefix", what, len);
        if (yes_by && len >= yes_by && d != TD_DETECT_YES)
            fail_msg("%s: undecided at %zu bytes", what, len);
        for (size_t k = 0; k < td_protocol_count; k++)
            if (td_protocols[k] != p && td_protocols[k]->detect(frame, len) == TD_DETECT_YES)
                fail_msg("%s: %s says yes at %zu bytes", what, td_protocols[k]->name, len);
    }
}

void td_test_family_detect_own(const td_protocol *p, size_t yes_by)
{
    json_t *vectors = td_test_family_vectors(p->name);
    static uint8_t frame[70000];
    size_t i;
    json_t *v;

    json_array_foreach(vectors, i, v)
    {
        char what[64];
        snprintf(what, sizeof(what), "%s#%lld", p->name,
                 (long long)json_integer_value(json_object_get(v, "index")));
        td_test_detect_own(p, frame, td_test_vector_frame(v, frame, sizeof(frame)), yes_by, what);
    }
    json_decref(vectors);
}

void td_test_family_vectors_case(void **state)
{
    const td_test_family *f = *state;
    size_t n = td_test_family_vectors_except(f->proto, f->known, f->nknown);
    assert_true(n >= f->min_vectors);
}

void td_test_family_detect_own_case(void **state)
{
    const td_test_family *f = *state;
    td_test_family_detect_own(f->proto, f->yes_by);
}

void td_test_claims_no_other_family_case(void **state)
{
    const td_test_family *f = *state;
    td_test_claims_no_other_family(f->proto, f->no_by ? f->no_by : 32);
}

void td_test_family_mutations_case(void **state)
{
    const td_test_family *f = *state;
    size_t ok, failed;
    td_test_family_mutations(f->proto, f->corrupt, f->ncorrupt,
                             f->positions ? f->positions : SIZE_MAX, &ok, &failed);
    assert_true(ok > 0 && failed > 0);
    if (f->mostly_rejected)
        assert_true(failed > ok);
}

void td_test_family_random_case(void **state)
{
    const td_test_family *f = *state;
    assert_true(f->random.rounds > 0);
    int rejected = td_test_random_inputs(f->proto, &f->random);
    if (rejected <= f->min_rejected)
        fail_msg("%s: %d random inputs rejected, want more than %d", f->proto->name, rejected,
                 f->min_rejected);
}

void td_test_frame_mutations(const td_protocol *p, const uint8_t *frame, size_t len,
                             const uint8_t *bytes, size_t n, size_t positions, size_t *ok,
                             size_t *bad, size_t *cok, size_t *cbad)
{
    static uint8_t mutated[70000];

    assert_true(len <= sizeof(mutated));
    for (size_t cut = 0; cut <= len; cut++)
        td_test_try_malformed(p, frame, cut, ok, bad);
    for (size_t k = 0; k < len && k < positions; k++) {
        for (size_t c = 0; c < n; c++) {
            memcpy(mutated, frame, len);
            mutated[k] = bytes[c];
            td_test_try_malformed(p, mutated, len, cok, cbad);
        }
    }
}

void td_test_stream_mutations(const td_protocol *p, const td_test_stream *s, const uint8_t *bytes,
                              size_t n, size_t *ok, size_t *bad)
{
    for (size_t i = 0; i < s->n; i++)
        td_test_frame_mutations(p, s->bytes + s->at[i], s->flen[i], bytes, n, SIZE_MAX, ok, bad, ok,
                                bad);
    assert_true(*ok > 0);
    assert_true(*bad > 0);
}

void td_test_stream_decodes(const td_protocol *p, const td_test_stream *s, td_session *sess)
{
    static td_decode_ctx ctx; /* large: keep it off the stack */
    for (size_t i = 0; i < s->n; i++)
        if (td_test_decode_bytes(p, sess, s->bytes + s->at[i], s->flen[i], &ctx) != 0)
            fail_msg("%s frame %zu: %s", p->name, i, ctx.err);
}

void td_test_family_mutations(const td_protocol *p, const uint8_t *bytes, size_t n,
                              size_t positions, size_t *ok, size_t *failed)
{
    json_t *vectors = td_test_family_vectors(p->name);
    static uint8_t frame[70000];
    size_t i, cok = 0, cbad = 0;
    json_t *v;

    *ok = *failed = 0;
    json_array_foreach(vectors, i, v)
    {
        size_t len = td_test_vector_frame(v, frame, sizeof(frame));
        td_test_frame_mutations(p, frame, len, bytes, n, positions, ok, failed, &cok, &cbad);
    }
    fprintf(stderr,
            "%s truncated: %zu decoded, %zu rejected; corrupted: %zu decoded, %zu rejected\n",
            p->name, *ok, *failed, cok, cbad);
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

void td_test_detect_each(const td_protocol *p, const char *const *prefixes, size_t n, int want)
{
    for (size_t i = 0; i < n; i++) {
        int got = p->detect((const uint8_t *)prefixes[i], strlen(prefixes[i]));
        if (got != want)
            fail_msg("%s: detect('%s') = %d, want %d", p->name, prefixes[i], got, want);
    }
}

void td_test_stream_reset(td_test_stream *s)
{
    s->len = s->n = 0;
}

void td_test_stream_noise(td_test_stream *s, const void *bytes, size_t len)
{
    assert_true(len <= sizeof(s->bytes) - s->len);
    memcpy(s->bytes + s->len, bytes, len);
    s->len += len;
}

void td_test_stream_frame(td_test_stream *s, const void *frame, size_t len)
{
    assert_true(s->n < TD_TEST_FRAMES_MAX);
    s->at[s->n] = s->len;
    s->flen[s->n++] = len;
    td_test_stream_noise(s, frame, len);
}

void td_test_stream_text(td_test_stream *s, const char *frame)
{
    td_test_stream_frame(s, frame, strlen(frame));
}

void td_test_stream_texts(td_test_stream *s, const char *const *frames, size_t n)
{
    for (size_t i = 0; i < n; i++)
        td_test_stream_text(s, frames[i]);
}

/* Feeds s's first `cut` bytes, then the rest `step` bytes at a time (0:
 * at once), into a stream with p forced or through detection, and checks
 * the frames. */
static void split_run(const td_protocol *p, bool forced, const td_test_stream *s, size_t cut,
                      size_t step, size_t early)
{
    static td_test_frames f; /* large: keep it off the stack */
    const char *how = forced ? "forced" : "detected";
    td_stream st;
    char err[256] = "";
    int rc = 0;

    memset(&f, 0, sizeof(f));
    td_stream_init(&st, TD_TCP, forced ? p : NULL);
    if (cut)
        rc = td_stream_feed(&st, s->bytes, cut, td_test_collect_frame, &f, err, sizeof(err));
    for (size_t at = cut; rc == 0 && at < s->len;) {
        size_t k = step && step < s->len - at ? step : s->len - at;
        rc = td_stream_feed(&st, s->bytes + at, k, td_test_collect_frame, &f, err, sizeof(err));
        at += k;
    }
    if (rc != 0)
        fail_msg("%s %s, cut at %zu, step %zu: %d %s", p->name, how, cut, step, rc, err);
    assert_ptr_equal(st.proto, p);
    if ((size_t)f.n < early)
        fail_msg("%s %s, cut at %zu, step %zu: %d frames before the flush, want %zu", p->name, how,
                 cut, step, f.n, early);
    if (early == s->n && st.len != 0)
        fail_msg("%s %s, cut at %zu, step %zu: %zu bytes left", p->name, how, cut, step, st.len);
    rc = td_stream_flush(&st, td_test_collect_frame, &f, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s %s, cut at %zu, step %zu: flush %d %s", p->name, how, cut, step, rc, err);
    td_stream_free(&st);
    if ((size_t)f.n != s->n)
        fail_msg("%s %s, cut at %zu, step %zu: %d frames, want %zu", p->name, how, cut, step, f.n,
                 s->n);
    for (size_t i = 0; i < s->n; i++) {
        assert_int_equal(f.len[i], s->flen[i]);
        assert_memory_equal(f.data[i], s->bytes + s->at[i], s->flen[i]);
    }
}

static void split_all(const td_protocol *p, bool forced, const td_test_stream *s, size_t early)
{
    assert_true(early <= s->n);
    for (size_t cut = 0; cut <= s->len; cut++)
        split_run(p, forced, s, cut, 0, early);
    split_run(p, forced, s, 0, 1, early);
}

void td_test_split_everywhere(const td_protocol *p, const td_test_stream *s, size_t early)
{
    split_all(p, true, s, early);
    split_all(p, false, s, early);
}

void td_test_split_forced(const td_protocol *p, const td_test_stream *s, size_t early)
{
    split_all(p, true, s, early);
}

size_t td_test_frame_too_big(const td_protocol *p, const char *head, char fill, size_t size)
{
    static td_test_frames f; /* large: keep it off the stack */
    size_t hl = strlen(head), skip = 99;
    uint8_t *big = malloc(size);
    char err[256] = "";

    assert_non_null(big);
    assert_true(hl <= size);
    memcpy(big, head, hl);
    memset(big + hl, fill, size - hl);
    assert_int_equal(p->frame(big, size, &skip), TD_ETOOBIG);
    assert_true(skip < hl);
    for (int how = 0; how < 4; how++) {
        size_t step = how / 2 ? 100 : size;
        td_stream st;
        int rc = 0;
        memset(&f, 0, sizeof(f));
        td_stream_init(&st, TD_TCP, how % 2 ? p : NULL);
        for (size_t at = 0; rc == 0 && at < size; at += step)
            rc = td_stream_feed(&st, big + at, step < size - at ? step : size - at,
                                td_test_collect_frame, &f, err, sizeof(err));
        assert_int_equal(rc, TD_ETOOBIG);
        if (!strstr(err, p->name))
            fail_msg("%s: the stream's error does not name it: '%s'", p->name, err);
        assert_int_equal(f.n, 0);
        td_stream_free(&st);
    }
    free(big);
    return skip;
}

void td_test_frame_fits(const td_protocol *p, const char *head, char fill, size_t fits, char end)
{
    size_t hl = strlen(head), skip = 99;
    uint8_t *buf = malloc(fits + 1);

    assert_non_null(buf);
    assert_true(hl <= fits);
    memcpy(buf, head, hl);
    memset(buf + hl, fill, fits - hl);
    assert_int_equal(p->frame(buf, fits, &skip), 0);
    buf[fits] = (uint8_t)end;
    assert_int_equal(p->frame(buf, fits + 1, &skip), (long)fits + 1);
    assert_int_equal(skip, 0);
    free(buf);
}

int td_test_try_malformed(const td_protocol *p, const uint8_t *data, size_t len, size_t *ok,
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
    return rc;
}

void td_test_reply_hex(const td_decode_ctx *ctx, const char *want)
{
    char got[2 * TD_REPLY_MAX + 1];
    td_hex_encode(ctx->reply, ctx->reply_len, got, sizeof(got));
    assert_string_equal(got, want);
}

void td_test_assert_near(double got, double want)
{
    if (!(fabs(got - want) <= 1e-6))
        fail_msg("got %.9f, want %.9f", got, want);
}

void td_test_assert_reply(const td_decode_ctx *ctx, const char *want)
{
    assert_string_equal(td_test_reply(ctx), want);
}

void td_test_assert_fix(const td_record *r, const char *iso, double lat, double lon, double speed,
                        double course)
{
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_true(r->valid);
    td_test_assert_time(r, iso);
    td_test_assert_near(r->latitude, lat);
    td_test_assert_near(r->longitude, lon);
    if (!(fabs(r->speed - speed) <= 1e-9) || !(fabs(r->course - course) <= 1e-9))
        fail_msg("speed %.9f, course %.9f; want %.9f, %.9f", r->speed, r->course, speed, course);
}

void td_test_assert_cell(const td_record *r, int i, int mcc, int mnc, int64_t lac, int64_t cid)
{
    assert_true(i < r->ncells);
    assert_int_equal(r->cells[i].mcc, mcc);
    assert_int_equal(r->cells[i].mnc, mnc);
    assert_int_equal(r->cells[i].lac, lac);
    assert_int_equal(r->cells[i].cid, cid);
}

int64_t td_test_attr_int(const td_record *r, td_attr a)
{
    assert_true(td_rec_has(r, a));
    return r->attr[a].i;
}

double td_test_attr_double(const td_record *r, td_attr a)
{
    assert_true(td_rec_has(r, a));
    return r->attr[a].d;
}

bool td_test_attr_bool(const td_record *r, td_attr a)
{
    assert_true(td_rec_has(r, a));
    return r->attr[a].b;
}

size_t td_test_unhex(const char *hex, uint8_t *out, size_t cap)
{
    long n = td_hex_decode(hex, strlen(hex), out, cap);
    if (n < 0)
        fail_msg("not hex, or more than %zu bytes: '%.60s'", cap, hex);
    return (size_t)n;
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

int td_test_random_inputs(const td_protocol *p, const td_test_random *spec)
{
    static uint8_t buf[2048];
    size_t nheads = 0, al = strlen(spec->alphabet), tl = spec->tail ? strlen(spec->tail) : 0;
    size_t max_len = spec->max_len ? spec->max_len : 200, ok = 0, rejected = 0;

    while (nheads < 3 && spec->head[nheads])
        nheads++;
    srand(20260102);
    for (int round = 0; round < spec->rounds; round++) {
        size_t which = (size_t)round % (nheads + 1), at = 0;
        size_t len = 1 + (size_t)rand() % max_len;
        if (which) {
            const char *head = spec->head[which - 1];
            at = spec->head_len[which - 1] ? spec->head_len[which - 1] : strlen(head);
            memcpy(buf, head, at);
        }
        len += at;
        assert_true(len <= sizeof(buf));
        bool from_alphabet = ((size_t)round / (nheads + 1)) % 2 == 1;
        for (size_t k = at; k < len; k++)
            buf[k] = from_alphabet ? (uint8_t)spec->alphabet[(size_t)rand() % al]
                                   : (uint8_t)(rand() & 0xff);
        if (tl && round % 8 == 1 && len > at + tl)
            memcpy(buf + len - tl, spec->tail, tl);
        int d = p->detect(buf, len);
        assert_true(d == TD_DETECT_YES || d == TD_DETECT_NO || d == TD_DETECT_MAYBE);
        size_t skip = (size_t)-1;
        long n = p->frame(buf, len, &skip);
        assert_true(skip <= len);
        if (!(n == 0 || n == TD_ETOOBIG || (spec->refusable && n == TD_EUNFRAMEABLE) ||
              (n > 0 && (size_t)n <= len - skip)))
            fail_msg("%s: frame() = %ld for %zu bytes, skipping %zu", p->name, n, len, skip);
        td_test_try_malformed(p, buf, len, &ok, &rejected);
    }
    fprintf(stderr, "%s random: %zu decoded, %zu rejected\n", p->name, ok, rejected);
    return (int)rejected;
}
