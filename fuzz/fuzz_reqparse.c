/*
 * fuzz_reqparse.c -- a request as the gateway reads it from outside
 * (core/data/reqparse.h): the first line of the input is the path
 * (reqparse_path), the rest the body (reqparse_body, then
 * reqparse_fields when it is a value).
 *
 * Beyond "no crash": a refusal has a message; an accepted path has an id
 * and a method name that fits; and an accepted body has one canonical
 * text (canon_print, what the idempotency check hashes) that is a fixed
 * point: printed twice it is the same, and read back with cJSON it
 * prints the same again.  A value whose canonical text read another way
 * would let two requests that differ pass as "the same request", or one
 * request fail to match its own retry.
 */
#include "canon.h"
#include "fuzz.h"
#include "reqparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET

static void path(const char *p)
{
    char mname[64];
    int64_t id = -1;

    memset(mname, 'x', sizeof mname);
    if (reqparse_path(p, &id, mname, sizeof mname) == 0 &&
        memchr(mname, '\0', sizeof mname) == NULL) {
        fprintf(stderr, "a path accepted with an unterminated method\n");
        abort();
    }
}

static void canon_check(const cJSON *body)
{
    char *a = canon_print(body), *b = canon_print(body), *c = NULL;
    cJSON *back;

    if (a == NULL || b == NULL) {
        /* Every value reqparse_body accepts is printable: NULL here is
         * memory, which the fuzzer does not run short of. */
        fprintf(stderr, "no canonical text for an accepted body\n");
        abort();
    }
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "canon_print not deterministic:\n%s\n%s\n", a, b);
        abort();
    }
    back = cJSON_Parse(a);
    if (back != NULL)
        c = canon_print(back);
    if (c == NULL || strcmp(a, c) != 0) {
        fprintf(stderr, "canonical text is not a fixed point:\n%s\n%s\n", a,
                c ? c : "(does not parse back)");
        abort();
    }
    cJSON_Delete(back);
    free(a);
    free(b);
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *p = fz_cstr(data, plen), *body, msg[256];
    size_t blen = nl ? size - plen - 1 : 0;
    cJSON *v;

    path(p);
    free(p);
    /* The body without a NUL after it, as evhttp's buffer may hold it:
     * ASan sees a read past its length. */
    body = malloc(blen ? blen : 1);
    if (body == NULL)
        return 0;
    if (blen)
        memcpy(body, nl + 1, blen);
    msg[0] = '\0';
    v = reqparse_body(blen ? body : NULL, blen, msg, sizeof msg);
    if (v == NULL) {
        if (msg[0] == '\0') {
            fprintf(stderr, "body refused without a message\n");
            abort();
        }
    } else {
        msg[0] = '\0';
        if (reqparse_fields(v, msg, sizeof msg) < 0 && msg[0] == '\0') {
            fprintf(stderr, "fields refused without a message\n");
            abort();
        }
        canon_check(v);
        cJSON_Delete(v);
    }
    free(body);
    return 0;
}
