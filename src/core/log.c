/* Log lines with a UTC timestamp and a level, filtered by --log-level. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"

static int current_level = TD_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};
static const char *const tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void td_log_set_level(int level)
{
    current_level = level;
}

int td_log_get_level(void)
{
    return current_level;
}

int td_log_level_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    if (strcmp(name, "warning") == 0)
        return TD_LOG_WARN;
    return -1;
}

static void vlog(int level, const char *fmt, va_list ap)
{
    char line[1024], ts[40];

    int64_t ms = td_now_ms();
    /* Always print milliseconds so lines align. */
    td_iso8601(ms - ms % 1000, ts, sizeof(ts));
    ts[19] = '\0';
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "%s.%03dZ %s %s\n", ts, (int)(ms % 1000), tags[level], line);
}

void td_log(int level, const char *fmt, ...)
{
    va_list ap;

    if (level < current_level)
        return;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

/* ---- rate-limited lines ------------------------------------------------- */

static td_log_limit *limits; /* every kind used so far */

/* Ends l's window if it is over (or now, force): the summary of what it
 * left out. */
static void limit_roll(td_log_limit *l, long long now, bool force)
{
    long long secs = now - l->window_start_ms < TD_LOG_LIMIT_WINDOW_MS
                         ? (now - l->window_start_ms + 999) / 1000
                         : TD_LOG_LIMIT_WINDOW_MS / 1000;
    if (!force && now - l->window_start_ms < TD_LOG_LIMIT_WINDOW_MS)
        return;
    if (l->suppressed)
        td_log(TD_LOG_WARN, "%llu more lines like the above not logged in %lld s (%s)",
               l->suppressed, secs, l->what);
    l->window_start_ms = now;
    l->lines = 0;
    l->suppressed = 0;
}

void td_log_limited(td_log_limit *l, int level, const char *fmt, ...)
{
    va_list ap;
    long long now = (long long)td_now_ms();

    if (level < current_level)
        return;
    if (!l->linked) {
        l->linked = 1;
        l->next = limits;
        limits = l;
        l->window_start_ms = now;
    }
    limit_roll(l, now, false);
    if (l->lines >= (l->max ? l->max : TD_LOG_LIMIT_LINES)) {
        l->suppressed++;
        return;
    }
    l->lines++;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void td_log_limits_flush(bool all)
{
    long long now = (long long)td_now_ms();
    for (td_log_limit *l = limits; l; l = l->next)
        if (l->suppressed)
            limit_roll(l, now, all);
}
