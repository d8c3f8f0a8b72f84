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

void td_log(int level, const char *fmt, ...)
{
    char line[1024], ts[40];
    va_list ap;

    if (level < current_level)
        return;
    int64_t ms = td_now_ms();
    /* Always print milliseconds so lines align. */
    td_iso8601(ms - ms % 1000, ts, sizeof(ts));
    ts[19] = '\0';
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03dZ %s %s\n", ts, (int)(ms % 1000), tags[level], line);
}
