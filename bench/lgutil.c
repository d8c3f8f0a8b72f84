/*
 * The load generator's helpers that do not touch the network (see
 * lgutil.h): histogram, protocol mix, shards and loopback addresses.
 */
#include "lgutil.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- latency histogram ---------------------------------------------------- */

void lg_hist_init(lg_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned lg_hist_bucket(uint64_t v)
{
    if (v < LG_SUB)
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - LG_SUB_BITS;
    return LG_SUB + shift * LG_SUB + (unsigned)((v >> shift) - LG_SUB);
}

uint64_t lg_hist_low(unsigned b)
{
    if (b < LG_SUB)
        return b;
    unsigned shift = (b - LG_SUB) / LG_SUB, sub = (b - LG_SUB) % LG_SUB;
    return (uint64_t)(LG_SUB + sub) << shift;
}

uint64_t lg_hist_high(unsigned b)
{
    if (b < LG_SUB)
        return b;
    unsigned shift = (b - LG_SUB) / LG_SUB;
    return lg_hist_low(b) + (((uint64_t)1 << shift) - 1);
}

void lg_hist_add(lg_hist *h, uint64_t v)
{
    h->count[lg_hist_bucket(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void lg_hist_merge(lg_hist *h, const lg_hist *from)
{
    for (unsigned b = 0; b < LG_BUCKETS; b++)
        h->count[b] += from->count[b];
    h->n += from->n;
    h->sum += from->sum;
    if (from->n && from->min < h->min)
        h->min = from->min;
    if (from->n && from->max > h->max)
        h->max = from->max;
}

uint64_t lg_hist_quantile(const lg_hist *h, double q)
{
    if (!h->n)
        return 0;
    double r = ceil(q * (double)h->n);
    uint64_t rank = r < 1 ? 1 : r > (double)h->n ? h->n : (uint64_t)r;
    if (rank == 1)
        return h->min; /* the extremes are known exactly */
    if (rank == h->n)
        return h->max;
    uint64_t seen = 0;
    for (unsigned b = 0; b < LG_BUCKETS; b++) {
        seen += h->count[b];
        if (seen < rank)
            continue;
        uint64_t lo = lg_hist_low(b), hi = lg_hist_high(b), v = lo + (hi - lo) / 2;
        return v < h->min ? h->min : v > h->max ? h->max : v;
    }
    return h->max;
}

/* ---- protocol mix ----------------------------------------------------------- */

int lg_mix_parse(const char *spec, lg_mix *m, char *err, size_t errcap)
{
    memset(m, 0, sizeof(*m));
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ','), *colon;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        colon = memchr(p, ':', len);
        size_t nlen = colon ? (size_t)(colon - p) : len;
        unsigned long w = 1;
        if (colon) {
            char *stop;
            w = strtoul(colon + 1, &stop, 10);
            if (stop != p + len || stop == colon + 1 || w == 0 || w > 1000000) {
                snprintf(err, errcap, "bad weight in '%.*s'", (int)len, p);
                return -1;
            }
        }
        if (nlen == 0 || nlen >= sizeof(m->name[0])) {
            snprintf(err, errcap, "bad protocol name in '%.*s'", (int)len, p);
            return -1;
        }
        if (m->n == LG_MIX_MAX) {
            snprintf(err, errcap, "more than %d protocols in the mix", LG_MIX_MAX);
            return -1;
        }
        for (int i = 0; i < m->n; i++)
            if (strlen(m->name[i]) == nlen && !memcmp(m->name[i], p, nlen)) {
                snprintf(err, errcap, "protocol '%.*s' named twice", (int)nlen, p);
                return -1;
            }
        memcpy(m->name[m->n], p, nlen);
        m->weight[m->n++] = (unsigned)w;
        p += len;
        if (*p == ',')
            p++;
    }
    if (!m->n) {
        snprintf(err, errcap, "empty protocol mix");
        return -1;
    }
    return 0;
}

void lg_mix_spread(const lg_mix *m, size_t devices, uint8_t *out)
{
    /* nginx's smooth weighted round robin: each turn every entry gains its
     * weight, the richest is chosen and pays the total. */
    long long cur[LG_MIX_MAX] = {0}, total = 0;
    for (int i = 0; i < m->n; i++)
        total += m->weight[i];
    for (size_t d = 0; d < devices; d++) {
        int best = 0;
        for (int i = 0; i < m->n; i++) {
            cur[i] += m->weight[i];
            if (cur[i] > cur[best])
                best = i;
        }
        cur[best] -= total;
        out[d] = (uint8_t)best;
    }
}

/* ---- shards ------------------------------------------------------------------ */

int lg_shard_parse(const char *spec, unsigned *i, unsigned *n)
{
    char *end;
    unsigned long a = strtoul(spec, &end, 10);
    if (end == spec || *end != '/')
        return -1;
    const char *q = end + 1;
    unsigned long b = strtoul(q, &end, 10);
    if (end == q || *end || b == 0 || b > 100000 || a >= b)
        return -1;
    *i = (unsigned)a;
    *n = (unsigned)b;
    return 0;
}

void lg_shard_slice(size_t total, unsigned i, unsigned n, size_t *first, size_t *count)
{
    size_t a = (size_t)((unsigned long long)total * i / n);
    size_t b = (size_t)((unsigned long long)total * (i + 1) / n);
    *first = a;
    *count = b - a;
}

/* ---- loopback addresses --------------------------------------------------------- */

bool lg_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

int lg_parse_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -1;
}

int lg_parse_sources(const char *spec, struct sockaddr_storage *out, int cap, char *err,
                     size_t errcap)
{
    int n = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[100], *dash;
        if (len == 0 || len >= sizeof(item)) {
            snprintf(err, errcap, "bad source '%.*s'", (int)len, p);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        struct sockaddr_storage lo, hi;
        dash = strchr(item, '-');
        if (dash)
            *dash = '\0';
        if (lg_parse_addr(item, 0, &lo) || (dash && lg_parse_addr(dash + 1, 0, &hi))) {
            snprintf(err, errcap, "bad source address in '%.*s'", (int)len, p);
            return -1;
        }
        if (!lg_is_loopback((struct sockaddr *)&lo) ||
            (dash && !lg_is_loopback((struct sockaddr *)&hi))) {
            snprintf(err, errcap, "source '%.*s' is not a loopback address", (int)len, p);
            return -1;
        }
        uint32_t first = 0, last = 0;
        if (dash) {
            if (lo.ss_family != AF_INET || hi.ss_family != AF_INET) {
                snprintf(err, errcap, "ranges are IPv4 only: '%.*s'", (int)len, p);
                return -1;
            }
            first = ntohl(((struct sockaddr_in *)&lo)->sin_addr.s_addr);
            last = ntohl(((struct sockaddr_in *)&hi)->sin_addr.s_addr);
            if (last < first) {
                snprintf(err, errcap, "range '%.*s' runs backwards", (int)len, p);
                return -1;
            }
        }
        for (uint64_t a = first; a <= last; a++) {
            if (n == cap) {
                snprintf(err, errcap, "more than %d source addresses", cap);
                return -1;
            }
            out[n] = lo;
            if (dash)
                ((struct sockaddr_in *)&out[n])->sin_addr.s_addr = htonl((uint32_t)a);
            n++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (!n) {
        snprintf(err, errcap, "no source address");
        return -1;
    }
    return n;
}
