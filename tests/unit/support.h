/*
 * Shared helpers for the cmocka unit tests: decoding a frame in a fresh or
 * given session, the sanity checks every decoded record must pass, the
 * device vectors (tests/vectors/seed-protocols.jsonl) with their
 * expectations, and building downlink commands and checking what encode()
 * makes of them.
 */
#ifndef TRACKD_TEST_SUPPORT_H
#define TRACKD_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/stream.h"
#include "protocols/registry.h"

/* A fixed server time for tests: 2026-01-02T03:04:05Z. */
#define TD_TEST_NOW_MS 1767323045000LL

/* Decodes one frame (text, exact bytes) with protocol p in session s (a
 * fresh one when s is NULL). Returns decode()'s result; ctx holds records,
 * reply and error. */
int td_test_decode(const td_protocol *p, td_session *s, const char *frame, td_decode_ctx *ctx);
int td_test_decode_bytes(const td_protocol *p, td_session *s, const uint8_t *frame, size_t len,
                         td_decode_ctx *ctx);

/* Asserts that decoding frame in a fresh session fails with exactly msg and
 * produces no record; ctx keeps the result for further checks. */
void td_test_expect_error(const td_protocol *p, td_decode_ctx *ctx, const char *frame,
                          const char *msg);

/* Checks what must hold for every record: a known type, a time after 1999
 * and not far in the future, latitude/longitude in range (positions),
 * speed below 2000 km/h, course 0-360, battery/heart-rate/SpO2 ranges. */
void assert_record_sane(const td_record *r);

/* Decodes frame with p in session s, zeroed first; fails the test unless it
 * succeeds with exactly n records, each sane. Returns the first (or NULL). */
const td_record *td_test_decode_n(const td_protocol *p, td_session *s, const char *frame,
                                  td_decode_ctx *ctx, int n);

/* The reply as a C string (text protocols). */
const char *td_test_reply(const td_decode_ctx *ctx);

/* r has a time, and it is the ISO 8601 time iso. */
void td_test_assert_time(const td_record *r, const char *iso);

/* Finds a record of a type in ctx; NULL when none. */
const td_record *td_test_find(const td_decode_ctx *ctx, td_rec_type type);

/* Frames cut by the stream assembler, copied out (td_test_collect_frame is
 * a td_frame_cb taking a td_test_frames *). */
#define TD_TEST_FRAMES_MAX 32
typedef struct td_test_frames {
    int n;
    size_t len[TD_TEST_FRAMES_MAX];
    uint8_t data[TD_TEST_FRAMES_MAX][1024];
} td_test_frames;

void td_test_collect_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len);

/* Result of running input through the stream assembler like `trackd decode`
 * does for one line: all frames' records as JSON objects, and error count. */
typedef struct td_test_run {
    json_t *records; /* array of record JSON objects (td_record_json) */
    int errors;
    char first_error[256];
    const td_protocol *proto; /* protocol used/detected */
} td_test_run;

/* Feeds bytes into a fresh stream (forced protocol, or detection when p is
 * NULL), flushes, decodes every frame. Free with td_test_run_free(). */
void td_test_run_bytes(const td_protocol *p, const uint8_t *data, size_t len, td_test_run *out);
void td_test_run_free(td_test_run *run);

/* Vectors: the objects of seed-protocols.jsonl whose "protocol" matches
 * (NULL = all). Returns a new array reference. */
json_t *td_test_vectors(const char *protocol);
/* The same from protocols.jsonl: the vectors of the ten further families
 * (gt06, h02, gps103, tk103, jt808, teltonika, queclink, meitrack, suntech,
 * osmand). */
json_t *td_test_family_vectors(const char *protocol);
/* Runs every protocols.jsonl vector of protocol p through the stream, once
 * with p forced and once through detection, and fails unless all of them
 * hold both ways (the counts go to stderr). */
void td_test_family_vectors_hold(const td_protocol *p);
/* p says yes to no vector of another family (protocols.jsonl and the seed
 * vectors, registered or not) nor to any prefix of one, and no by the first
 * 32 bytes of each. */
void td_test_claims_no_other_family(const td_protocol *p);
/* Every protocols.jsonl vector of p cut at every length, and its first
 * `span` bytes each replaced by every byte of `bytes`: decode() on an
 * exact-size copy and the forced stream never fail without a message
 * starting with p's name (support.c checks what they accept). Sets *ok and
 * *failed to the decoded and rejected truncations. */
void td_test_mutations_named(const td_protocol *p, const uint8_t *bytes, size_t nbytes, size_t span,
                             size_t *ok, size_t *failed);
/* `rounds` random inputs of 1-200 bytes (seeded), a third of them after
 * opener[0] and a third after opener[1], every other one drawn from
 * `alphabet` instead of all bytes: frame() stays within the input and
 * decode() never fails without a message starting with p's name. Returns
 * how many decode() rejected. */
int td_test_random_named(const td_protocol *p, const char *const opener[2], const char *alphabet,
                         int rounds);

/* The vector's frame bytes (hex-decoded for kind "hex"); returns length. */
size_t td_test_vector_frame(json_t *v, uint8_t *out, size_t cap);
/* Asserts the vector's "expect" against a run. Returns 1 when it holds; on a
 * mismatch prints why and returns 0 (callers count and fail at the end). */
