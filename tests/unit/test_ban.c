/*
 * Bans (core/ban.c): how offences are counted into a ban and how bans end,
 * the bounded list, and the compiled socket filter on real loopback
 * sockets: a banned address's new TCP connections get no answer and its
 * datagrams do not arrive, while other addresses, and connections that
 * were open before the ban, go on as before.
 */
#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ban.h"

static td_ban_addr v4(const char *ip)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    td_ban_addr a;
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    assert_int_equal(td_ban_addr_from((struct sockaddr *)&sa, &a), 0);
    return a;
}

static td_ban_addr v6(const char *ip)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    td_ban_addr a;
    assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
    assert_int_equal(td_ban_addr_from((struct sockaddr *)&sa, &a), 0);
    return a;
}

static void test_addresses(void **state)
{
    char out[64];
    (void)state;
    td_ban_addr a = v4("192.0.2.7");
    assert_int_equal(a.family, 4);
    td_ban_addr_format(&a, out, sizeof(out));
    assert_string_equal(out, "192.0.2.7");
    /* IPv4 mapped into IPv6 (a dual-stack socket) is the IPv4 address. */
    a = v6("::ffff:192.0.2.7");
    assert_int_equal(a.family, 4);
    td_ban_addr_format(&a, out, sizeof(out));
    assert_string_equal(out, "192.0.2.7");
    /* IPv6 counts by /64: two hosts of one /64 are one address. */
    a = v6("2001:db8:1:2:aaaa::1");
    td_ban_addr b = v6("2001:db8:1:2:bbbb::2");
    assert_int_equal(a.family, 6);
    assert_memory_equal(&a, &b, sizeof(a));
    td_ban_addr_format(&a, out, sizeof(out));
    assert_string_equal(out, "2001:db8:1:2::/64");
    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    assert_int_equal(td_ban_addr_from(&unix_sa, &a), TD_EINVAL);
}

static int lifted_n;
static td_ban_addr lifted_addr;

static void on_lifted(void *arg, const td_ban_entry *e)
{
    assert_string_equal(arg, "tcp");
    lifted_n++;
    lifted_addr = e->addr;
}

static void test_offences(void **state)
{
    td_banlist b;
    (void)state;
    td_ban_init(&b, false, 3, 60000);
    td_ban_addr x = v4("127.0.0.2"), y = v4("127.0.0.3");

    /* Two offences, then the window runs out: counting starts again. */
    assert_false(td_ban_offence(&b, &x, 1000));
    assert_false(td_ban_offence(&b, &x, 2000));
    assert_false(td_ban_offence(&b, &x, 1000 + TD_BAN_WINDOW_MS));
    assert_false(td_ban_offence(&b, &x, 1001 + TD_BAN_WINDOW_MS));
    assert_int_equal(td_ban_count(&b), 0);
    /* The third within one window bans; another address is apart. */
    assert_false(td_ban_offence(&b, &y, 1002 + TD_BAN_WINDOW_MS));
    assert_true(td_ban_offence(&b, &x, 1003 + TD_BAN_WINDOW_MS));
    assert_int_equal(td_ban_count(&b), 1);
    const td_ban_entry *e = td_ban_find(&b, &x);
    assert_non_null(e);
    assert_int_equal(e->until_ms, 1003 + TD_BAN_WINDOW_MS + 60000);
    /* Offences while banned (packets queued before the filter) are
     * counted but do not ban again. */
    assert_false(td_ban_offence(&b, &x, 1004 + TD_BAN_WINDOW_MS));
    assert_int_equal(td_ban_find(&b, &x)->offences, 4);

    /* y's window ends first: it is forgotten, no ban was lifted. */
    lifted_n = 0;
    assert_false(td_ban_expire(&b, 1002 + 2 * TD_BAN_WINDOW_MS, on_lifted, "tcp"));
    assert_null(td_ban_find(&b, &y));
    assert_int_equal(lifted_n, 0);
    assert_false(td_ban_expire(&b, 1002 + TD_BAN_WINDOW_MS + 60000, on_lifted, "tcp"));
    assert_int_equal(td_ban_count(&b), 1);
    /* x's ban ends on time, and x starts again from nothing. */
    assert_true(td_ban_expire(&b, 1003 + TD_BAN_WINDOW_MS + 60000, on_lifted, "tcp"));
    assert_int_equal(lifted_n, 1);
    assert_memory_equal(&lifted_addr, &x, sizeof(x));
    assert_int_equal(td_ban_count(&b), 0);
    assert_int_equal(b.n, 0);
    assert_false(td_ban_offence(&b, &x, 200000));

    /* --ban-after 0: never. */
    td_ban_init(&b, false, 0, 60000);
    for (int i = 0; i < 100; i++)
        assert_false(td_ban_offence(&b, &x, 1000));
    assert_int_equal(b.n, 0);
}

