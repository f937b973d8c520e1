/*
 * test_cfg.c -- reading amsd.conf and activity files (cfg.c): a file
 * with `@include` is refused with its file:line, whatever the included
 * path names, and the process reading it lives on.  libconfig follows
 * such a line from the working directory, and exit()s when it names a
 * directory (found by fuzz/fuzz_activity; seed
 * fuzz/corpus/activity/include-directory.conf).
 *
 *   AMS_TEST_TMP  scratch directory
 */
#include "cfg.h"
#include "fixture.h"
#include "tap.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char dir[PATH_MAX], text[PATH_MAX + 64];
    static const char *const lines[] = {"@include \"%s\"\n",
                                        "x = 1;\n  \t@include \"%s/x.cfg\"\n",
                                        "@include \"%s/missing\"\n"};
    const char *path;
    config_t cf;
    errs e = {0};

    fx_scratch(dir, sizeof dir, "cfg");
    fx_put(dir, "x.cfg", "y = 2;\n");

    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        int line = i == 1 ? 2 : 1;
        snprintf(text, sizeof text, lines[i], dir);
        path = fx_put(dir, "inc.conf", text);
        errs_free(&e);
        memset(&e, 0, sizeof e);
        ok(cfg_read(&cf, path, &e) == -1, "@include case %zu is refused",
           i + 1);
        fx_expect_at(&e, path, line, "@include is not supported");
    }

    /* The word elsewhere is no directive: a comment, a string. */
    path = fx_put(dir, "plain.conf",
                  "# @include \"/\"\nname = \"@include \\\"/\\\"\";\n");
    errs_free(&e);
    memset(&e, 0, sizeof e);
    ok(cfg_read(&cf, path, &e) == 0, "@include in a comment or a string is "
                                     "read as such");
    if (e.n == 0) {
        const char *v = NULL;
        ok(config_lookup_string(&cf, "name", &v) &&
               strcmp(v, "@include \"/\"") == 0,
           "and the string keeps it");
        config_destroy(&cf);
    } else {
        fx_dump_errs(&e);
    }
    errs_free(&e);
    return tap_done();
}
