/*
 * Accounts and secrets. Passwords are hashed with argon2id (RFC 9106) at
 * t=2, m=19 MiB, p=1, the OWASP minimum; session cookies and API tokens are
 * 256-bit random secrets of which the store keeps only the SHA-256, so a
 * leaked database cannot be replayed as logins.
 */
#include "http/auth.h"

#include <argon2.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

#include "core/log.h"
#include "core/text.h"
#include "trackd/error.h"

#define ARGON_T 2
#define ARGON_M (19 * 1024)
#define ARGON_P 1
#define SALT_LEN 16
#define HASH_LEN 32

int td_password_hash(const char *password, char *out, size_t cap)
{
    uint8_t salt[SALT_LEN];
    if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
        return TD_EIO;
    int rc = argon2id_hash_encoded(ARGON_T, ARGON_M, ARGON_P, password, strlen(password), salt,
                                   sizeof(salt), HASH_LEN, out, cap);
    return rc == ARGON2_OK ? 0 : TD_EINVAL;
}

bool td_password_verify(const char *encoded, const char *password)
{
    return strncmp(encoded, "$argon2id$", 10) == 0 &&
           argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

const char *td_password_problem(const char *password)
{
    size_t n = strlen(password);
    if (n < TD_PASSWORD_MIN)
        return "password must be at least 8 characters";
    if (n > TD_PASSWORD_MAX)
        return "password must be at most 128 characters";
    return NULL;
}

const char *td_username_problem(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 63)
        return "user name must be 1 to 63 characters";
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-@", *p))
            return "user name may hold only letters, digits and . _ - @";
    return NULL;
}

int td_random_hex(char *out, size_t hex_chars)
{
    uint8_t raw[64];
    size_t n = (hex_chars + 1) / 2;
    if (n > sizeof(raw) || getrandom(raw, n, 0) != (ssize_t)n)
        return TD_EIO;
    td_hex_encode(raw, n, out, hex_chars + 1);
    out[hex_chars] = '\0';
    return 0;
}

void td_secret_key(const char *secret, char out[65])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(secret, strlen(secret), md, &len, EVP_sha256(), NULL);
    td_hex_encode(md, len, out, 65);
}

static int count_user(void *arg, const td_store_user *u)
{
    (void)u;
    (*(int *)arg)++;
    return 1; /* one is enough */
}

int td_auth_bootstrap(td_store *store, const td_config *cfg)
{
    int n = 0;
    int rc = store->ops->users(store, count_user, &n);
    if (n)
        return 0; /* count_user stopped the walk: there are users */
    if (rc)
        return rc;

    char generated[21];
    const char *pw = cfg->admin_password[0] ? cfg->admin_password : getenv("TRACKD_ADMIN_PASSWORD");
    bool gen = !pw || !*pw;
    if (gen) {
        if ((rc = td_random_hex(generated, 20)) != 0)
            return rc;
        pw = generated;
    } else if (td_password_problem(pw)) {
        td_error("--admin-password: %s", td_password_problem(pw));
        return TD_EINVAL;
    }
    td_store_user u;
    memset(&u, 0, sizeof(u));
    snprintf(u.name, sizeof(u.name), "admin");
    u.admin = true;
    u.created_ms = td_now_ms();
    if ((rc = td_password_hash(pw, u.hash, sizeof(u.hash))) != 0)
        return rc;
    if ((rc = store->ops->user_add(store, &u)) != 0)
        return rc;
    if (gen)
        td_info("created user 'admin' with password %s (shown once; change it with"
                " 'trackd user passwd admin')",
                generated);
    else
        td_info("created user 'admin' with the password given by %s",
                cfg->admin_password[0] ? "--admin-password" : "TRACKD_ADMIN_PASSWORD");
    return 0;
}

/* ---- trackd user ... ---------------------------------------------------- */

static void user_usage(FILE *out)
{
    fprintf(out,
            "usage: trackd user add NAME [--admin] [--password P] [--db PATH] [--config FILE]\n"
            "       trackd user passwd NAME [--password P] [--db PATH] [--config FILE]\n"
            "Without --password the password is asked for on the terminal (or read as one\n"
            "line from standard input when that is not a terminal).\n");
}