int td_test_vector_holds(json_t *v, const td_test_run *run);

/* For each of p's family vectors: p never says no to a prefix (up to
 * `limit` bytes), no other registered protocol says yes to one, and the
 * first 32 bytes detect p over TCP (the whole frame over UDP too, when p
 * has UDP). */
void td_test_family_detect_own(const td_protocol *p, size_t limit);

/* ---- record checks ---- */

/* The reply in ctx as lower-case hex equals want (binary protocols). */
void td_test_reply_hex(const td_decode_ctx *ctx, const char *want);
/* UTC calendar time to ms since the epoch (fails the test when invalid). */
int64_t td_test_utc(int y, int mo, int d, int h, int mi, int s);
/* The raw attribute key of r, which must exist with that type. */
int64_t td_test_raw_int(const td_record *r, const char *key);
const char *td_test_raw_str(const td_record *r, const char *key);
double td_test_raw_double(const td_record *r, const char *key);
bool td_test_raw_bool(const td_record *r, const char *key);

/* ---- framing and malformed input ---- */

/* bytes holds n frames of lens[i] bytes back to back (total bytes). Fed
 * through detection in two pieces cut at every byte (and in one piece),
 * they must come out as exactly those frames, detected as p. */
void td_test_split_everywhere(const td_protocol *p, const uint8_t *bytes, size_t total,
                              const size_t *lens, size_t n);

/* Decodes data (copied into a block of exactly len bytes, so
 * AddressSanitizer sees any read past it) with p directly and through the
 * stream with p forced: nothing may crash, and every error must start with
 * p's name. Counts a decode that succeeded in *ok, one that failed in *bad. */
void td_test_try_malformed(const td_protocol *p, const uint8_t *data, size_t len, size_t *ok,
                           size_t *bad);

/* Each of p's family vectors cut at every length, then with each of the n
 * bytes in `bytes` written over each of its first `positions` bytes: decode()
 * on an exact-size copy, and the stream with p forced, never fail without a
 * message naming p (support.c checks what they accept). Adds the
 * truncations that decode and those rejected to *ok and *failed. */
void td_test_family_mutations(const td_protocol *p, const uint8_t *bytes, size_t n,
                              size_t positions, size_t *ok, size_t *failed);
/* `rounds` random inputs, half of them after `head`, of bytes from
 * `alphabet` or any byte, through p's frame() and decode(): frame() stays in
 * bounds and decode() fails only with an error naming p. Returns how many
 * decode() rejected. */
int td_test_random_inputs(const td_protocol *p, const char *head, const char *alphabet, int rounds);

/* ---- downlink commands ---- */

/* A command being built for protocol `proto`'s encode(). */
typedef struct td_test_cmd {
    const td_protocol *proto;
    td_command cmd;
} td_test_cmd;

/* Starts a command of `type` for protocol p with id 42, its INT defaults
 * filled in; fails the test when p has no such type. */
void td_test_cmd_start(td_test_cmd *tc, const td_protocol *p, const char *type);
/* The argument `name`, marked as given; fails the test when there is none. */
td_cmd_arg *td_test_cmd_arg(td_test_cmd *tc, const char *name);
void td_test_cmd_num(td_test_cmd *tc, const char *name, long v);
void td_test_cmd_str(td_test_cmd *tc, const char *name, const char *v);

/* p declares exactly the n command types in `types` (in any order), each
 * with a label and labelled parameters. */
void td_test_expect_commands(const td_protocol *p, const char *const *types, size_t n);

/* A session that only knows the device id (the device never connected). */
td_session *td_test_session(td_session *s, const char *device_id);

/* Encodes tc for session s (may be NULL) and expects exactly `want` (n
 * bytes; a C string for td_test_expect_encode) and the ack key `ack`. */
void td_test_expect_encode(const td_test_cmd *tc, const td_session *s, const char *want,
                           const char *ack);
void td_test_expect_encode_n(const td_test_cmd *tc, const td_session *s, const void *want, size_t n,
                             const char *ack);
/* Encoding tc for session s fails with code and exactly msg, no ack, no
 * length. */
void td_test_expect_encode_fail(const td_test_cmd *tc, const td_session *s, int code,
                                const char *msg);

/* A command without arguments: its type, and the bytes and ack key it
 * encodes to. */
typedef struct td_test_plain {
    const char *type, *bytes, *ack;
} td_test_plain;
/* Each of the n commands in list, started in tc for protocol p, encodes to
 * its bytes and ack for a fresh session() each. */
void td_test_expect_plain(td_test_cmd *tc, const td_protocol *p, td_session *(*session)(void),
                          const td_test_plain *list, size_t n);

/* tc encodes to `want` (n bytes) in exactly n bytes and no fewer: every
 * smaller cap gives TD_ETOOBIG ("<proto>: the <type> command does not fit
 * in <cap> bytes"), no ack, no length and no byte written past cap. */
void td_test_expect_too_small(const td_test_cmd *tc, const td_session *s, const void *want,
                              size_t n);

#endif
