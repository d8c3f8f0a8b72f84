/*
 * Accounts: argon2id password hashes (libargon2), random session and API
 * token secrets stored only as their SHA-256, the admin bootstrap on first
 * start, and the `trackd user` shell commands.
 */
#ifndef TRACKD_AUTH_H
#define TRACKD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "trackd/store.h"

#define TD_TOKEN_HEX 64 /* hex characters of a session/token secret */
#define TD_PASSWORD_MIN 8
#define TD_PASSWORD_MAX 128

/* Hashes a password as an argon2id encoded string. Slow on purpose
 * (tens of milliseconds): call it off the event loop where it matters. */
int td_password_hash(const char *password, char *out, size_t cap);
/* Checks a password against an encoded hash (constant time). */
bool td_password_verify(const char *encoded, const char *password);
/* NULL when acceptable, else why not. */
const char *td_password_problem(const char *password);
/* NULL when acceptable as a user name, else why not. */
const char *td_username_problem(const char *name);

/* Fills out with TD_TOKEN_HEX random hex characters and a NUL. */
int td_random_hex(char *out, size_t hex_chars);
/* out = hex SHA-256 of secret (65 bytes with the NUL). */
void td_secret_key(const char *secret, char out[65]);

/* Creates the 'admin' user when the store has no users (see CONTRACT). */
int td_auth_bootstrap(td_store *store, const td_config *cfg);

/* `trackd user add|passwd ...`; returns the process exit code. */
int td_user_main(int argc, char **argv);

#endif
