/*
 * fuzz_conf.c -- amsd.conf: conf_load and conf_finish on any bytes, then
 * the reloadable settings sent to workers as JSON and applied to a second
 * conf, which must give back the same JSON (a setting lost or changed on
 * its way to the workers would be a silent misconfiguration).
 *
 * The file is read as DIR/amsd.conf, DIR a private directory, so that
 * the relative paths it names (password_file...) resolve there; the name
 * is a link to the memfd holding the input (no disk write per input).
 */
#include "conf.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/amsd-fuzz-conf.XXXXXX";

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *mem = fz_memfile((const uint8_t *)"", 0);

    (void)argc;
    (void)argv;
    fz_quiet();
    if (mkdtemp(dir) == NULL || mem == NULL)
        abort();
    snprintf(path, sizeof path, "%s/amsd.conf", dir);
    if (symlink(mem, path) != 0)
        abort();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    conf c, back;
    errs e = {0};

    if (fz_memfile(data, size) == NULL)
        return 0;
    if (conf_load(&c, path, &e) == 0 && conf_finish(&c, &e) == 0) {
        cJSON *j = conf_reloadable_json(&c);
        cJSON *j2;

        memset(&back, 0, sizeof back);
        conf_load(&back, "/dev/null", &e); /* the defaults */
        conf_apply_reloadable(&back, j);
        j2 = conf_reloadable_json(&back);
        if (!cJSON_Compare(j, j2, 1)) {
            char *a = cJSON_PrintUnformatted(j),
                 *b = cJSON_PrintUnformatted(j2);
            fprintf(stderr,
                    "reloadable settings changed on the way:\n%s\n%s\n", a, b);
            abort();
        }
        cJSON_Delete(j);
        cJSON_Delete(j2);
        conf_free(&back);
    }
    conf_free(&c);
    errs_free(&e);
    return 0;
}
