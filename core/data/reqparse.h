/*
 * reqparse.h -- reading a request from outside: its path, its JSON body
 * and the fields amsd takes from it.  Pure functions (no event loop, no
 * store, no global state but cJSON's error pointer), so a fuzzer can call
 * them as the gateway does.
 *
 * Strict on purpose: what two JSON parsers could read two ways is
 * refused rather than read one way (a gateway in front that checks the
 * last of two "uid" keys would let the first through to amsd), and so is
 * what cJSON would read silently wrong.  Each refusal is a message that
 * names the field ("params.items[2].n: ..."), for a 400 bad_request:
 *
 *  - a duplicate key in any object, at any depth;
 *  - a number that is not finite (1e400, which strtod reads as infinity)
 *    or outside -(2^53-1)..2^53-1: beyond that a JSON number cannot be
 *    held exactly (cJSON holds a double: 9007199254740993 is read as
 *    ...992), so a fact like an amount would silently change;
 *  - a NUL in any string or key (\u0000, or a raw 0 byte): cJSON keeps
 *    the text up to it only, so "x\u0000one" and "x\u0000two" would be
 *    one uid.
 */
#ifndef AMS_CORE_REQPARSE_H
#define AMS_CORE_REQPARSE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Longest uid and request_id accepted. */
#define REQPARSE_ID_MAX 128

/* The largest magnitude a number may have: 2^53 - 1, the last integer
 * after which doubles skip integers. */
#define REQPARSE_NUM_MAX 9007199254740991.0

/* "/v1/activities/123/draw" -> *id = 123, mname = "draw" (mlen bytes at
 * most, NUL included).  0 on a match, -1 when path is not that route. */
int reqparse_path(const char *path, int64_t *id, char *mname, size_t mlen);

/* The len bytes at start (not NUL-terminated; start may be NULL when len
 * is 0) as one JSON value with nothing but white space after it, checked
 * as above.  Returns the value (the caller cJSON_Deletes it), or NULL
 * with a message in msg. */
cJSON *reqparse_body(const char *start, size_t len, char *msg, size_t msglen);

/* The fields amsd reads from a body reqparse_body returned: an object;
 * "uid" absent or a string of 0..REQPARSE_ID_MAX visible ASCII
 * characters; "request_id" such a string of 1.. characters; "params"
 * absent or an object.  0, or -1 with a message in msg. */
int reqparse_fields(const cJSON *body, char *msg, size_t msglen);

#endif
