/*
 * `trackd decode [--protocol NAME] [--hex] [FILE]`: reads frames one per
 * line and prints one JSON object per record (or per undecodable frame).
 * Consecutive lines form one session, as if they arrived over one TCP
 * connection; a blank line starts a new session with fresh detection.
 */
#include "core/decode_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/record_json.h"
#include "core/stream.h"
#include "core/text.h"
#include "protocols/registry.h"

#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

typedef struct decode_run {
    FILE *out;
    long line;
    td_decode_ctx ctx;
} decode_run;

static void print_json(FILE *out, json_t *o)
{
    char *s = json_dumps(o, JSON_FLAGS);
    if (s) {
        fprintf(out, "%s\n", s);
        free(s);
    }
    json_decref(o);
}

static void print_error(decode_run *r, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "line", json_integer(r->line));
    json_object_set_new(o, "error", json_string(msg));
    print_json(r->out, o);
}

/* Text replies as they are; binary ones as "hex:...". */
static json_t *reply_json(const uint8_t *data, size_t len)
{
    bool text = true;
    for (size_t i = 0; i < len && text; i++)
        text = (data[i] >= 0x20 && data[i] < 0x7f) || data[i] == '\r' || data[i] == '\n';
    if (text)
        return json_stringn((const char *)data, len);
    char *hex = malloc(len * 2 + 5);
    if (!hex)
        return json_null();
    memcpy(hex, "hex:", 4);
    td_hex_encode(data, len, hex + 4, len * 2 + 1);
    json_t *s = json_string(hex);
    free(hex);
    return s;
}

static void on_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    decode_run *r = arg;
    td_decode_ctx *ctx = &r->ctx;

    td_decode_ctx_reset(ctx, &s->session, td_now_ms());
    int rc = s->proto->decode(ctx, frame, len);
    if (rc < 0) {
        print_error(r, ctx->err[0] ? ctx->err : td_strerror(rc));
        return;
    }
    for (int i = 0; i < ctx->nrec || (i == 0 && ctx->reply_len); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "line", json_integer(r->line));
        if (i < ctx->nrec) {
            json_t *rec = td_record_json(&ctx->rec[i], s->proto->name);
            json_object_update(o, rec);
            json_decref(rec);
        } else {
            /* A reply with no record: still show what would be sent. */
            json_object_set_new(o, "protocol", json_string(s->proto->name));
            json_object_set_new(o, "type", json_string("other"));
            if (s->session.device_id[0])
                json_object_set_new(o, "deviceId", json_string(s->session.device_id));
        }
        if (i == 0 && ctx->reply_len)
            json_object_set_new(o, "reply", reply_json(ctx->reply, ctx->reply_len));
        print_json(r->out, o);
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: trackd decode [--protocol NAME] [--hex] [FILE]\n"
                 "  Decodes frames, one per line, from FILE or standard input and prints one\n"
                 "  JSON object per record. A blank line starts a new session.\n"
                 "  --protocol NAME  skip detection (");
    for (size_t i = 0; i < td_protocol_count; i++)
        fprintf(out, "%s%s", i ? ", " : "", td_protocols[i]->name);
    fprintf(out, ")\n  --hex            each line is the hex of one binary frame\n");
}

int td_decode_main(int argc, char **argv)
{
    static decode_run run; /* holds a decode context: keep it off the stack */
    const td_protocol *forced = NULL;
    const char *path = NULL;
    bool hex = false;
    FILE *in = stdin;
    char err[512];

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--hex")) {
            hex = true;
        } else if (!strcmp(argv[i], "--protocol") || !strncmp(argv[i], "--protocol=", 11)) {
            const char *name = argv[i][10] == '=' ? argv[i] + 11 : (i + 1 < argc ? argv[++i] : "");
            forced = td_protocol_find(name);
            if (!forced) {
                fprintf(stderr, "trackd decode: unknown protocol '%s'\n", name);
                usage(stderr);
                return 2;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "trackd decode: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "trackd decode: only one FILE may be given\n");
            return 2;
        }
    }
    if (path && strcmp(path, "-") != 0) {
        in = fopen(path, "rb");
        if (!in) {
            fprintf(stderr, "trackd decode: cannot open '%s': %s\n", path, strerror(errno));
            return 1;
        }
    }

    memset(&run, 0, sizeof(run));
    run.out = stdout;
    td_stream st;
    td_stream_init(&st, TD_TCP, forced);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint8_t *bin = NULL;
    size_t bincap = 0;

    while ((n = getline(&line, &cap, in)) >= 0) {
        run.line++;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0) {
            /* Blank line: the session ends. */
            td_stream_free(&st);
            td_stream_init(&st, TD_TCP, forced);
            continue;
        }
        const uint8_t *data = (const uint8_t *)line;
        size_t len = (size_t)n;
        if (hex) {
            if (bincap < len / 2 + 1) {
                bincap = len / 2 + 1;
                uint8_t *b = realloc(bin, bincap);
                if (!b) {
                    print_error(&run, "out of memory");
                    continue;
                }
                bin = b;
            }
            long got = td_hex_decode(line, len, bin, bincap);
            if (got < 0) {
                print_error(&run, "bad hex: odd number of digits or a non-hex character");
                continue;
            }
            data = bin;
            len = (size_t)got;
        }
        int rc = td_stream_feed(&st, data, len, on_frame, &run, err, sizeof(err));
        if (rc == 0)
            rc = td_stream_flush(&st, on_frame, &run, err, sizeof(err));
        if (rc < 0) {
            print_error(&run, err);
            /* A stream that cannot continue: the next line starts afresh,
             * keeping the device identity the session had. */
            td_session keep = st.session;
            td_stream_free(&st);
            td_stream_init(&st, TD_TCP, forced ? forced : NULL);
            st.session = keep;
        }
        fflush(stdout);
    }
    td_stream_free(&st);
    free(line);
    free(bin);
    if (in != stdin)
        fclose(in);
    return 0;
}
