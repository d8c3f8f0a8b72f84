/*
 * Bans: source addresses whose new TCP connections, or UDP datagrams, the
 * kernel drops before trackd sees them.
 *
 * An address that runs into a per-address limit over and over (connections
 * refused over --max-connections-per-ip or closed for bad traffic,
 * datagrams dropped over --udp-rate) is banned for a while. Refusing costs
 * the server an accept, a reset and a close per connection (or a read per
 * datagram), so a flood from one address takes CPU from every other device
 * even though it gets nothing. The banned addresses are compiled into a
 * classic BPF socket filter on the listening TCP socket (it drops their
 * SYNs) or on the UDP socket (it drops their datagrams); the kernel then
 * spends a few instructions per packet and the server nothing. Connections
 * already open are not touched.
 *
 * One list per transport: a TCP offence needs a completed handshake, a UDP
 * one does not (its source can be forged), so a forged UDP flood can never
 * ban an address from TCP.
 */
#ifndef TRACKD_BAN_H
#define TRACKD_BAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <linux/filter.h>

#define TD_BAN_MAX 64          /* addresses tracked per list, offending or banned */
#define TD_BAN_WINDOW_MS 10000 /* offences are counted over this long */
#define TD_BAN_PROGRAM_MAX (16 + 5 * TD_BAN_MAX) /* instructions of the largest filter */

/* An address as the per-address limits count it: IPv4 (also when mapped
 * into IPv6), or the /64 prefix of an IPv6 address. */
typedef struct td_ban_addr {
    uint8_t family; /* 4 or 6 */
    uint8_t bytes[8];
} td_ban_addr;

typedef struct td_ban_entry {
    td_ban_addr addr;
    uint64_t window_ms; /* when the offences counted began */
    uint32_t offences;  /* in this window (or until the ban started) */
    uint64_t until_ms;  /* banned until; 0 = not banned */
} td_ban_entry;

typedef struct td_banlist {
    td_ban_entry e[TD_BAN_MAX];
    size_t n;
    bool udp;       /* a UDP socket's filter (every datagram) or a listener's (SYNs) */
    uint32_t after; /* offences within TD_BAN_WINDOW_MS that ban; 0 = never */
    uint64_t ban_ms;
} td_banlist;

void td_ban_init(td_banlist *b, bool udp, uint32_t after, uint64_t ban_ms);

/* The address sa is counted under; TD_EINVAL for a family other than IPv4/6. */
int td_ban_addr_from(const struct sockaddr *sa, td_ban_addr *out);
/* "192.0.2.7" or "2001:db8:1:2::/64". */
void td_ban_addr_format(const td_ban_addr *a, char *out, size_t cap);

/*
 * Counts one offence of a at now. Returns true when it bans a (the filter
 * must then be applied again). An address not yet tracked takes a free
 * entry, or the one not banned whose window began first; when every entry
 * is banned it is not counted.
 */
bool td_ban_offence(td_banlist *b, const td_ban_addr *a, uint64_t now);

/* The entry of a, or NULL. */
const td_ban_entry *td_ban_find(const td_banlist *b, const td_ban_addr *a);

/*
 * Forgets the bans that ran out by now (calling lifted, if given, for each)
 * and the offenders whose window is over. Returns true when a ban ended.
 */
bool td_ban_expire(td_banlist *b, uint64_t now, void (*lifted)(void *arg, const td_ban_entry *e),
                   void *arg);

/* Addresses banned now. */
size_t td_ban_count(const td_banlist *b);

/*
 * The socket filter for the banned addresses, as struct sock_filter
 * instructions in out (room for TD_BAN_PROGRAM_MAX). Returns how many.
 */
int td_ban_program(const td_banlist *b, struct sock_filter *out, size_t cap);

/* Attaches the filter to fd, or detaches it when nothing is banned. 0 or a
 * negative errno (the kernel refused it). */
int td_ban_apply(const td_banlist *b, int fd);

#endif
