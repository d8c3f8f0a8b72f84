/*
 * One-line log records on stderr: "2026-11-21T10:00:00.123Z INFO  message".
 * Components format their own context (remote address, protocol, device)
 * into the message so every line stands alone.
 */
#ifndef TRACKD_LOG_H
#define TRACKD_LOG_H

enum td_log_level { TD_LOG_DEBUG, TD_LOG_INFO, TD_LOG_WARN, TD_LOG_ERROR };

void td_log_set_level(int level);
int td_log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int td_log_level_from_name(const char *name);
void td_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define td_debug(...) td_log(TD_LOG_DEBUG, __VA_ARGS__)
#define td_info(...) td_log(TD_LOG_INFO, __VA_ARGS__)
#define td_warn(...) td_log(TD_LOG_WARN, __VA_ARGS__)
#define td_error(...) td_log(TD_LOG_ERROR, __VA_ARGS__)

#endif
