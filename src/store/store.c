/*
 * Store backend selection by --db target, and batch helpers shared by all
 * backends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackd/error.h"
#include "trackd/store.h"

static const td_store_ops *const backends[] = {
    &td_store_sqlite,
};

int td_store_open(const char *target, td_store **out, char *err, size_t errcap)
{
    if (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0) {
        snprintf(err, errcap, "store: PostgreSQL is not supported by this build; use a file path");
        return TD_EUNSUPPORTED;
    }
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (backends[i]->accepts(target))
            return backends[i]->open(target, out, err, errcap);
    snprintf(err, errcap, "store: no backend for '%s'", target);
    return TD_EUNSUPPORTED;
}

void td_store_batch_clear(td_store_batch *b)
{
    for (size_t i = 0; i < b->nrows; i++) {
        free(b->rows[i].attributes);
        b->rows[i].attributes = NULL;
    }
    for (size_t i = 0; i < b->nevents; i++) {
        free(b->events[i].attributes);
        free(b->events[i].notify);
        b->events[i].attributes = NULL;
        b->events[i].notify = NULL;
    }
    b->nrows = b->ndevices = b->nunknown = b->nevents = 0;
}
