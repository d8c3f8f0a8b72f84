/*
 * `trackd decode`: offline decoding of frames, one per line, through the
 * same registry, detection, framing and decoders as the server (CONTRACT.md).
 */
#ifndef TRACKD_DECODE_CLI_H
#define TRACKD_DECODE_CLI_H

#include <stdio.h>

/* Runs `trackd decode` with argv after the command word. Returns the exit
 * status: 0 when the input was read to the end, 2 for usage errors, 1 when
 * the input could not be read. */
int td_decode_main(int argc, char **argv);

#endif
