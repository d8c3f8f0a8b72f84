/*
 * What one fuzz input does, shared by the libFuzzer targets (fuzz/target.c)
 * and the unit test that replays saved inputs (tests/unit/test_fuzz.c), so
 * both run exactly the same code. The input goes through the server's own
 * paths: detection (td_detect, td_detect_final), the stream assembler
 * (td_stream_feed in chunks, td_stream_flush), each protocol's framer and
 * decoder with one session kept across frames, the JSON form of every
 * record, and voice reassembly. Besides the sanitizers, the harness checks
 * the contracts of include/trackd/protocol.h on every call.
 *
 * How the input is cut into reads, the reply time zone and the voice
 * scratch buffer are derived from a hash of the input, so an input always
 * replays the same way.
 */
#ifndef TRACKD_FUZZ_HARNESS_H
#define TRACKD_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "trackd/protocol.h"

/* The server clock of every decode (2026-01-01T00:00:00Z). */
#define TD_FUZZ_NOW_MS 1767225600000LL

/* What a run did, for tests that check the harness reaches the decoders. */
typedef struct td_fuzz_stats {
    const td_protocol *detected; /* protocol the auto-detecting TCP stream chose */
    unsigned long frames;        /* frames handed to a decoder */
    unsigned long records;       /* records decoded */
    unsigned long decode_errors; /* frames a decoder refused */
    unsigned long stream_errors; /* streams that gave up (lost sync, too big, unknown) */
    unsigned long udp_frames;    /* frames of the datagram pass */
    unsigned long voice;         /* whole voice messages reassembled */
} td_fuzz_stats;

/*
 * Detection and the auto-detecting stream: every detector on the input for
 * TCP and UDP (each answer must be yes/no/maybe, at most one may say yes,
 * td_detect and td_detect_final must agree with them), then the input as a
 * TCP connection (detected stream fed in chunks, each frame decoded, flush
 * at the end; the stream stops at its first error, as the server closes
 * the connection), then as one datagram the way the server takes one.
 * 'stats' may be NULL. Returns 0, or -1 after printing a contract
 * violation to stderr.
 */
int td_fuzz_detect(const uint8_t *data, size_t len, td_fuzz_stats *stats);

/*
 * One protocol: the stream forced to p fed the input in chunks, each frame
 * decoded with one session kept across frames, td_stream_flush at the end;
 * after a stream error the rest continues on a fresh stream with the same
 * session (as `trackd decode` does). Where p speaks UDP the whole input is
 * then also decoded as one datagram from a new peer. 'stats' may be NULL.
 * Returns 0, or -1 after printing a contract violation to stderr.
 */
int td_fuzz_protocol(const td_protocol *p, const uint8_t *data, size_t len, td_fuzz_stats *stats);

/*
 * By target name: "detect" or a protocol name (td_protocol_find()).
 * Returns as above, or -2 when the name is unknown.
 */
int td_fuzz_run(const char *target, const uint8_t *data, size_t len, td_fuzz_stats *stats);

#endif
