/*
 * Helpers of the load generator that do not touch the network: the
 * log-linear latency histogram and its percentiles, the protocol mix and
 * its spread over devices, shards, and the loopback checks on target and
 * source addresses. Kept apart from bench/loadgen.c so the unit tests
 * (tests/unit/test_loadgen.c) can check them in isolation.
 */
#ifndef TRACKD_LGUTIL_H
#define TRACKD_LGUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- latency histogram ---------------------------------------------------- */

/*
 * Log-linear: values below 2^LG_SUB_BITS are counted exactly; above, each
 * power of two is split into 2^LG_SUB_BITS equal buckets, so a bucket is
 * never wider than 1/128 of its values (< 0.8 % error). Values are
 * nanoseconds; the range covers every uint64_t. About 59 KB.
 */
#define LG_SUB_BITS 7
#define LG_SUB (1u << LG_SUB_BITS)
#define LG_BUCKETS (LG_SUB + (64 - LG_SUB_BITS) * LG_SUB)

typedef struct lg_hist {
    uint64_t count[LG_BUCKETS];
    uint64_t n, min, max;
    double sum;
} lg_hist;

void lg_hist_init(lg_hist *h);
void lg_hist_add(lg_hist *h, uint64_t v);
/* Adds every sample of `from` to h. */
void lg_hist_merge(lg_hist *h, const lg_hist *from);
/* The bucket of v, and the smallest and largest value bucket b holds. */
unsigned lg_hist_bucket(uint64_t v);
uint64_t lg_hist_low(unsigned b);
uint64_t lg_hist_high(unsigned b);
/*
 * The q-quantile (0 < q <= 1) of the samples: the middle of the bucket
 * holding the sample of rank ceil(q * n), kept within [min, max] (the
 * smallest and largest samples exactly); 0 when there is no sample.
 */
uint64_t lg_hist_quantile(const lg_hist *h, double q);

/* ---- protocol mix ----------------------------------------------------------- */

#define LG_MIX_MAX 16

/* Protocol names and weights, from "iw:40,gt06:20,..." or one name. */
typedef struct lg_mix {
    int n;
    char name[LG_MIX_MAX][16];
    unsigned weight[LG_MIX_MAX];
} lg_mix;

/* Parses spec ("name:weight,..."; a name alone weighs 1). Returns 0, or -1
 * with a message in err. Names are not checked here. */
int lg_mix_parse(const char *spec, lg_mix *m, char *err, size_t errcap);
/*
 * Which mix entry each of `devices` devices speaks, written to out[0..devices):
 * entries interleaved in proportion to their weights (smooth weighted round
 * robin), so any contiguous slice (a shard) holds nearly the same mix.
 */
void lg_mix_spread(const lg_mix *m, size_t devices, uint8_t *out);

/* ---- shards ------------------------------------------------------------------ */

/* Parses "i/n" (0 <= i < n). Returns 0 or -1. */
int lg_shard_parse(const char *spec, unsigned *i, unsigned *n);
/* The devices shard i of n runs: [*first, *first + *count) of total. */
void lg_shard_slice(size_t total, unsigned i, unsigned n, size_t *first, size_t *count);

/* ---- loopback addresses --------------------------------------------------------- */

/* True for 127.0.0.0/8 and ::1 (not for IPv4-mapped or other addresses). */
bool lg_is_loopback(const struct sockaddr *sa);
/* Parses a numeric address (or "localhost" as 127.0.0.1) with port into ss.
 * Returns 0, or -1 when it is not an address. */
int lg_parse_addr(const char *host, int port, struct sockaddr_storage *ss);
/*
 * Parses source addresses: a list "a,b,c" whose items are addresses or
 * IPv4 ranges "127.0.0.1-127.0.0.50". Writes at most cap addresses (port 0)
 * to out and returns how many, or -1 with a message in err (not an address,
 * not loopback, a range backwards or over cap).
 */
int lg_parse_sources(const char *spec, struct sockaddr_storage *out, int cap, char *err,
                     size_t errcap);

#endif
