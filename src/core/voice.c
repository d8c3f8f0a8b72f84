/*
 * Voice message reassembly and files (see voice.h).
 */
#include "core/voice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trackd/error.h"

struct td_voice_asm {
    char key[TD_MEDIA_KEY_MAX];
    int total, have;
    int64_t started_ms;
    size_t bytes;
    struct chunk {
        int index;
        size_t len;
        uint8_t *data;
    } chunk[TD_VOICE_MAX_CHUNKS];
};

static void reset(td_voice_asm *a)
{
    for (int i = 0; i < a->have; i++)
        free(a->chunk[i].data);
    a->have = 0;
    a->bytes = 0;
    a->total = 0;
    a->key[0] = '\0';
}

void td_voice_asm_free(td_voice_asm *a)
{
    if (!a)
        return;
    reset(a);
    free(a);
}

bool td_voice_expire(td_voice_asm **slot, int64_t now_ms)
{
    if (!*slot || now_ms - (*slot)->started_ms < TD_VOICE_STALE_MS)
        return false;
    bool had = (*slot)->have > 0;
    td_voice_asm_free(*slot);
    *slot = NULL;
    return had;
}

static int cmp_chunk(const void *a, const void *b)
{
    const struct chunk *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

int td_voice_add(td_voice_asm **slot, const struct td_media *m, int64_t now_ms, uint8_t **out,
                 size_t *len, char *err, size_t errcap)
{
    *out = NULL;
    *len = 0;
    err[0] = '\0';
    if (m->len == 0) {
        snprintf(err, errcap, "voice chunk %d/%d without audio bytes", m->index, m->total);
        return TD_EINVAL;
    }
    if (m->total <= 1) { /* a whole message */
        if (m->len > TD_VOICE_MAX_BYTES) {
            snprintf(err, errcap, "voice message of %zu bytes (limit %d)", m->len,
                     TD_VOICE_MAX_BYTES);
            return TD_ETOOBIG;
        }
        if (!(*out = malloc(m->len)))
            return TD_ENOMEM;
        memcpy(*out, m->data, m->len);
        *len = m->len;
        return 1;
    }
    if (m->total > TD_VOICE_MAX_CHUNKS || m->index < 0 || m->index > m->total) {
        snprintf(err, errcap, "voice chunk %d of %d out of bounds (at most %d chunks)", m->index,
                 m->total, TD_VOICE_MAX_CHUNKS);
        return TD_EINVAL;
    }
    td_voice_asm *a = *slot;
    if (!a && !(a = *slot = calloc(1, sizeof(*a))))
        return TD_ENOMEM;
    if (a->have && (strcmp(a->key, m->key) != 0 || a->total != m->total)) {
        snprintf(err, errcap,
                 "voice message '%s' dropped unfinished (%d of %d chunks): '%s'"
                 " started",
                 a->key, a->have, a->total, m->key);
        reset(a); /* the new chunk goes on; err holds the warning */
    }
    if (!a->have) {
        snprintf(a->key, sizeof(a->key), "%s", m->key);
        a->total = m->total;
        a->started_ms = now_ms;
    }
    for (int i = 0; i < a->have; i++)
        if (a->chunk[i].index == m->index)
            return 0; /* a repeat of a chunk already here */
    if (a->bytes + m->len > TD_VOICE_MAX_BYTES) {
        snprintf(err, errcap, "voice message '%s' over %d bytes; dropped", a->key,
                 TD_VOICE_MAX_BYTES);
        reset(a);
        return TD_ETOOBIG;
    }
    struct chunk *c = &a->chunk[a->have];
    if (!(c->data = malloc(m->len)))
        return TD_ENOMEM;
    memcpy(c->data, m->data, m->len);
    c->len = m->len;
    c->index = m->index;
    a->have++;
    a->bytes += m->len;
    if (a->have < a->total)
        return 0;

    qsort(a->chunk, (size_t)a->have, sizeof(a->chunk[0]), cmp_chunk);
    if (!(*out = malloc(a->bytes)))
        return TD_ENOMEM;
    for (int i = 0; i < a->have; i++) {
        memcpy(*out + *len, a->chunk[i].data, a->chunk[i].len);
        *len += a->chunk[i].len;
    }
    reset(a);
    return 1;
}

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0750);
        *p = '/';
        if (rc && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0750) && errno != EEXIST ? -1 : 0;
}

int td_voice_write(const char *dir, int64_t device_id, int64_t time_ms, const uint8_t *data,
                   size_t len, char *name, size_t namecap, char *err, size_t errcap)
{
    char path[1024], sub[600];
    time_t t = (time_t)(time_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(sub, sizeof(sub), "%s/%lld", dir, (long long)device_id);
    if (mkdir_p(sub)) {
        snprintf(err, errcap, "cannot create %s: %s", sub, strerror(errno));
        return TD_EIO;
    }
    for (int n = 1; n < 1000; n++) {
        snprintf(name, namecap, "%lld/%04d%02d%02d-%02d%02d%02d-%d.amr", (long long)device_id,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, n);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            break;
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(fd, data + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        int ok = off == len && fsync(fd) == 0;
        int saved = errno;
        close(fd);
        if (ok)
            return 0;
        unlink(path);
        snprintf(err, errcap, "cannot write %s: %s", path, strerror(saved));
        return TD_EIO;
    }
    snprintf(err, errcap, "cannot create a file under %s: %s", sub, strerror(errno));
    return TD_EIO;
}

int td_voice_read(const char *dir, const char *name, size_t max, uint8_t **out, size_t *len)
{
    char path[1024];
    struct stat st;
    *out = NULL;
    *len = 0;
    if (strstr(name, ".."))
        return TD_ENOTFOUND;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? TD_ENOTFOUND : TD_EIO;
    if (fstat(fd, &st) || st.st_size < 0) {
        close(fd);
        return TD_EIO;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return TD_ETOOBIG;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t off = 0;
    while (buf && off < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    if (!buf || off != (size_t)st.st_size) {
        free(buf);
        return buf ? TD_EIO : TD_ENOMEM;
    }
    *out = buf;
    *len = off;
    return 0;
}

void td_voice_dir(const char *media_dir, const char *db, char *out, size_t cap)
{
    if (media_dir && *media_dir)
        snprintf(out, cap, "%s", media_dir);
    else if (strncmp(db, "postgres", 8) == 0)
        snprintf(out, cap, "media");
    else
        snprintf(out, cap, "%s.media", db);
}
