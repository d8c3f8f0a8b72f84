/* String-keyed open-addressing hash map; see map.h. */
#include "core/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trackd/error.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

void td_map_init(td_map *m)
{
    memset(m, 0, sizeof(*m));
}

void td_map_free(td_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static size_t find(const td_map *m, const char *key)
{
    size_t i = hash(key) & (m->cap - 1);
    while (m->slots[i].key && strcmp(m->slots[i].key, key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

void *td_map_get(const td_map *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t i = find(m, key);
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int grow(td_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    td_map_slot *old = m->slots;
    size_t oldcap = m->cap;

    m->slots = calloc(cap, sizeof(*m->slots));
    if (!m->slots) {
        m->slots = old;
        return TD_ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            m->slots[find(m, old[i].key)] = old[i];
    free(old);
    return 0;
}

int td_map_put(td_map *m, const char *key, void *value)
{
    if ((m->len + 1) * 4 > m->cap * 3 && grow(m))
        return TD_ENOMEM;
    size_t i = find(m, key);
    if (!m->slots[i].key) {
        m->slots[i].key = strdup(key);
        if (!m->slots[i].key)
            return TD_ENOMEM;
        m->len++;
    }
    m->slots[i].value = value;
    return 0;
}

void *td_map_del(td_map *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t i = find(m, key);
    if (!m->slots[i].key)
        return NULL;
    void *value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->len--;
    /* Backward-shift: move later entries of the probe run into the hole. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->slots[j].key)
            break;
        size_t home = hash(m->slots[j].key) & (m->cap - 1);
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return value;
}
