/*
 * The protocol registry: the ordered table generated from TD_PROTOCOL_LIST,
 * lookup by name, detection over all protocols, and the decode-context
 * helpers every decoder uses.
 */
#include "protocols/registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const td_protocol *const td_protocols[] = {
#define XX(name) &td_proto_##name,
    TD_PROTOCOL_LIST(XX)
#undef XX
};

const size_t td_protocol_count = sizeof(td_protocols) / sizeof(td_protocols[0]);

/* Input longer than this that no detector has decided is not retried with
 * a line end (the stream gives up on undecided input at 256 bytes). */
#define TD_DETECT_FINAL_MAX 512

/* Other names users know a protocol by. */
static const struct {
    const char *alias, *name;
} aliases[] = {
    {"trv", "iw"},
    {"iwap", "iw"},
    {"3g", "watch"},
};

const td_protocol *td_protocol_find(const char *name)
{
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(aliases[i].alias, name) == 0)
            name = aliases[i].name;
    for (size_t i = 0; i < td_protocol_count; i++)
        if (strcmp(td_protocols[i]->name, name) == 0)
            return td_protocols[i];
    return NULL;
}

const td_protocol *td_detect(const uint8_t *buf, size_t len, unsigned transport, bool *maybe)
{
    *maybe = false;
    for (size_t i = 0; i < td_protocol_count; i++) {
        const td_protocol *p = td_protocols[i];
        if (!(p->transports & transport))
            continue;
        int d = p->detect(buf, len);
        if (d == TD_DETECT_YES)
            return p;
        if (d == TD_DETECT_MAYBE)
            *maybe = true;
    }
    return NULL;
}

const td_protocol *td_detect_final(const uint8_t *buf, size_t len, unsigned transport, bool *maybe)
{
    uint8_t line[TD_DETECT_FINAL_MAX + 1];

    const td_protocol *p = td_detect(buf, len, transport, maybe);
    if (p || !*maybe || len > TD_DETECT_FINAL_MAX)
        return p;
    memcpy(line, buf, len);
    line[len] = '\n';
    return td_detect(line, len + 1, transport, maybe);
}

const td_cmd_type *td_cmd_type_find(const td_protocol *p, const char *type)
{
    for (const td_cmd_type *t = p->commands; t && t->type; t++)
        if (strcmp(t->type, type) == 0)
            return t;
    return NULL;
}

int td_cmd_param_index(const td_cmd_type *t, const char *name)
{
    for (int i = 0; i < TD_CMD_PARAMS_MAX && t->params[i].name; i++)
        if (strcmp(t->params[i].name, name) == 0)
            return i;
    return -1;
}

void td_decode_ctx_reset(td_decode_ctx *ctx, td_session *session, int64_t now_ms)
{
    ctx->session = session;
    ctx->now_ms = now_ms;
    ctx->nrec = 0;
    ctx->reply_len = 0;
    ctx->err[0] = '\0';
    ctx->ack[0] = '\0';
    ctx->ack_failed = false;
    ctx->ack_result[0] = '\0';
    memset(&ctx->media, 0, sizeof(ctx->media));
}

td_record *td_ctx_add(td_decode_ctx *ctx, td_rec_type type)
{
    if (ctx->nrec >= TD_MAX_RECORDS)
        return NULL;
    td_record *r = &ctx->rec[ctx->nrec++];
    td_record_init(r, type);
    if (ctx->session)
        memcpy(r->device_id, ctx->session->device_id, TD_DEVICE_ID_MAX);
    r->time_ms = ctx->now_ms;
    return r;
}

int td_ctx_error(td_decode_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
    va_end(ap);
    return code;
}

int td_ctx_reply(td_decode_ctx *ctx, const void *data, size_t len)
{
    if (ctx->reply_len + len > TD_REPLY_MAX)
        return TD_ETOOBIG;
    memcpy(ctx->reply + ctx->reply_len, data, len);
    ctx->reply_len += len;
    return 0;
}

int td_ctx_replyf(td_decode_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    size_t room = TD_REPLY_MAX - ctx->reply_len;
    va_start(ap, fmt);
    int n = vsnprintf((char *)ctx->reply + ctx->reply_len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        return TD_ETOOBIG;
    ctx->reply_len += (size_t)n;
    return 0;
}

int td_session_identify(td_session *s, const char *id, size_t len)
{
    if (len == 0 || len >= TD_DEVICE_ID_MAX)
        return TD_EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '_' || c == '-'))
            return TD_EINVAL;
    }
    memcpy(s->device_id, id, len);
    s->device_id[len] = '\0';
    return 0;
}