static void test_bounded(void **state)
{
    td_banlist b;
    char ip[32];
    (void)state;
    td_ban_init(&b, true, 1, 60000);
    for (int i = 0; i < TD_BAN_MAX; i++) {
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250 + 1);
        td_ban_addr a = v4(ip);
        assert_true(td_ban_offence(&b, &a, 1000 + (uint64_t)i));
    }
    assert_int_equal(td_ban_count(&b), TD_BAN_MAX);
    /* Every entry banned: one more address is not tracked. */
    td_ban_addr more = v4("10.9.9.9");
    assert_false(td_ban_offence(&b, &more, 2000));
    assert_null(td_ban_find(&b, &more));

    /* Among offenders not banned, the oldest window makes room. */
    td_ban_init(&b, true, 2, 60000);
    for (int i = 0; i < TD_BAN_MAX; i++) {
        snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250 + 1);
        td_ban_addr a = v4(ip);
        assert_false(td_ban_offence(&b, &a, 1000 + (uint64_t)i));
    }
    td_ban_addr first = v4("10.1.0.1"), second = v4("10.1.0.2");
    assert_false(td_ban_offence(&b, &more, 5000));
    assert_int_equal(b.n, TD_BAN_MAX);
    assert_null(td_ban_find(&b, &first));
    assert_non_null(td_ban_find(&b, &second));
    assert_non_null(td_ban_find(&b, &more));

    /* The largest filter fits, IPv6 and IPv4 alike. */
    struct sock_filter prog[TD_BAN_PROGRAM_MAX];
    td_ban_init(&b, false, 1, 60000);
    for (int i = 0; i < TD_BAN_MAX; i++) {
        snprintf(ip, sizeof(ip), "2001:db8:%x::1", i);
        td_ban_addr a = v6(ip);
        assert_true(td_ban_offence(&b, &a, 1000));
    }
    int n = td_ban_program(&b, prog, TD_BAN_PROGRAM_MAX);
    assert_true(n > 5 * TD_BAN_MAX && n <= TD_BAN_PROGRAM_MAX);
    assert_int_equal(td_ban_program(&b, prog, 10), TD_EINVAL);
}

/* ---- the filter on real sockets -------------------------------------------- */

static int listener(int family, const char *ip, uint16_t *port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &a->sin_addr);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        len = sizeof(*a);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* Connects from src to 127.0.0.1:port (or [::1]:port) and waits up to
 * wait_ms for the handshake. Returns the socket when it completed, else
 * closes it and returns -1. */
static int connect_from(int family, const char *src, uint16_t port, int wait_ms)
{
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_storage from = {0}, to = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *f = (struct sockaddr_in *)&from, *t = (struct sockaddr_in *)&to;
        f->sin_family = t->sin_family = AF_INET;
        inet_pton(AF_INET, src, &f->sin_addr);
        inet_pton(AF_INET, "127.0.0.1", &t->sin_addr);
        t->sin_port = htons(port);
        len = sizeof(*f);
    } else {
        struct sockaddr_in6 *f = (struct sockaddr_in6 *)&from, *t = (struct sockaddr_in6 *)&to;
        f->sin6_family = t->sin6_family = AF_INET6;
        inet_pton(AF_INET6, src, &f->sin6_addr);
        inet_pton(AF_INET6, "::1", &t->sin6_addr);
        t->sin6_port = htons(port);
        len = sizeof(*f);
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&from, len), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int rc = connect(fd, (struct sockaddr *)&to, len);
    assert_true(rc == 0 || errno == EINPROGRESS);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t elen = sizeof(err);
    if (poll(&p, 1, wait_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 &&
        err == 0)
        return fd;
    close(fd);
    return -1;
}

/* Whether bytes written on a arrive on b. */
static bool passes(int a, int b)
{
    char buf[8];
    assert_int_equal(write(a, "ping", 4), 4);
    struct pollfd p = {.fd = b, .events = POLLIN};
    return poll(&p, 1, 1000) == 1 && read(b, buf, sizeof(buf)) == 4;
}

