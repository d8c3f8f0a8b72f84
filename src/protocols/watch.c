/* watch: placeholder descriptor until the decoder lands. */
#include "protocols/registry.h"

static int detect(const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    return TD_DETECT_NO;
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    (void)buf;
    *skip = 0;
    return (long)len;
}

static int decode(td_decode_ctx *ctx, const uint8_t *f, size_t len)
{
    (void)f;
    (void)len;
    return td_ctx_error(ctx, TD_EUNSUPPORTED, "watch: not implemented");
}

const td_protocol td_proto_watch = {
    .name = "watch",
    .transports = TD_TCP | TD_UDP,
    .max_frame = 1024,
    .detect = detect,
    .frame = frame,
    .decode = decode,
    .encode = NULL,
};
