/*
 * Shared helpers for the cmocka unit tests: decoding a frame in a fresh or
 * given session, the sanity checks every decoded record must pass, the
 * device vectors (tests/vectors/seed-protocols.jsonl and protocols.jsonl)
 * with their expectations and the family checks every protocol runs over
 * them, detection tables, framing split at every byte, malformed and random
 * input, and building downlink commands and checking what encode() makes of
 * them.
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

/* The number of elements of array a. */
#define TD_TEST_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* What a protocol's test file shares: P, the protocol td_proto_<name>; a
 * decode context ctx and a session sess (static: they are large); and
 * decode_n(frame, n) / one(frame) / one_bytes(b, len), which decode a
 * text frame (or len bytes) in sess, zeroed first, and expect success with
 * exactly n (or 1) sane records, returning the first. */
#define TD_TEST_PROTOCOL(name)                                                                     \
    static const td_protocol *const P = &td_proto_##name;                                          \
    static td_decode_ctx ctx;                                                                      \
    static td_session sess;                                                                        \
    static inline const td_record *decode_n(const char *frame, int n)                              \
    {                                                                                              \
        return td_test_decode_n(P, &sess, frame, &ctx, n);                                         \
    }                                                                                              \
    static inline const td_record *one(const char *frame)                                          \
    {                                                                                              \
        return decode_n(frame, 1);                                                                 \
    }                                                                                              \
    static inline const td_record *one_bytes(const uint8_t *b, size_t len)                         \
    {                                                                                              \
        return td_test_decode_bytes_n(P, &sess, b, len, &ctx, 1);                                  \
    }

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
void td_test_expect_error_bytes(const td_protocol *p, td_decode_ctx *ctx, const uint8_t *frame,
                                size_t len, const char *msg);
/* A text frame and the exact error decoding it must give. */
typedef struct td_test_error {
    const char *frame, *msg;
} td_test_error;
/* td_test_expect_error() for each of the n cases. */
void td_test_expect_errors(const td_protocol *p, const td_test_error *cases, size_t n);

/* Checks what must hold for every record: a known type, a time after 1999
 * and not far in the future, latitude/longitude in range (positions),
 * speed below 2000 km/h, course 0-360, battery/heart-rate/SpO2 ranges. */
void assert_record_sane(const td_record *r);
/* The store's attribute text equals jansson's dump of the same attributes. */
void assert_attributes_text(const td_record *r);

/* Decodes frame with p in session s, zeroed first; fails the test unless it
 * succeeds with exactly n records, each sane. Returns the first (or NULL). */
const td_record *td_test_decode_n(const td_protocol *p, td_session *s, const char *frame,
                                  td_decode_ctx *ctx, int n);
const td_record *td_test_decode_bytes_n(const td_protocol *p, td_session *s, const uint8_t *frame,
                                        size_t len, td_decode_ctx *ctx, int n);

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
 * hold both ways (the counts go to stderr). Returns how many there are. */
size_t td_test_family_vectors_hold(const td_protocol *p);
/* The same, but the vectors whose index is one of the n in `known` (the
 * caller says why trackd differs) need only decode without an error. */
size_t td_test_family_vectors_except(const td_protocol *p, const long long *known, size_t n);
/* p says yes to no vector of another family (protocols.jsonl and the seed
 * vectors, registered or not), neither whole nor cut to any length up to
 * 300 bytes; and no to the first 32 bytes (all of them, when fewer) of
 * every one of `no_by` bytes or more. */
void td_test_claims_no_other_family(const td_protocol *p, size_t no_by);
/* A frame of p's (`what` names it in failures): p never says no to a
 * prefix of it, and from `yes_by` bytes on (0: nowhere) says yes; no other
 * registered protocol says yes to one; and the first 32 bytes detect p over
 * TCP (the whole frame over UDP too, when p has UDP). */
void td_test_detect_own(const td_protocol *p, const uint8_t *frame, size_t n, size_t yes_by,
                        const char *what);
/* td_test_detect_own() for each of p's family vectors. */
void td_test_family_detect_own(const td_protocol *p, size_t yes_by);

/* The vector's frame bytes (hex-decoded for kind "hex"); returns length. */
size_t td_test_vector_frame(json_t *v, uint8_t *out, size_t cap);
/* Asserts the vector's "expect" against a run. Returns 1 when it holds; on a
 * mismatch prints why and returns 0 (callers count and fail at the end). */
int td_test_vector_holds(json_t *v, const td_test_run *run);

