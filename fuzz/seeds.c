/*
 * td-fuzz-seeds OUTDIR VECTORS.jsonl...: the seed corpora of the fuzz
 * targets from the repository's device vectors (the .jsonl files of
 * tests/vectors/, one JSON object per line with "protocol", "kind" (text or hex) and "frame").
 * Each frame becomes one file in OUTDIR/fuzz_detect/ and in
 * OUTDIR/fuzz_<protocol>/ (the protocol as td_protocol_find() resolves it,
 * so "trv" vectors seed fuzz_iw). Each protocol also gets one file holding
 * its frames back to back (up to SESSION_MAX bytes): a session in which a
 * login comes before the frames that need it. Vectors of protocols that
 * are not registered are skipped. Exit status 0, or 1 on an I/O error or a
 * malformed vector.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/text.h"
#include "protocols/registry.h"

#define SESSION_MAX 16384 /* the targets' -max_len */

#define XX(name) +1
enum { NPROTO = 0 TD_PROTOCOL_LIST(XX) };
#undef XX

static uint8_t frame[1 << 17];
static uint8_t session[NPROTO][SESSION_MAX];
static size_t session_len[NPROTO];

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "td-fuzz-seeds: mkdir %s: %s\n", path, strerror(errno));
    return -1;
}

static int write_file(const char *dir, const char *target, const char *name, const uint8_t *data,
                      size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, target);
    if (make_dir(path))
        return -1;
    snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "td-fuzz-seeds: cannot write %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    return 0;
}

static size_t proto_index(const td_protocol *p)
{
    for (size_t i = 0; i < td_protocol_count; i++)
        if (td_protocols[i] == p)
            return i;
    return 0;
}

/* One vector: its frame into fuzz_detect and its protocol's corpus. */
static int one_vector(const char *dir, const char *file, size_t line, json_t *v, size_t *written)
{
    const char *proto = json_string_value(json_object_get(v, "protocol"));
    const char *kind = json_string_value(json_object_get(v, "kind"));
    const char *text = json_string_value(json_object_get(v, "frame"));
    char name[128], target[64];
    size_t len;

    if (!proto || !kind || !text) {
        fprintf(stderr, "td-fuzz-seeds: %s:%zu: no protocol, kind or frame\n", file, line);
        return -1;
    }
    const td_protocol *p = td_protocol_find(proto);
    if (!p)
        return 0;
    if (strcmp(kind, "hex") == 0) {
        long n = td_hex_decode(text, strlen(text), frame, sizeof(frame));
        if (n < 0) {
            fprintf(stderr, "td-fuzz-seeds: %s:%zu: bad hex\n", file, line);
            return -1;
        }
        len = (size_t)n;
    } else {
        len = strlen(text);
        if (len > sizeof(frame))
            len = sizeof(frame);
        memcpy(frame, text, len);
    }

    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    snprintf(name, sizeof(name), "%.*s-%s-%04zu", (int)strcspn(base, "."), base, p->name, line);
    snprintf(target, sizeof(target), "fuzz_%s", p->name);
    if (write_file(dir, "fuzz_detect", name, frame, len) ||
        write_file(dir, target, name, frame, len))
        return -1;
    (*written)++;

    size_t i = proto_index(p);
    if (session_len[i] + len <= SESSION_MAX) {
        memcpy(session[i] + session_len[i], frame, len);
        session_len[i] += len;
    }
    return 0;
}

static int one_file(const char *dir, const char *file, size_t *written)
{
    FILE *f = fopen(file, "r");
    char *buf = NULL;
    size_t cap = 0, line = 0;
    int rc = 0;

    if (!f) {
        fprintf(stderr, "td-fuzz-seeds: cannot open %s: %s\n", file, strerror(errno));
        return -1;
    }
    while (rc == 0 && getline(&buf, &cap, f) >= 0) {
        line++;
        if (strspn(buf, " \t\r\n") == strlen(buf))
            continue;
        json_error_t jerr;
        json_t *v = json_loads(buf, 0, &jerr);
        if (!v) {
            fprintf(stderr, "td-fuzz-seeds: %s:%zu: %s\n", file, line, jerr.text);
            rc = -1;
            break;
        }
        rc = one_vector(dir, file, line, v, written);
        json_decref(v);
    }
    free(buf);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    size_t written = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: td-fuzz-seeds OUTDIR VECTORS.jsonl...\n");
        return 2;
    }
    if (make_dir(argv[1]))
        return 1;
    for (int i = 2; i < argc; i++)
        if (one_file(argv[1], argv[i], &written))
            return 1;
    for (size_t i = 0; i < td_protocol_count; i++) {
        char target[64];
        snprintf(target, sizeof(target), "fuzz_%s", td_protocols[i]->name);
        if (session_len[i] && write_file(argv[1], target, "session", session[i], session_len[i]))
            return 1;
    }
    printf("td-fuzz-seeds: %zu vectors written to %s\n", written, argv[1]);
    return 0;
}
