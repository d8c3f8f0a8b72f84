/*
 * trackd: a GPS-tracker server. Command dispatch:
 *   trackd [serve] [options]   run the device gateway (the default)
 *   trackd decode ...          decode frames offline
 *   trackd user add|passwd ... manage accounts
 *   trackd --version | --help
 */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/decode_cli.h"
#include "core/log.h"
#include "core/server.h"
#include "http/auth.h"

static void usage(FILE *out)
{
    fprintf(out,
            "trackd %s - one port for every GPS tracker\n\n"
            "usage: trackd [serve] [options]\n"
            "       trackd decode [--protocol NAME] [--hex] [FILE]\n"
            "       trackd user add NAME [--admin] [--password P] [--db PATH]\n"
            "       trackd user passwd NAME [--password P] [--db PATH]\n"
            "       trackd --version\n\n",
            TRACKD_VERSION);
    td_config_usage(out);
}

int main(int argc, char **argv)
{
    int first = 1;
    char err[512];
    td_config cfg;

    if (argc > 1 && !strcmp(argv[1], "decode"))
        return td_decode_main(argc - 2, argv + 2);
    if (argc > 1 && !strcmp(argv[1], "user"))
        return td_user_main(argc - 2, argv + 2);
    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("trackd %s\n", TRACKD_VERSION);
        return 0;
    }
    if (argc > 1 &&
        (!strcmp(argv[1], "help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "serve"))
        first = 2;
    else if (argc > 1 && argv[1][0] != '-') {
        fprintf(stderr, "trackd: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }

    td_config_defaults(&cfg);
    int rc = td_config_parse(&cfg, argc, argv, first, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "trackd: %s\n", err);
        return 2;
    }
    td_log_set_level(cfg.log_level);
    return td_serve(&cfg);
}