static void test_filter_tcp(void **state)
{
    (void)state;
    uint16_t port;
    int l = listener(AF_INET, "127.0.0.1", &port);
    assert_true(l >= 0);
    td_banlist b;
    td_ban_init(&b, false, 1, 60000);
    td_ban_addr x = v4("127.0.0.2");

    /* Open before the ban. */
    int before = connect_from(AF_INET, "127.0.0.2", port, 1000);
    assert_true(before >= 0);
    int before_srv = accept(l, NULL, NULL);
    assert_true(before_srv >= 0);

    assert_true(td_ban_offence(&b, &x, 1000));
    assert_int_equal(td_ban_apply(&b, l), 0);
    /* The banned address gets no answer; another one does. */
    assert_int_equal(connect_from(AF_INET, "127.0.0.2", port, 300), -1);
    int other = connect_from(AF_INET, "127.0.0.3", port, 1000);
    assert_true(other >= 0);
    int other_srv = accept(l, NULL, NULL);
    assert_true(other_srv >= 0);
    /* Both ways on the connection opened before, and on the new one. */
    assert_true(passes(before, before_srv));
    assert_true(passes(before_srv, before));
    assert_true(passes(other, other_srv));
    assert_true(passes(other_srv, other));

    /* Lifted: the address connects again. */
    assert_true(td_ban_expire(&b, 1000 + 60000, NULL, NULL));
    assert_int_equal(td_ban_apply(&b, l), 0);
    int after = connect_from(AF_INET, "127.0.0.2", port, 1000);
    assert_true(after >= 0);
    /* With nothing banned there is no filter left to detach. */
    assert_int_equal(td_ban_apply(&b, l), 0);
    close(after);
    close(other);
    close(other_srv);
    close(before);
    close(before_srv);
    close(l);
}

static void test_filter_tcp6(void **state)
{
    (void)state;
    uint16_t port;
    int l = listener(AF_INET6, "::1", &port);
    if (l < 0)
        skip(); /* no IPv6 loopback here */
    td_banlist b;
    td_ban_init(&b, false, 1, 60000);
    /* Another /64 banned: ::1 still connects. */
    td_ban_addr other = v6("2001:db8::1"), self = v6("::1");
    assert_true(td_ban_offence(&b, &other, 1000));
    assert_int_equal(td_ban_apply(&b, l), 0);
    int fd = connect_from(AF_INET6, "::1", port, 1000);
    assert_true(fd >= 0);
    close(fd);
    /* ::1's own /64 banned too: no answer. */
    assert_true(td_ban_offence(&b, &self, 1000));
    assert_int_equal(td_ban_apply(&b, l), 0);
    assert_int_equal(connect_from(AF_INET6, "::1", port, 300), -1);
    close(l);
}

static int udp_from(const char *src)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void test_filter_udp(void **state)
{
    (void)state;
    int s = udp_from("127.0.0.1");
    struct sockaddr_in to;
    socklen_t len = sizeof(to);
    assert_int_equal(getsockname(s, (struct sockaddr *)&to, &len), 0);
    td_banlist b;
    td_ban_init(&b, true, 2, 60000);
    td_ban_addr x = v4("127.0.0.2");
    assert_false(td_ban_offence(&b, &x, 1000));
    assert_true(td_ban_offence(&b, &x, 1000));
    assert_int_equal(td_ban_apply(&b, s), 0);

    int banned = udp_from("127.0.0.2"), other = udp_from("127.0.0.3");
    assert_int_equal(sendto(banned, "banned", 6, 0, (struct sockaddr *)&to, len), 6);
    assert_int_equal(sendto(other, "other", 5, 0, (struct sockaddr *)&to, len), 5);
    char buf[16];
    struct pollfd p = {.fd = s, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_int_equal(recv(s, buf, sizeof(buf), 0), 5);
    assert_memory_equal(buf, "other", 5);
    /* Nothing else is waiting. */
    assert_int_equal(poll(&p, 1, 200), 0);
    close(banned);
    close(other);
    close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),   cmocka_unit_test(test_offences),
        cmocka_unit_test(test_bounded),     cmocka_unit_test(test_filter_tcp),
        cmocka_unit_test(test_filter_tcp6), cmocka_unit_test(test_filter_udp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
