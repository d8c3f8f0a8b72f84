/*
 * The fuzz harness (fuzz/harness.c) without libFuzzer: every input a fuzz
 * target once crashed on (tests/fuzz/regressions/<target>/) replays
 * cleanly, every device vector goes through the detection target and its
 * protocol's target and reaches the decoders, and the harness itself
 * notices a decoder or framer that breaks the contracts of
 * include/trackd/protocol.h. Built in the normal and the sanitizer build.
 */
#include "support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static uint8_t buf[1 << 17];

/* Reads a whole file into buf; returns its length. */
static size_t read_input(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    assert_int_equal(ferror(f), 0);
    assert_true(feof(f)); /* whole: inputs stay far below the buffer */
    fclose(f);
    return n;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays every file of one target's directory; returns how many. */
static size_t replay_target(const char *target)
{
    char dir[1024], path[2048];
    struct dirent **names;
    size_t replayed = 0;

    snprintf(dir, sizeof(dir), "%s/%s", TD_FUZZ_REGRESSIONS_DIR, target);
    int n = scandir(dir, &names, NULL, by_name);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.' && strcmp(names[i]->d_name, "README.md") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            size_t len = read_input(path);
            td_fuzz_stats st;
            int rc = td_fuzz_run(target + strlen("fuzz_"), buf, len, &st);
            if (rc != 0)
                fail_msg("%s: harness returned %d", path, rc);
            replayed++;
        }
        free(names[i]);
    }
    free(names);
    return replayed;
}

static void test_regressions_replay(void **state)
{
    struct dirent **names;
    size_t targets = 0, inputs = 0;
    (void)state;

    int n = scandir(TD_FUZZ_REGRESSIONS_DIR, &names, NULL, by_name);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strncmp(name, "fuzz_", 5) == 0) {
            /* Directories are named after targets: fuzz_detect, fuzz_<protocol>. */
            if (strcmp(name + 5, "detect") != 0 && !td_protocol_find(name + 5))
                fail_msg("%s: no such fuzz target", name);
            inputs += replay_target(name);
            targets++;
        }
        free(names[i]);
    }
    free(names);
    fprintf(stderr, "fuzz regressions: %zu inputs of %zu targets replayed\n", inputs, targets);
    assert_true(inputs >= targets);
}

/* Every vector: the detection target finds its protocol and decodes it, and
 * its protocol's target decodes it over TCP and, where spoken, UDP. */
static void test_vectors_through_harness(void **state)
{
    json_t *all = td_test_vectors(NULL), *family = td_test_family_vectors(NULL), *v;
    unsigned long records[64] = {0};
    size_t i, checked = 0;
    (void)state;

    json_array_extend(all, family);
    json_decref(family);
    assert_true(json_array_size(all) >= 543);
    assert_true(td_protocol_count <= TD_TEST_COUNT(records));
    json_array_foreach(all, i, v)
    {
        const td_protocol *p = td_protocol_find(json_string_value(json_object_get(v, "protocol")));
        assert_non_null(p);
        size_t len = td_test_vector_frame(v, buf, sizeof(buf));
        td_fuzz_stats st;

        assert_int_equal(td_fuzz_detect(buf, len, &st), 0);
        assert_ptr_equal(st.detected, p);
        assert_true(st.frames >= 1);

        assert_int_equal(td_fuzz_run(p->name, buf, len, &st), 0);
        assert_true(st.frames >= 1);
        if (p->transports & TD_UDP)
            assert_true(st.udp_frames >= 1);
        for (size_t k = 0; k < td_protocol_count; k++)
            if (td_protocols[k] == p)
                records[k] += st.records;
        checked++;
    }
    json_decref(all);
    for (size_t k = 0; k < td_protocol_count; k++)
        if (records[k] == 0)
            fail_msg("%s: no vector decoded to a record through the harness",
                     td_protocols[k]->name);
    fprintf(stderr, "fuzz harness: %zu vectors replayed\n", checked);
}

/* The same input replays the same way: reads are cut by the input alone. */
static void test_replays_identically(void **state)
{
    static const char two[] = "[SG*3000000001*0002*LK][SG*3000000001*0002*LK]";
    td_fuzz_stats a, b;
    (void)state;

    assert_int_equal(td_fuzz_run("watch", (const uint8_t *)two, strlen(two), &a), 0);
    assert_int_equal(td_fuzz_run("watch", (const uint8_t *)two, strlen(two), &b), 0);
    assert_int_equal(a.frames, 4); /* two frames over TCP, two in the datagram */
    assert_int_equal(a.udp_frames, 2);
    assert_int_equal(a.frames, b.frames);
    assert_int_equal(a.records, b.records);
    assert_int_equal(td_fuzz_run("no-such-target", (const uint8_t *)two, 3, &a), -2);
}

/* ---- a protocol that breaks its contract, one way per mode ---------------- */

enum { BAD_NONE, BAD_RC, BAD_ERRMSG, BAD_NREC, BAD_DEVICE_ID, BAD_FRAMER_ERROR };
static int bad_mode;

static int bad_detect(const uint8_t *b, size_t len)
{
    (void)b;
    return len ? TD_DETECT_YES : TD_DETECT_MAYBE;
}

static long bad_frame(const uint8_t *b, size_t len, size_t *skip)
{
    (void)b;
    *skip = 0;
    if (bad_mode == BAD_FRAMER_ERROR)
        return TD_EINVAL;
    return (long)len;
}

static int bad_decode(td_decode_ctx *c, const uint8_t *frame, size_t len)
{
    (void)frame;
    (void)len;
    switch (bad_mode) {
    case BAD_RC:
        return 1;
    case BAD_ERRMSG:
        return td_ctx_error(c, TD_EBADFRAME, "other: bad");
    case BAD_NREC:
        c->nrec = TD_MAX_RECORDS + 1;
        return 0;
    case BAD_DEVICE_ID:
        memcpy(c->session->device_id, "12 34", 6);
        return 0;
    default:
        return td_ctx_add(c, TD_REC_HEARTBEAT) ? 0 : TD_ENOMEM;
    }
}

static const td_protocol bad = {
    .name = "bad",
    .transports = TD_TCP | TD_UDP,
    .max_frame = 4096,
    .detect = bad_detect,
    .frame = bad_frame,
    .decode = bad_decode,
};

static void test_harness_notices_broken_contracts(void **state)
{
    static const uint8_t input[] = "some frame";
    td_fuzz_stats st;
    (void)state;

    bad_mode = BAD_NONE;
    assert_int_equal(td_fuzz_protocol(&bad, input, sizeof(input) - 1, &st), 0);
    assert_true(st.records >= 2); /* the stream and the datagram */
    for (int m = BAD_RC; m <= BAD_FRAMER_ERROR; m++) {
        bad_mode = m;
        if (td_fuzz_protocol(&bad, input, sizeof(input) - 1, &st) != -1)
            fail_msg("broken contract %d not noticed", m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regressions_replay),
        cmocka_unit_test(test_vectors_through_harness),
        cmocka_unit_test(test_replays_identically),
        cmocka_unit_test(test_harness_notices_broken_contracts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
