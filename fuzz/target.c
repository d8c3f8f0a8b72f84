/*
 * The libFuzzer entry point of every fuzz target. One binary is built per
 * target from this file, with TD_FUZZ_TARGET naming what it feeds:
 * "detect" (fuzz_detect) or a protocol of TD_PROTOCOL_LIST (fuzz_<name>).
 * The work is all in harness.c, which the unit tests replay too.
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

#ifndef TD_FUZZ_TARGET
#error "TD_FUZZ_TARGET must name the target: \"detect\" or a protocol"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc = td_fuzz_run(TD_FUZZ_TARGET, data, size, NULL);
    if (rc == -2) {
        fprintf(stderr, "fuzz: unknown target '%s'\n", TD_FUZZ_TARGET);
        exit(2);
    }
    if (rc != 0)
        abort(); /* a contract violation, printed by the harness: keep the input */
    return 0;
}
