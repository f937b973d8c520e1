/*
 * fuzz_redis_uri.c -- redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (the
 * store, config_center.redis, amsctl --redis): ruri_parse on any string,
 * and what a successful parse promises: a host, a port in 1..65535, a
 * database in 0..1000000, a non-empty password when there is one, and a
 * display form without the credentials (no "user:pass@").
 */
#include "fuzz.h"
#include "redis_uri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    const char *why = NULL;
    char shown[512];
    ruri u;

    if (ruri_parse(s, &u, &why) == 0) {
        if (u.host == NULL || u.host[0] == '\0' || u.port < 1 ||
            u.port > 65535 || u.db < 0 || u.db > 1000000 ||
            (u.pass != NULL && u.pass[0] == '\0')) {
            fprintf(stderr, "accepted a bad URI: host \"%s\" port %d db %d\n",
                    u.host ? u.host : "(null)", u.port, u.db);
            abort();
        }
        ruri_display(&u, shown, sizeof shown);
        if (strchr(shown, '@') != NULL) { /* the host never holds one */
            fprintf(stderr, "the display form shows credentials: %s\n", shown);
            abort();
        }
    } else if (why == NULL || why[0] == '\0') {
        fprintf(stderr, "refused without a reason\n");
        abort();
    }
    ruri_free(&u);
    free(s);
    return 0;
}
