/*
 * cidr.c -- see cidr.h.  inet_pton does the reading of each family, so
 * every spelling the C library accepts is accepted, and nothing else.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0,    0,
                                      0, 0, 0, 0, 0xff, 0xff};

int cidr_ip_parse(const char *s, cidr_ip *out)
{
    struct in_addr a4;

    if (strchr(s, ':') == NULL) {
        /* inet_pton(AF_INET) takes only dotted quads: no "010" octal or
         * "1.2" short forms that inet_aton would read as something else. */
        if (inet_pton(AF_INET, s, &a4) != 1)
            return -1;
        memcpy(out->b, v4_prefix, sizeof v4_prefix);
        memcpy(out->b + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, s, out->b) == 1 ? 0 : -1;
}

int cidr_ip_parse_n(const char *s, size_t n, cidr_ip *out)
{
    char buf[CIDR_TEXT_MAX];

    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n) != NULL)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return cidr_ip_parse(buf, out);
}

int cidr_ip_is_v4(const cidr_ip *ip)
{
    return memcmp(ip->b, v4_prefix, sizeof v4_prefix) == 0;
}

/* Clear the bits after the first `bits`; 1 if any was set. */
static int mask_host(cidr_ip *ip, unsigned bits)
{
    int had = 0;

    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8
                        : bits > 8 * i      ? bits - 8 * i
                                            : 0;
        uint8_t m = (uint8_t)(keep == 0 ? 0 : 0xff << (8 - keep));

        if (ip->b[i] & (uint8_t)~m)
            had = 1;
        ip->b[i] &= m;
    }
    return had;
}

int cidr_parse(const char *s, cidr *out)
{
    char buf[CIDR_TEXT_MAX];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    unsigned long bits;
    char *end;

    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (cidr_ip_parse(buf, &out->base) < 0)
        return -1;
    if (slash == NULL) {
        out->bits = 128;
        return 0;
    }
    /* Digits only: strtoul would take " 8", "+8" and "0x8". */
    if (slash[1] < '0' || slash[1] > '9')
        return -1;
    bits = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || end - (slash + 1) > 3)
        return -1;
    /* The prefix length counts in the family the address was written in:
     * "10.0.0.0/8" is /104 of the mapped form. */
    if (strchr(buf, ':') == NULL) {
        if (bits > 32)
            return -1;
        bits += 96;
    } else if (bits > 128) {
        return -1;
    }
    out->bits = (unsigned)bits;
    return mask_host(&out->base, out->bits);
}

int cidr_contains(const cidr *c, const cidr_ip *ip)
{
    cidr_ip m = *ip;

    mask_host(&m, c->bits);
    return memcmp(m.b, c->base.b, 16) == 0;
}

char *cidr_ip_format(const cidr_ip *ip, char *buf, size_t len)
{
    const char *r = cidr_ip_is_v4(ip)
                        ? inet_ntop(AF_INET, ip->b + 12, buf, (socklen_t)len)
                        : inet_ntop(AF_INET6, ip->b, buf, (socklen_t)len);
    if (r == NULL && len > 0)
        buf[0] = '\0';
    return buf;
}

int cidr_ip_cmp(const cidr_ip *a, const cidr_ip *b)
{
    return memcmp(a->b, b->b, 16);
}

void cidr_last(const cidr *c, cidr_ip *out)
{
    *out = c->base;
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = c->bits >= 8 * (i + 1) ? 8
                        : c->bits > 8 * i      ? c->bits - 8 * i
                                               : 0;
        out->b[i] |= (uint8_t)(keep == 8 ? 0 : 0xff >> keep);
    }
}
