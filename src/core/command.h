/*
 * Commands as the API sees them: checking an operator's parameters against
 * the command type a protocol declares, and describing those types.
 *
 * A command is stored with its JSON attributes exactly as validated here;
 * the same function turns the stored attributes back into a td_command when
 * the command is sent, so what was checked is what is encoded.
 */
#ifndef TRACKD_COMMAND_H
#define TRACKD_COMMAND_H

#include <jansson.h>
#include <stddef.h>

#include "trackd/protocol.h"

#define TD_CMD_SCRATCH 4096 /* bytes for decoded hex parameters */

/*
 * Checks attrs (a JSON object, or NULL for none) against t and fills cmd.
 * String arguments point into attrs (or, for hex, into scratch), so both
 * must outlive cmd. A voice parameter (TD_PARAM_DATA) is a voice id: its
 * value is left in arg.num with str NULL for the caller to load. Returns 0,
 * or TD_EINVAL with a message for the operator in err.
 */
int td_cmd_validate(const td_cmd_type *t, json_t *attrs, td_command *cmd, uint8_t *scratch,
                    size_t scratch_cap, char *err, size_t errcap);

/* The command types of protocol p as the API lists them (a new array). */
json_t *td_cmd_types_json(const td_protocol *p);

/* The API name of a parameter kind: "phone", "integer", ... */
const char *td_param_kind_name(enum td_param_kind k);

#endif
