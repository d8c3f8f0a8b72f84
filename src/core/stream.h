/*
 * The stream assembler: the one place where bytes from a TCP connection (or
 * a `trackd decode` session) become frames. It detects the protocol from the
 * first bytes, buffers undecided input up to a limit, and then asks the
 * protocol's framer for frames, keeping partial frames across reads. Its
 * buffer is bounded by the protocol's max_frame (TD_DETECT_LIMIT before
 * detection) and freed in td_stream_free().
 */
#ifndef TRACKD_STREAM_H
#define TRACKD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "trackd/protocol.h"

#define TD_DETECT_LIMIT 256 /* undecided bytes kept before giving up */

typedef struct td_stream {
    const td_protocol *proto; /* NULL until detected (or forced) */
    td_session session;
    unsigned transport;
    uint8_t *buf;
    size_t len, cap;
    uint64_t frames; /* frames handed out so far */
} td_stream;

/* Called once per frame; the frame is valid only during the call. */
typedef void (*td_frame_cb)(void *arg, td_stream *s, const uint8_t *frame, size_t len);

void td_stream_init(td_stream *s, unsigned transport, const td_protocol *forced);
void td_stream_free(td_stream *s);

/*
 * Appends data and emits every complete frame. Returns 0 (all consumed or
 * buffered), TD_EAGAIN never; TD_ENOTFOUND-like errors as:
 *   TD_EUNSUPPORTED  no protocol matches the first bytes
 *   TD_ETOOBIG       undecided input or a frame exceeded its limit
 *   TD_EUNFRAMEABLE  the framer lost sync
 *   TD_ENOMEM
 * After an error the stream must be discarded; err holds a message.
 */
int td_stream_feed(td_stream *s, const uint8_t *data, size_t len, td_frame_cb cb, void *arg,
                   char *err, size_t errcap);

/*
 * End of input (`decode`: end of a line): hands out what is buffered as a
 * last frame even without its terminator. Detection gets its final say.
 * Returns 0 or an error as td_stream_feed().
 */
int td_stream_flush(td_stream *s, td_frame_cb cb, void *arg, char *err, size_t errcap);

#endif
