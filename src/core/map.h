/*
 * A string-keyed hash map of pointers (open addressing, linear probing,
 * backward-shift deletion). Keys are copied; values are the caller's.
 */
#ifndef TRACKD_MAP_H
#define TRACKD_MAP_H

#include <stddef.h>

typedef struct td_map_slot {
    char *key; /* NULL: empty */
    void *value;
} td_map_slot;

typedef struct td_map {
    td_map_slot *slots;
    size_t cap, len;
} td_map;

void td_map_init(td_map *m);
/* Frees the keys and the table (not the values). */
void td_map_free(td_map *m);
void *td_map_get(const td_map *m, const char *key);
/* Inserts or replaces; returns 0 or TD_ENOMEM. */
int td_map_put(td_map *m, const char *key, void *value);
/* Removes and returns the value (NULL when absent). */
void *td_map_del(td_map *m, const char *key);

/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].key) ... */

#endif
