/*
 * fuzz_tags_csv.c -- the tag-import CSV (POST /admin/tags/import): any
 * body, fed in pieces of sizes the input chooses (the admin plane feeds
 * the chunks as they arrived), validated without a store.  The outcome
 * must not depend on where the body was split: the same bytes fed in one
 * piece must load and reject the same lines with the same reasons.
 *
 * Input: one byte choosing the piece sizes, then the body.
 */
#include "fuzz.h"
#include "tags_import.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET

static cJSON *import(const char *body, size_t len, unsigned seed)
{
    static tags_import t; /* 4 KiB of line buffer: not on the stack */
    cJSON *res;
    size_t off = 0;

    tags_import_init(&t, NULL, 0, 0);
    while (off < len) {
        /* 0: all at once; else pieces of 1..seed bytes, varying. */
        size_t n = seed == 0 ? len - off : 1 + (off * 7 + seed) % seed;
        if (n > len - off)
            n = len - off;
        tags_import_feed(&t, body + off, n);
        off += n;
    }
    tags_import_finish(&t);
    res = tags_import_result(&t);
    tags_import_free(&t);
    if (res == NULL)
        abort();
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *whole, *pieces;

    if (size < 1)
        return 0;
    whole = import((const char *)data + 1, size - 1, 0);
    pieces = import((const char *)data + 1, size - 1, data[0]);
    if (!cJSON_Compare(whole, pieces, 1)) {
        char *a = cJSON_PrintUnformatted(whole);
        char *b = cJSON_PrintUnformatted(pieces);
        fprintf(stderr, "split at %u bytes changed the result:\n%s\n%s\n",
                data[0], a, b);
        abort();
    }
    cJSON_Delete(whole);
    cJSON_Delete(pieces);
    return 0;
}
