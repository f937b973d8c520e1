/*
 * fuzz_activity.c -- activity files: activity_parse_file on any bytes,
 * with the bundled plugins loaded (so that `use = "pool.grant"` resolves
 * and params are checked against the real schemas, schema.c).  Plugin
 * init does not run: this is the parse and check that `amsd -t` does.
 */
#include "activity.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

static plugin *find(void *ud, const char *name)
{
    size_t n;
    plugin *const *ps = fz_plugins(&n);

    (void)ud;
    for (size_t i = 0; i < n; i++)
        if (strcmp(ps[i]->name, name) == 0)
            return ps[i];
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t n;

    (void)argc;
    (void)argv;
    fz_quiet();
    fz_plugins(&n);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_memfile(data, size);
    activity **acts = NULL;
    size_t nacts = 0;
    instance *all = NULL;
    errs e = {0};

    if (path == NULL)
        return 0;
    activity_parse_file_as(path, "fuzz.conf", find, NULL, &acts, &nacts, &all,
                           &e);
    for (size_t i = 0; i < nacts; i++)
        activity_free(acts[i]);
    free(acts);
    while (all != NULL) {
        instance *next = all->next_all;
        activity_instance_free(all);
        all = next;
    }
    errs_free(&e);
    return 0;
}
