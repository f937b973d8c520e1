/*
 * realip.h -- the client address of a request behind trusted proxies,
 * with nginx's real_ip semantics (real_ip_recursive on).
 *
 * Only when the TCP peer is a trusted proxy is its X-Forwarded-For (or
 * Forwarded, RFC 7239: the `for=` of each element) read at all; it is
 * walked from the right, each trusted address skipped, and the first
 * untrusted one is the client.  A malformed element ends the walk: the
 * client is then the last address walked (a trusted proxy), never
 * something a client wrote before it.  When every element is trusted,
 * the leftmost is the client.
 */
#ifndef AMS_CORE_REALIP_H
#define AMS_CORE_REALIP_H

#include "cidr.h"

#include <stddef.h>

/* hdr: len bytes, the header's lines joined by ","; forwarded: 1 for
 * the Forwarded syntax, 0 for X-Forwarded-For.  *out is the client
 * (peer itself when peer is not trusted).  A pure function, for
 * fuzzing. */
void realip_walk(const char *hdr, size_t len, int forwarded,
                 const cidr *trusted, size_t ntrusted, const cidr_ip *peer,
                 cidr_ip *out);

#endif
