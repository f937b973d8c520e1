/*
 * text.h -- the one check of identifiers amsd takes from outside (uids,
 * request_ids, store keys, config-center names): visible ASCII, '!'..'~',
 * so no space, no control byte, nothing that needs escaping in a log line
 * or a Redis key.  Plugins have the same check in the SDK (ams_key_ok).
 */
#ifndef AMS_CORE_TEXT_H
#define AMS_CORE_TEXT_H

#include <stddef.h>

/* How many of the first n bytes of s are visible ASCII before the first
 * that is not (n when all are). */
static inline size_t text_visible_span(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && s[i] >= '!' && s[i] <= '~')
        i++;
    return i;
}

/* 1 when s (NUL-terminated) is min..max bytes, all visible ASCII. */
static inline int text_is_token(const char *s, size_t min, size_t max)
{
    size_t i = 0;

    while (s[i] >= '!' && s[i] <= '~')
        if (++i > max)
            return 0;
    return s[i] == '\0' && i >= min;
}

#endif
