/*
 * fuzz_center_version.c -- a version as a node reads it from the config
 * center: the HGETALL reply of PREFIX v:N (Redis content, written by
 * amsctl or by anyone who can write to that Redis) through
 * ckv_from_reply, which checks file names, the pin file and the digest.
 *
 * Input: a count byte, then per element a type byte (mostly a string),
 * a 2-byte length and that many bytes.
 */
#include "center_kv.h"
#include "fuzz.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#define NMAX 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_bytes b = {data, size};
    redisReply top, items[NMAX], *elems[NMAX];
    size_t n = fz_u8(&b) % (NMAX + 1);
    ckv_version v;
    errs e = {0};

    memset(&top, 0, sizeof top);
    memset(items, 0, sizeof items);
    top.type = (n & 1) && fz_u8(&b) == 0 ? REDIS_REPLY_NIL : REDIS_REPLY_ARRAY;
    top.elements = n;
    top.element = elems;
    for (size_t i = 0; i < n; i++) {
        uint8_t t = fz_u8(&b);
        size_t len = fz_u8(&b) | (size_t)fz_u8(&b) << 8;
        if (len > b.n)
            len = b.n;
        items[i].type =
            (t & 15) == 0 ? REDIS_REPLY_INTEGER : REDIS_REPLY_STRING;
        /* hiredis NUL-terminates what it reads: so does this. */
        items[i].str = fz_cstr(b.p, len);
        items[i].len = len;
        b.p += len;
        b.n -= len;
        elems[i] = &items[i];
    }
    ckv_from_reply(7, &top, &v, &e);
    ckv_free(&v);
    errs_free(&e);
    for (size_t i = 0; i < n; i++)
        free(items[i].str);
    return 0;
}
