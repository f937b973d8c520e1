/*
 * json.h -- JSON text on the request path: the bytes cJSON_PrintUnformatted
 * gives, without its cost.
 *
 * Answers are stored and replayed byte for byte (pipeline.c), so the text
 * must not change with this printer: json_print(item) is exactly
 * cJSON_PrintUnformatted(item) (cJSON 1.7.x: the same escapes, the same
 * "%1.15g"-then-"%1.17g" numbers; tests/unit/test_json.c compares the two
 * on many values).  What it saves: cJSON prints every number with
 * sprintf and reads it back with sscanf (a few thousand instructions for
 * "code":0), and starts each text in a fresh 256-byte allocation.  Here an
 * integer is printed by hand, and the text can grow in the caller's stack
 * buffer (json_buf_init) and go out from there.
 *
 * json_put_* also build a text directly, with no cJSON tree at all
 * (gateway.c's error answers).
 */
#ifndef AMS_CORE_JSON_H
#define AMS_CORE_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct jbuf {
    char *p;    /* the text so far, NUL-terminated */
    size_t len; /* its length */
    size_t cap; /* bytes at p */
    int heap;   /* p was malloc'd here (else it is the caller's storage) */
    int failed; /* out of memory, or an item cJSON would not print */
} jbuf;

/* An empty text that grows in storage (size bytes, size >= 1) first, then
 * on the heap; storage may be NULL with size 0 (heap from the start).
 * Free with jbuf_free or take the text with jbuf_take. */
void jbuf_init(jbuf *b, char *storage, size_t size);

/* Releases what b allocated (never the caller's storage). */
void jbuf_free(jbuf *b);

/* The text as a malloc'd string the caller owns (b is then empty, and
 * must not be used again but to jbuf_free), or NULL when b failed or
 * memory is short (b is freed either way). */
char *jbuf_take(jbuf *b);

/* Append n raw bytes. */
void json_put(jbuf *b, const char *s, size_t n);

/* Append a string literal (its length known at compile time). */
#define json_put_lit(b, lit) json_put((b), "" lit, sizeof(lit) - 1)

/* Append s (NULL: as "") quoted and escaped as cJSON escapes it. */
void json_put_string(jbuf *b, const char *s);

/* Append an integer. */
void json_put_int(jbuf *b, long long v);

/* Append item as cJSON_PrintUnformatted prints it; b fails on what cJSON
 * refuses (a raw item without text, an unknown type). */
void json_put_item(jbuf *b, const cJSON *item);

/* cJSON_PrintUnformatted(item), byte for byte: a malloc'd string the
 * caller owns, or NULL (NULL item, out of memory, unprintable item). */
char *json_print(const cJSON *item);

#endif