/* Reads a line; without echo when stdin is a terminal. */
static int read_secret(const char *prompt, char *buf, size_t cap)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *got = fgets(buf, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!got)
        return TD_EIO;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int ask_password(char *pw, size_t cap)
{
    char again[TD_PASSWORD_MAX + 2];
    if (read_secret("Password: ", pw, cap))
        return TD_EIO;
    if (!isatty(STDIN_FILENO))
        return 0;
    if (read_secret("Again: ", again, sizeof(again)))
        return TD_EIO;
    if (strcmp(pw, again) != 0) {
        fprintf(stderr, "trackd: the passwords differ\n");
        return TD_EINVAL;
    }
    return 0;
}

int td_user_main(int argc, char **argv)
{
    td_config cfg;
    const char *name = NULL, *password = NULL;
    char pwbuf[TD_PASSWORD_MAX + 2], err[512];
    bool admin = false;
    td_store *store = NULL;
    int rc, exit_code = 1;

    if (argc < 1 || (strcmp(argv[0], "add") && strcmp(argv[0], "passwd"))) {
        user_usage(stderr);
        return 2;
    }
    bool add = strcmp(argv[0], "add") == 0;
    td_config_defaults(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--admin") && add) {
            admin = true;
        } else if (!strcmp(a, "--password") && i + 1 < argc) {
            password = argv[++i];
        } else if (!strncmp(a, "--password=", 11)) {
            password = a + 11;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            user_usage(stdout);
            return 0;
        } else if (!strncmp(a, "--", 2)) {
            /* --db, --config and the other serve options */
            char *sub[3] = {NULL, argv[i], i + 1 < argc ? argv[i + 1] : NULL};
            int n = strchr(a, '=') || !sub[2] ? 2 : 3;
            if (td_config_parse(&cfg, n, sub, 1, err, sizeof(err)) < 0) {
                fprintf(stderr, "trackd: %s\n", err);
                return 2;
            }
            i += n - 2;
        } else if (!name) {
            name = a;
        } else {
            fprintf(stderr, "trackd: unexpected argument '%s'\n", a);
            user_usage(stderr);
            return 2;
        }
    }
    if (!name) {
        user_usage(stderr);
        return 2;
    }
    if (add && td_username_problem(name)) {
        fprintf(stderr, "trackd: %s\n", td_username_problem(name));
        return 2;
    }
    if (!password) {
        if (ask_password(pwbuf, sizeof(pwbuf)))
            return 1;
        password = pwbuf;
    }
    if (td_password_problem(password)) {
        fprintf(stderr, "trackd: %s\n", td_password_problem(password));
        return 2;
    }

    rc = td_store_open(cfg.db, &store, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "trackd: %s\n", err);
        return 1;
    }
    td_store_user u;
    memset(&u, 0, sizeof(u));
    if (td_password_hash(password, u.hash, sizeof(u.hash))) {
        fprintf(stderr, "trackd: cannot hash the password\n");
        goto out;
    }
    if (add) {
        snprintf(u.name, sizeof(u.name), "%s", name);
        u.admin = admin;
        u.created_ms = td_now_ms();
        rc = store->ops->user_add(store, &u);
        if (rc == TD_EEXISTS)
            fprintf(stderr, "trackd: user '%s' already exists (use 'trackd user passwd')\n", name);
        else if (rc)
            fprintf(stderr, "trackd: cannot add user '%s': %s\n", name, td_strerror(rc));
        else
            printf("user '%s' added (id %lld%s)\n", name, (long long)u.id, admin ? ", admin" : "");
    } else {
        td_store_user found;
        rc = store->ops->user_get(store, 0, name, &found);
        if (!rc)
            rc = store->ops->user_update(store, found.id, NULL, u.hash, -1);
        /* Every login of the user ends (a server running on this store
         * finds the sessions gone at their next request); tokens stay. */
        if (!rc)
            rc = store->ops->session_end_user(store, found.id, "session", NULL);
        if (rc == TD_ENOTFOUND)
            fprintf(stderr, "trackd: no user '%s'\n", name);
        else if (rc)
            fprintf(stderr, "trackd: cannot change the password: %s\n", td_strerror(rc));
        else
            printf("password of '%s' changed; their login sessions ended\n", name);
    }
    exit_code = rc ? 1 : 0;
out:
    store->ops->close(store);
    return exit_code;
}
