/*
 * Limits that do not need a running server: the flags and their ranges,
 * rate-limited log lines, and the stream assembler's messages for frames
 * over a protocol's size limit (they name the protocol, the limit and the
 * bytes received).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/log.h"
#include "core/stream.h"
#include "trackd/error.h"
#include "trackd/protocol.h"

static int parse(td_config *c, char *err, size_t errcap, int argc, char **argv)
{
    err[0] = '\0';
    return td_config_parse(c, argc, argv, 1, err, errcap);
}

static void test_limit_flags(void **state)
{
    td_config c;
    char err[256];
    (void)state;

    td_config_defaults(&c);
    assert_int_equal(c.max_conns, 0); /* from the open-file limit */
    assert_int_equal(c.max_conns_per_ip, 4096);
    assert_int_equal(c.frame_timeout, 120);
    assert_int_equal(c.write_queue_max, 256);
    assert_int_equal(c.udp_rate, 200);
    assert_int_equal(c.udp_burst, 1000);
    assert_int_equal(c.ws_max_clients, 256);
    assert_int_equal(c.http_max_conns, 512);
    assert_int_equal(c.http_header_max, 4096);

    char *ok[] = {"serve",
                  "--max-connections",
                  "3",
                  "--max-connections-per-ip=0",
                  "--frame-timeout",
                  "5",
                  "--write-queue-max",
                  "16",
                  "--udp-rate",
                  "0",
                  "--udp-burst",
                  "1",
                  "--ws-max-clients",
                  "1",
                  "--http-max-connections",
                  "4",
                  "--http-header-max",
                  "1024"};
    assert_int_equal(parse(&c, err, sizeof(err), (int)(sizeof(ok) / sizeof(ok[0])), ok), 0);
    assert_int_equal(c.max_conns, 3);
    assert_int_equal(c.max_conns_per_ip, 0);
    assert_int_equal(c.frame_timeout, 5);
    assert_int_equal(c.write_queue_max, 16);
    assert_int_equal(c.udp_rate, 0);
    assert_int_equal(c.udp_burst, 1);
    assert_int_equal(c.ws_max_clients, 1);
    assert_int_equal(c.http_max_conns, 4);
    assert_int_equal(c.http_header_max, 1024);

    /* Values that cannot work are refused with the flag and its range. */
    static const struct {
        const char *flag, *value, *range;
    } bad[] = {
        {"--frame-timeout", "0", "1 to 3600"},
        {"--write-queue-max", "8", "16 to"},
        {"--udp-burst", "0", "1 to"},
        {"--udp-rate", "-1", "0 to"},
        {"--ws-max-clients", "0", "1 to"},
        {"--http-max-connections", "3", "4 to"},
        {"--http-header-max", "70000", "1024 to 65535"},
        {"--max-connections-per-ip", "many", "0 to"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {"serve", (char *)bad[i].flag, (char *)bad[i].value};
        assert_int_equal(parse(&c, err, sizeof(err), 3, argv), TD_EINVAL);
        assert_non_null(strstr(err, bad[i].flag));
        assert_non_null(strstr(err, bad[i].range));
    }
    assert_int_equal(c.frame_timeout, 5); /* unchanged */
}

/* Runs fn with stderr sent to a temporary file; returns what was written
 * (the caller frees it). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/trackd-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    fn();
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)n, 0), n);
    close(fd);
    unlink(path);
    return text;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static td_log_limit refusals = {.what = "refusals"};
static td_log_limit drops = {.what = "drops"};

static void flood_log(void)
{
    td_log_set_level(TD_LOG_INFO);
    for (int i = 0; i < 25; i++)
        td_log_limited(&refusals, TD_LOG_WARN, "refused connection %d", i);
    for (int i = 0; i < 3; i++)
        td_log_limited(&drops, TD_LOG_WARN, "dropped datagram %d", i);
    td_log_limited(&drops, TD_LOG_DEBUG, "below the level: neither written nor counted");
    td_log_limits_flush(false); /* the window is not over: no summary yet */
}

static void stop_log(void)
{
    td_log_limits_flush(true);
    td_log_limited(&refusals, TD_LOG_WARN, "refused connection %d", 25);
}

static void test_log_limited(void **state)
{
    (void)state;
    char *text = capture_stderr(flood_log);
    /* TD_LOG_LIMIT_LINES of a kind in a window, the first ones. */
    assert_int_equal(count(text, "refused connection"), TD_LOG_LIMIT_LINES);
    assert_non_null(strstr(text, "WARN  refused connection 0\n"));
    assert_non_null(strstr(text, "refused connection 9\n"));
    assert_null(strstr(text, "refused connection 10\n"));
    /* Another kind has its own allowance. */
    assert_int_equal(count(text, "dropped datagram"), 3);
    assert_null(strstr(text, "below the level"));
    assert_null(strstr(text, "not logged"));
    free(text);
    assert_int_equal(refusals.suppressed, 25 - TD_LOG_LIMIT_LINES);
    assert_int_equal(drops.suppressed, 0);

    /* When the server stops, what was left out is reported at once, and
     * a new window starts. */
    text = capture_stderr(stop_log);
    assert_non_null(strstr(text, "WARN  15 more lines like the above not logged in "));
    assert_non_null(strstr(text, " s (refusals)\n"));
    assert_int_equal(count(text, "not logged"), 1);
    assert_non_null(strstr(text, "refused connection 25\n"));
    free(text);
    assert_int_equal(refusals.suppressed, 0);
}

typedef struct feed_result {
    int rc;
    char err[256];
} feed_result;

static void no_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    (void)arg;
    (void)s;
    (void)frame;
    (void)len;
    fail_msg("no frame is complete");
}

static feed_result feed(const char *proto, const char *head, size_t fill)
{
    feed_result r;
    td_stream s;
    size_t n = strlen(head);
    uint8_t *buf = malloc(n + fill);
    assert_non_null(buf);
    memcpy(buf, head, n);
    memset(buf + n, '1', fill);
    td_stream_init(&s, TD_TCP, td_protocol_find(proto));
    r.rc = td_stream_feed(&s, buf, n + fill, no_frame, NULL, r.err, sizeof(r.err));
    td_stream_free(&s);
    free(buf);
    return r;
}

static void test_frame_size_messages(void **state)
{
    (void)state;
    /* The framer finds no end within the limit. */
    feed_result r = feed("iw", "IWAP01", 17000);
    assert_int_equal(r.rc, TD_ETOOBIG);
    assert_string_equal(r.err,
                        "iw: frame too large (17006 bytes received; largest frame 16384 bytes)");
    r = feed("gotop", "359000000000001,CMD-T,A,", 3000);
    assert_int_equal(r.rc, TD_ETOOBIG);
    assert_string_equal(r.err,
                        "gotop: frame too large (3024 bytes received; largest frame 2048 bytes)");
    r = feed("watch", "[SG*3000000001*FFFF*", 66000);
    assert_int_equal(r.rc, TD_ETOOBIG);
    assert_non_null(strstr(r.err, "watch: "));
    assert_non_null(strstr(r.err, "65600"));
    /* Below the limit nothing happens yet. */
    r = feed("iw", "IWAP01", 1000);
    assert_int_equal(r.rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_flags),
        cmocka_unit_test(test_log_limited),
        cmocka_unit_test(test_frame_size_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
