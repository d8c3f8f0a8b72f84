/*
 * One-line log records on stderr: "2026-11-21T10:00:00.123Z INFO  message".
 * Components format their own context (remote address, protocol, device)
 * into the message so every line stands alone.
 */
#ifndef TRACKD_LOG_H
#define TRACKD_LOG_H

#include <stdbool.h>

enum td_log_level { TD_LOG_DEBUG, TD_LOG_INFO, TD_LOG_WARN, TD_LOG_ERROR };

void td_log_set_level(int level);
int td_log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int td_log_level_from_name(const char *name);
void td_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A rate-limited kind of log line, for what the network can make happen at
 * will (refused connections, oversized frames, dropped datagrams), so a
 * flood cannot flood the log. At most TD_LOG_LIMIT_LINES lines of one kind
 * (or .max) are written per TD_LOG_LIMIT_WINDOW_MS; the rest are counted
 * and reported in one summary line when the window is over ("N more ...
 * not logged"). Declare one static instance per kind: {.what = "..."}.
 * Loop thread only.
 */
#define TD_LOG_LIMIT_LINES 10
#define TD_LOG_LIMIT_WINDOW_MS 10000

typedef struct td_log_limit {
    const char *what; /* names the kind in the summary line */
    unsigned max;     /* lines per window; 0: TD_LOG_LIMIT_LINES */
    long long window_start_ms;
    unsigned lines;
    unsigned long long suppressed;
    struct td_log_limit *next; /* in the list td_log_limits_flush walks */
    int linked;
} td_log_limit;

void td_log_limited(td_log_limit *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes the summary line of every kind with lines left out whose window
 * is over, or (all) whatever its window: called once a second by the
 * server, and with all = true when it stops. */
void td_log_limits_flush(bool all);

#define td_debug(...) td_log(TD_LOG_DEBUG, __VA_ARGS__)
#define td_info(...) td_log(TD_LOG_INFO, __VA_ARGS__)
#define td_warn(...) td_log(TD_LOG_WARN, __VA_ARGS__)
#define td_error(...) td_log(TD_LOG_ERROR, __VA_ARGS__)

#endif
