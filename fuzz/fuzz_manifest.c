/*
 * fuzz_manifest.c -- a plugin's manifest and parameter schemas, the part
 * of a .so the host reads before running any of its code: the bytes
 * choose a manifest (header fields, names, version, up to 4 entries of
 * up to 4 parameters each, entry flags) and plugin_check_manifest judges
 * it; then each entry's example params (a JSON text, as the conformance
 * runner validates them) go through schema_validate against its schema
 * -- only when the manifest passed, as the host does.
 *
 * What cannot be fuzzed is the layout itself: a manifest is C data in the
 * plugin's memory, and a wrong pointer there is not an input the host can
 * check.
 */
#include "fuzz.h"
#include "plugin.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

#define NENT 4
#define NPAR 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET

static void count_report(void *ud, const char *field, const char *msg)
{
    (void)field;
    if (msg == NULL || msg[0] == '\0')
        abort(); /* a problem must be said */
    (*(int *)ud)++;
}

/* A string or, one time in 16, NULL. */
static char *maybe_str(fz_bytes *b, size_t max)
{
    if ((fz_u8(b) & 15) == 0)
        return NULL;
    return fz_str(b, max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_bytes b = {data, size};
    ams_manifest m;
    ams_entry ents[NENT + 1];
    ams_param pars[NENT][NPAR + 1];
    uint32_t flags[NENT];
    const ams_host *host_slot = NULL;
    uint8_t shape = fz_u8(&b);
    size_t nent = fz_u8(&b) % (NENT + 1);
    errs e = {0};

    memset(&m, 0, sizeof m);
    memset(ents, 0, sizeof ents);
    memset(pars, 0, sizeof pars);
    /* Mostly a valid header, so the checks behind it are reached. */
    m.magic = (shape & 1) ? fz_u32(&b) : AMS_MAGIC;
    m.abi_major = (shape & 2) ? fz_u8(&b) : AMS_ABI_MAJOR;
    m.abi_minor = fz_u8(&b) % 4;
    m.min_minor = fz_u8(&b) % 4;
    m.size = (shape & 4) ? fz_u32(&b) % 256 : sizeof m;
    m.name = maybe_str(&b, 70);
    m.version = maybe_str(&b, 24);
    m.host = (shape & 8) ? NULL : &host_slot;
    m.entries = (shape & 16) ? NULL : ents;
    m.entry_flags = (shape & 32) ? flags : NULL;
    for (size_t i = 0; i < nent; i++) {
        size_t np = fz_u8(&b) % (NPAR + 1);
        ents[i].name = fz_str(&b, 70);
        ents[i].kind = (ams_kind)(fz_u8(&b) % 5);
        ents[i].symbol = maybe_str(&b, 16);
        ents[i].undo = maybe_str(&b, 16);
        ents[i].params = (fz_u8(&b) & 7) == 0 ? NULL : pars[i];
        for (size_t k = 0; k < np; k++) {
            ams_param *q = &pars[i][k];
            q->name = fz_str(&b, 20);
            q->type = (ams_type)(fz_u8(&b) % 12);
            q->flags = fz_u8(&b) % 10;
            q->min = (double)(int32_t)fz_u32(&b);
            q->max = (double)(int32_t)fz_u32(&b);
        }
        ents[i].example = fz_str(&b, 200);
        flags[i] = fz_u8(&b) % 4;
    }
    if (plugin_check_manifest(&m, "fuzz.so", &e) == 0) {
        for (size_t i = 0; i < nent; i++) {
            cJSON *ex = cJSON_Parse(ents[i].example);
            int problems = 0;
            if (ex == NULL)
                continue;
            schema_validate(ents[i].params, ex, count_report, &problems);
            cJSON_Delete(ex);
        }
    }
    errs_free(&e);
    free((char *)m.name);
    free((char *)m.version);
    for (size_t i = 0; i < nent; i++) {
        free((char *)ents[i].name);
        free((char *)ents[i].symbol);
        free((char *)ents[i].undo);
        free((char *)ents[i].example);
        for (size_t k = 0; pars[i][k].name != NULL; k++)
            free((char *)pars[i][k].name);
    }
    return 0;
}