/* ---- record checks ---- */

/* got is want to 1e-6. */
void td_test_assert_near(double got, double want);
/* The reply in ctx is the text want. */
void td_test_assert_reply(const td_decode_ctx *ctx, const char *want);
/* r is a valid position fix at the ISO 8601 time iso, at lat, lon (to
 * 1e-6), with this speed (km/h) and course (to 1e-9). */
void td_test_assert_fix(const td_record *r, const char *iso, double lat, double lon, double speed,
                        double course);
/* Cell i of r exists and has these numbers. */
void td_test_assert_cell(const td_record *r, int i, int mcc, int mnc, int64_t lac, int64_t cid);
/* The attribute a of r, which must be set. */
int64_t td_test_attr_int(const td_record *r, td_attr a);
double td_test_attr_double(const td_record *r, td_attr a);
bool td_test_attr_bool(const td_record *r, td_attr a);
/* Hex (blanks allowed) into out; fails the test when it is not hex or
 * does not fit. Returns the length. */
size_t td_test_unhex(const char *hex, uint8_t *out, size_t cap);
/* The reply in ctx as lower-case hex equals want (binary protocols). */
void td_test_reply_hex(const td_decode_ctx *ctx, const char *want);
/* UTC calendar time to ms since the epoch (fails the test when invalid). */
int64_t td_test_utc(int y, int mo, int d, int h, int mi, int s);
/* The raw attribute key of r, which must exist with that type. */
int64_t td_test_raw_int(const td_record *r, const char *key);
const char *td_test_raw_str(const td_record *r, const char *key);
double td_test_raw_double(const td_record *r, const char *key);
bool td_test_raw_bool(const td_record *r, const char *key);

/* ---- detection, framing and malformed input ---- */

/* p->detect() gives `want` for each of the n text prefixes. */
void td_test_detect_each(const td_protocol *p, const char *const *prefixes, size_t n, int want);

/* Input for the stream assembler: frames, and maybe noise between them,
 * with where each frame stands. Build it with the td_test_stream_*()
 * calls below (it is large: make it static). */
#define TD_TEST_STREAM_MAX 8192
typedef struct td_test_stream {
    uint8_t bytes[TD_TEST_STREAM_MAX];
    size_t len;
    size_t n;                        /* frames */
    size_t at[TD_TEST_FRAMES_MAX];   /* where frame i starts in bytes */
    size_t flen[TD_TEST_FRAMES_MAX]; /* and its length */
} td_test_stream;
void td_test_stream_reset(td_test_stream *s);
/* Appends a frame of len bytes (a text one). */
void td_test_stream_frame(td_test_stream *s, const void *frame, size_t len);
void td_test_stream_text(td_test_stream *s, const char *frame);
/* Each of the n text frames, in order. */
void td_test_stream_texts(td_test_stream *s, const char *const *frames, size_t n);
/* Appends bytes that are no frame (line ends, noise). */
void td_test_stream_noise(td_test_stream *s, const void *bytes, size_t len);

/* s fed to the stream assembler in two pieces cut at every byte, and one
 * byte at a time, with p forced and through detection: it is p's, and
 * exactly s's frames come out, the first `early` of them before the
 * stream is flushed (and when that is all of them, nothing stays
 * buffered). */
void td_test_split_everywhere(const td_protocol *p, const td_test_stream *s, size_t early);
/* The same with p forced only: for input detection cannot start on, such
 * as noise before the first frame. */
void td_test_split_forced(const td_protocol *p, const td_test_stream *s, size_t early);

/* `head` then `fill` bytes up to `size` bytes: a frame that never ends.
 * frame() says it is too big, skipping less than the head, and so does the
 * stream, forced and through detection, fed at once or 100 bytes at a
 * time, with an error naming p and no frame. Returns frame()'s skip. */
size_t td_test_frame_too_big(const td_protocol *p, const char *head, char fill, size_t size);
/* `head` then `fill` bytes: frame() needs more at `fits` bytes, and ended
 * by `end` there takes all fits + 1 of them, skipping nothing. */
void td_test_frame_fits(const td_protocol *p, const char *head, char fill, size_t fits, char end);

/* Decodes data (copied into a block of exactly len bytes, so
 * AddressSanitizer sees any read past it) with p directly and through the
 * stream with p forced: nothing may crash, and every error must start with
 * p's name. Counts a decode that succeeded in *ok, one that failed in *bad,
 * and returns decode()'s result. */
int td_test_try_malformed(const td_protocol *p, const uint8_t *data, size_t len, size_t *ok,
                          size_t *bad);

