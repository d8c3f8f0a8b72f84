/*
 * Bans: the offence counting of td_banlist, and the socket filter compiled
 * from it (see ban.h).
 *
 * The filter is classic BPF, which any process may attach to its own
 * sockets. When it runs, the packet's data begins at the transport header
 * (TCP's flags are byte 13); the IP header is reached through SKF_NET_OFF.
 * A program returns how many bytes of the packet to keep: 0 drops it.
 */
#include "core/ban.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "trackd/error.h"

void td_ban_init(td_banlist *b, bool udp, uint32_t after, uint64_t ban_ms)
{
    memset(b, 0, sizeof(*b));
    b->udp = udp;
    b->after = after;
    b->ban_ms = ban_ms;
}

int td_ban_addr_from(const struct sockaddr *sa, td_ban_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        out->family = 4;
        memcpy(out->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return TD_EINVAL;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        out->family = 4;
        memcpy(out->bytes, &a->s6_addr[12], 4);
    } else {
        out->family = 6;
        memcpy(out->bytes, a->s6_addr, 8);
    }
    return 0;
}

void td_ban_addr_format(const td_ban_addr *a, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->family == 4) {
        inet_ntop(AF_INET, a->bytes, ip, sizeof(ip));
        snprintf(out, cap, "%s", ip);
        return;
    }
    uint8_t full[16] = {0};
    memcpy(full, a->bytes, 8);
    inet_ntop(AF_INET6, full, ip, sizeof(ip));
    snprintf(out, cap, "%s/64", ip);
}

static bool same(const td_ban_addr *x, const td_ban_addr *y)
{
    return x->family == y->family && memcmp(x->bytes, y->bytes, sizeof(x->bytes)) == 0;
}

const td_ban_entry *td_ban_find(const td_banlist *b, const td_ban_addr *a)
{
    for (size_t i = 0; i < b->n; i++)
        if (same(&b->e[i].addr, a))
            return &b->e[i];
    return NULL;
}

bool td_ban_offence(td_banlist *b, const td_ban_addr *a, uint64_t now)
{
    if (!b->after)
        return false;
    td_ban_entry *e = (td_ban_entry *)td_ban_find(b, a);
    if (!e) {
        if (b->n < TD_BAN_MAX) {
            e = &b->e[b->n++];
        } else {
            for (size_t i = 0; i < b->n; i++)
                if (!b->e[i].until_ms && (!e || b->e[i].window_ms < e->window_ms))
                    e = &b->e[i];
            if (!e)
                return false; /* every entry banned */
        }
        memset(e, 0, sizeof(*e));
        e->addr = *a;
        e->window_ms = now;
    }
    if (e->until_ms) {
        /* Packets the filter was too late for (already queued). */
        e->offences++;
        return false;
    }
    if (now - e->window_ms >= TD_BAN_WINDOW_MS) {
        e->window_ms = now;
        e->offences = 0;
    }
    if (++e->offences < b->after)
        return false;
    e->until_ms = now + b->ban_ms;
    return true;
}

bool td_ban_expire(td_banlist *b, uint64_t now, void (*lifted)(void *arg, const td_ban_entry *e),
                   void *arg)
{
    bool ended = false;
    for (size_t i = 0; i < b->n;) {
        td_ban_entry *e = &b->e[i];
        bool over = e->until_ms ? now >= e->until_ms : now - e->window_ms >= TD_BAN_WINDOW_MS;
        if (!over) {
            i++;
            continue;
        }
        if (e->until_ms) {
            ended = true;
            if (lifted)
                lifted(arg, e);
        }
        b->e[i] = b->e[--b->n];
    }
    return ended;
}

size_t td_ban_count(const td_banlist *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->e[i].until_ms != 0;
    return n;
}

static uint32_t word(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * The program, for a listener (udp false) and IPv4 bans A, B and IPv6 bans
 * P (each a /64, its two words P.hi and P.lo):
 *
 *       ldb [13]                 TCP flags; a listener only
 *       jset #SYN, 1, 0          a new connection: look at its source
 *       ret #-1                  anything else passes
 *       ldb [net + 0]            the IP version
 *       rsh #4
 *       jeq #4, 0, 1
 *       ja v4
 *       jeq #6, 0, 1
 *       ja v6
 *       ret #-1
 *   v4: ld [net + 12]            the IPv4 source
 *       jeq #A, 0, 1
 *       ret #0
 *       jeq #B, 0, 1
 *       ret #0
 *       ret #-1
 *   v6: ld [net + 8]             the IPv6 source's first word
 *       jeq #P.hi, 0, 3
 *       ld [net + 12]
 *       jeq #P.lo, 0, 1
 *       ret #0
 *       ret #-1
 *
 * Every conditional jump is short, whatever the number of bans.
 */
int td_ban_program(const td_banlist *b, struct sock_filter *out, size_t cap)
{
    size_t n = 0, ja_v4, ja_v6;
    if (cap < TD_BAN_PROGRAM_MAX)
        return TD_EINVAL;
#define EMIT(insn) (out[n++] = (struct sock_filter)insn)
    if (!b->udp) {
        EMIT(BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 1, 0));
        EMIT(BPF_STMT(BPF_RET | BPF_K, 0xffffffffu));
    }
    EMIT(BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 0));
    EMIT(BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 1));
    ja_v4 = n;
    EMIT(BPF_STMT(BPF_JMP | BPF_JA, 0));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 1));
    ja_v6 = n;
    EMIT(BPF_STMT(BPF_JMP | BPF_JA, 0));
    EMIT(BPF_STMT(BPF_RET | BPF_K, 0xffffffffu));

    out[ja_v4].k = (uint32_t)(n - ja_v4 - 1);
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12));
    for (size_t i = 0; i < b->n; i++) {
        const td_ban_entry *e = &b->e[i];
        if (!e->until_ms || e->addr.family != 4)
            continue;
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, word(e->addr.bytes), 0, 1));
        EMIT(BPF_STMT(BPF_RET | BPF_K, 0));
    }
    EMIT(BPF_STMT(BPF_RET | BPF_K, 0xffffffffu));

    out[ja_v6].k = (uint32_t)(n - ja_v6 - 1);
    for (size_t i = 0; i < b->n; i++) {
        const td_ban_entry *e = &b->e[i];
        if (!e->until_ms || e->addr.family != 6)
            continue;
        EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 8));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, word(e->addr.bytes), 0, 3));
        EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, word(e->addr.bytes + 4), 0, 1));
        EMIT(BPF_STMT(BPF_RET | BPF_K, 0));
    }
    EMIT(BPF_STMT(BPF_RET | BPF_K, 0xffffffffu));
#undef EMIT
    return (int)n;
}

int td_ban_apply(const td_banlist *b, int fd)
{
    if (!td_ban_count(b)) {
        int unused = 0; /* the kernel wants an int's room, whatever it holds */
        if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) != 0 &&
            errno != ENOENT)
            return -errno;
        return 0;
    }
    struct sock_filter prog[TD_BAN_PROGRAM_MAX];
    int n = td_ban_program(b, prog, TD_BAN_PROGRAM_MAX);
    if (n < 0)
        return -EINVAL;
    struct sock_fprog fp = {.len = (unsigned short)n, .filter = prog};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) != 0)
        return -errno;
    return 0;
}
