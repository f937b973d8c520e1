/*
 * realip.c -- X-Forwarded-For / Forwarded walked from the right
 * (realip.h).
 */
#include "realip.h"

#include <string.h>
#include <strings.h>

static int trusted_ip(const cidr *t, size_t n, const cidr_ip *ip)
{
    for (size_t i = 0; i < n; i++)
        if (cidr_contains(&t[i], ip))
            return 1;
    return 0;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* The node of a Forwarded element: its for= value, unquoted.  0, or -1
 * when the element has none or it is malformed. */
static int forwarded_for(const char *p, size_t n, const char **v, size_t *vl)
{
    size_t i = 0;

    while (i < n) {
        size_t start, end;
        while (i < n && is_ws(p[i]))
            i++;
        start = i;
        while (i < n && p[i] != ';')
            i++;
        end = i;
        if (i < n)
            i++; /* the ';' */
        while (end > start && is_ws(p[end - 1]))
            end--;
        if (end - start > 4 && strncasecmp(p + start, "for=", 4) == 0) {
            const char *s = p + start + 4;
            size_t l = end - start - 4;
            if (l >= 2 && s[0] == '"') {
                if (s[l - 1] != '"')
                    return -1;
                s++;
                l -= 2;
            }
            *v = s;
            *vl = l;
            return 0;
        }
    }
    return -1;
}

/* An address with an optional port ("1.2.3.4:80", "[::1]:80", "[::1]",
 * "::1").  0, or -1. */
static int node_ip(const char *s, size_t n, cidr_ip *out)
{
    const char *colon;

    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (rb == NULL)
            return -1;
        if ((size_t)(rb - s) + 1 != n &&
            ((size_t)(rb - s) + 2 >= n || rb[1] != ':'))
            return -1;
        return cidr_ip_parse_n(s + 1, (size_t)(rb - s - 1), out);
    }
    colon = memchr(s, ':', n);
    if (colon != NULL &&
        memchr(colon + 1, ':', n - (size_t)(colon - s) - 1) == NULL)
        n = (size_t)(colon - s); /* v4:port */
    return cidr_ip_parse_n(s, n, out);
}

void realip_walk(const char *hdr, size_t len, int forwarded,
                 const cidr *trusted, size_t ntrusted, const cidr_ip *peer,
                 cidr_ip *out)
{
    size_t end = len;

    *out = *peer;
    if (hdr == NULL || !trusted_ip(trusted, ntrusted, peer))
        return;
    while (end > 0) {
        size_t start = end, a, b;
        const char *v;
        size_t vl;
        cidr_ip ip;

        while (start > 0 && hdr[start - 1] != ',')
            start--;
        a = start;
        b = end;
        while (a < b && is_ws(hdr[a]))
            a++;
        while (b > a && is_ws(hdr[b - 1]))
            b--;
        v = hdr + a;
        vl = b - a;
        if (vl == 0 ||
            (forwarded && forwarded_for(hdr + a, b - a, &v, &vl) < 0) ||
            node_ip(v, vl, &ip) < 0)
            return; /* malformed: the last address walked stands */
        *out = ip;
        if (!trusted_ip(trusted, ntrusted, &ip))
            return;
        end = start > 0 ? start - 1 : 0;
        if (start == 0)
            return;
    }
}