/* The frame cut at every length, then with each of the n bytes in `bytes`
 * written over each of its first `positions` bytes, through
 * td_test_try_malformed(): the truncations are counted in *ok and *bad,
 * the corruptions in *cok and *cbad. */
void td_test_frame_mutations(const td_protocol *p, const uint8_t *frame, size_t len,
                             const uint8_t *bytes, size_t n, size_t positions, size_t *ok,
                             size_t *bad, size_t *cok, size_t *cbad);
/* td_test_frame_mutations() for each frame of s, at every byte: some of
 * the changed frames decode and some fail (counted in *ok and *bad). */
void td_test_stream_mutations(const td_protocol *p, const td_test_stream *s, const uint8_t *bytes,
                              size_t n, size_t *ok, size_t *bad);
/* Each frame of s decodes on its own, in session sess (each in a fresh one
 * when NULL). */
void td_test_stream_decodes(const td_protocol *p, const td_test_stream *s, td_session *sess);
/* td_test_frame_mutations() for each of p's family vectors; sets *ok and
 * *failed to the truncations that decode and those rejected, and prints
 * all four counts. */
void td_test_family_mutations(const td_protocol *p, const uint8_t *bytes, size_t n,
                              size_t positions, size_t *ok, size_t *failed);

/* What td_test_random_inputs() draws. */
typedef struct td_test_random {
    int rounds;
    size_t max_len;       /* 1 to max_len random bytes (200 when 0) ... */
    const char *head[3];  /* ... after nothing, then each head in turn */
    size_t head_len[3];   /* a head's length (0: strlen: binary heads) */
    const char *alphabet; /* every other run through the heads: bytes from here */
    const char *tail;     /* when set, one input in eight ends with it */
    bool refusable;       /* frame() may say TD_EUNFRAMEABLE */
} td_test_random;
/* Random inputs (seeded, so the same each run) through p's detect(),
 * frame() and td_test_try_malformed(): detect() says yes, no or maybe;
 * frame() stays within the input and says "need more", too big (or
 * unframeable, when allowed) or a length. Returns how many decode()
 * rejected. */
int td_test_random_inputs(const td_protocol *p, const td_test_random *spec);

/* ---- the checks every family runs ---- */

/* What they need to know of a protocol; fields left zero take the
 * defaults. */
typedef struct td_test_family {
    const td_protocol *proto;
    size_t min_vectors;     /* at least this many vectors (1) */
    const long long *known; /* vectors trackd differs from, by index ... */
    size_t nknown;          /* ... (td_test_family_vectors_except()) */
    size_t yes_by;          /* td_test_family_detect_own() */
    size_t no_by;           /* td_test_claims_no_other_family() (32) */
    uint8_t corrupt[16];    /* td_test_family_mutations(): the bytes ... */
    size_t ncorrupt;        /* ... and how many, written over ... */
    size_t positions;       /* ... each of the first `positions` bytes (all) */
    bool mostly_rejected;   /* more truncations rejected than decoded */
    td_test_random random;  /* td_test_random_inputs() ... */
    int min_rejected;       /* ... rejecting more than this many */
} td_test_family;

/* The family checks as cmocka tests whose state is a td_test_family:
 * TD_TEST_FAMILY_CASES(&f) in a test list runs them all. Its vectors hold,
 * forced and through detection; they are its own alone; it claims no other
 * family's; truncated and corrupted, they decode or fail naming it, some
 * each way; and so do random inputs. */
void td_test_family_vectors_case(void **state);
void td_test_family_detect_own_case(void **state);
void td_test_claims_no_other_family_case(void **state);
void td_test_family_mutations_case(void **state);
void td_test_family_random_case(void **state);
/* A cmocka test named `name` that runs fn with *state set to `state`. */
#define TD_TEST_CASE(name, fn, state)                                                              \
    {                                                                                              \
        name, fn, NULL, NULL, (void *)(state)                                                      \
    }
#define TD_TEST_FAMILY_CASES(f)                                                                    \
    TD_TEST_CASE("family vectors", td_test_family_vectors_case, f),                                \
        TD_TEST_CASE("family detects its own", td_test_family_detect_own_case, f),                 \
        TD_TEST_CASE("claims no other family", td_test_claims_no_other_family_case, f),            \
        TD_TEST_CASE("family mutations", td_test_family_mutations_case, f),                        \
        TD_TEST_CASE("family random inputs", td_test_family_random_case, f)

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
