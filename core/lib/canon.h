/*
 * canon.h -- the canonical text of a JSON value: what two requests must
 * share to be "the same request" (pipeline.c's idempotency check).
 *
 * It is json_print's text (cJSON_PrintUnformatted: no white space, the
 * same string escapes) with the members of every object, at every depth,
 * in ascending byte order of their keys (strcmp; keys holding the same
 * bytes keep their order, which the gateway never lets happen: it
 * refuses duplicate keys), and every number in one spelling that is a
 * function of its value alone and names no other value: an integer up to
 * 2^53 in digits, -0 as 0, any other number in the fewest of 15..17
 * significant digits that read back exactly.  So {"b":1,"a":[{"y":2,
 * "x":1e0}]} and {"a":[{"x":1,"y":2.0}],"b":1} have one text,
 * {"a":[{"x":1,"y":2}],"b":1}.  A value whose objects list their keys
 * in order, and whose numbers are integers below 10^15 or short
 * fractions (what requests carry), has the text json_print gives it:
 * what the version before canonical idempotency hashed (pipeline.c).
 */
#ifndef AMS_CORE_CANON_H
#define AMS_CORE_CANON_H

#include "json.h"

#include <cjson/cJSON.h>

/* Append the canonical text of item to b; b fails on what json_print
 * refuses, and when memory is short. */
void canon_put(jbuf *b, const cJSON *item);

/* The canonical text of item: a malloc'd string the caller owns, or NULL
 * (NULL item, out of memory, an item json_print would not print). */
char *canon_print(const cJSON *item);

#endif
