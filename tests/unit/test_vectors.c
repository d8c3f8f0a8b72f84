/*
 * Every seed vector (tests/vectors/seed-protocols.jsonl) through the stream
 * assembler, as `trackd decode` runs it: once with the protocol forced and
 * once through one-port auto-detection, each frame as a fresh session.
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

static void run_all(bool detect)
{
    /* TD_VECTOR_PROTOCOL=name limits the run to one protocol while working
     * on it; the full suite always runs them all. */
    json_t *vectors = td_test_vectors(getenv("TD_VECTOR_PROTOCOL"));
    static uint8_t frame[70000];
    size_t i, failed = 0;
    json_t *v;

    if (!getenv("TD_VECTOR_PROTOCOL"))
        assert_true(json_array_size(vectors) >= 93);
    json_array_foreach(vectors, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "protocol"));
        const td_protocol *p = td_protocol_find(name);
        assert_non_null(p);
        size_t n = td_test_vector_frame(v, frame, sizeof(frame));
        td_test_run run;
        td_test_run_bytes(detect ? NULL : p, frame, n, &run);
        if (detect && run.proto != p) {
            fprintf(stderr, "vector %s#%lld: detected as %s\n", name,
                    (long long)json_integer_value(json_object_get(v, "index")),
                    run.proto ? run.proto->name : "(none)");
            failed++;
        } else if (!td_test_vector_holds(v, &run)) {
            failed++;
        }
        td_test_run_free(&run);
    }
    fprintf(stderr, "%s: %zu of %zu vectors hold\n", detect ? "auto-detect" : "forced",
            json_array_size(vectors) - failed, json_array_size(vectors));
    json_decref(vectors);
    assert_int_equal(failed, 0);
}

static void test_vectors_forced_protocol(void **state)
{
    (void)state;
    run_all(false);
}

static void test_vectors_auto_detected(void **state)
{
    (void)state;
    run_all(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_forced_protocol),
        cmocka_unit_test(test_vectors_auto_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
