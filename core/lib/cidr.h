/*
 * cidr.h -- IP addresses and prefixes, the one reading of them the
 * gateway uses (trusted proxies, client addresses, IP blacklists).
 *
 * Every address is held as 16 bytes: IPv6 as itself, IPv4 as the
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d), so one comparison serves
 * both families and "10.0.0.0/8" matches a v4 client whichever way the
 * socket reported it.
 */
#ifndef AMS_CORE_CIDR_H
#define AMS_CORE_CIDR_H

#include <stddef.h>
#include <stdint.h>

typedef struct cidr_ip {
    uint8_t b[16];
} cidr_ip;

typedef struct cidr {
    cidr_ip base;  /* host bits zero */
    unsigned bits; /* prefix length over the 128 bits (v4: 96 + n) */
} cidr;

/* Text of an address or a prefix longest accepted, NUL included. */
#define CIDR_TEXT_MAX 64

/* "1.2.3.4", "::1", "::ffff:1.2.3.4" (an IPv6 scope "%eth0" is refused).
 * 0 on success, -1 when s is not an address. */
int cidr_ip_parse(const char *s, cidr_ip *out);
/* Same, s being n bytes not necessarily NUL-terminated (header values). */
int cidr_ip_parse_n(const char *s, size_t n, cidr_ip *out);

/* "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128).
 * 0 on success; 1 when the prefix had host bits set (they are cleared, as
 * nginx does: the caller may warn); -1 when s is not a prefix. */
int cidr_parse(const char *s, cidr *out);

/* 1 when ip lies within c. */
int cidr_contains(const cidr *c, const cidr_ip *ip);

/* 1 for an IPv4(-mapped) address. */
int cidr_ip_is_v4(const cidr_ip *ip);

/* The address as text (v4 dotted, v6 compressed) into buf of len bytes
 * (CIDR_TEXT_MAX is enough); returns buf. */
char *cidr_ip_format(const cidr_ip *ip, char *buf, size_t len);

/* Order of addresses as unsigned 128-bit numbers: <0, 0, >0 (for sorted
 * sets of ranges). */
int cidr_ip_cmp(const cidr_ip *a, const cidr_ip *b);

/* The last address of c (base with every host bit set). */
void cidr_last(const cidr *c, cidr_ip *out);

#endif
