/*
 * fuzz_forwarded.c -- the client address behind trusted proxies
 * (core/data/realip.h): the input after its first byte is an
 * X-Forwarded-For value (first byte even) or a Forwarded one (odd),
 * walked by realip_walk with a fixed list of trusted proxies; bit 1 of
 * the first byte chooses a peer inside that list or outside it.
 *
 * Beyond "no crash": an untrusted peer is the client whatever the
 * header says (a client cannot name itself), and otherwise the client
 * is the peer or an address written somewhere in the header's text: the
 * walk never makes up an address from pieces (a port taken for an
 * octet, the half of a bracketed IPv6).
 */
#include "cidr.h"
#include "fuzz.h"
#include "realip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const trusted_text[] = {
    "10.0.0.0/8", "192.168.0.0/16", "127.0.0.1", "fd00::/8", "::1",
};
#define NTRUSTED (sizeof trusted_text / sizeof trusted_text[0])
static cidr trusted[NTRUSTED];
static cidr_ip peer_in, peer_out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    for (size_t i = 0; i < NTRUSTED; i++)
        if (cidr_parse(trusted_text[i], &trusted[i]) < 0)
            abort();
    if (cidr_ip_parse("10.1.2.3", &peer_in) < 0 ||
        cidr_ip_parse("203.0.113.9", &peer_out) < 0)
        abort();
    return 0;
}

/* Characters an address may be written with; a written address starts
 * where none of them precedes it. */
static int addr_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.';
}

/* 1 when some substring of s (n bytes) is written as ip. */
static int written(const char *s, size_t n, const cidr_ip *ip)
{
    for (size_t i = 0; i < n; i++) {
        if (!addr_char(s[i]) || (i > 0 && addr_char(s[i - 1])))
            continue;
        for (size_t j = i + 1; j <= n && j - i < CIDR_TEXT_MAX; j++) {
            cidr_ip a;
            if (!addr_char(s[j - 1]))
                break;
            if (cidr_ip_parse_n(s + i, j - i, &a) == 0 &&
                memcmp(&a, ip, sizeof a) == 0)
                return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const cidr_ip *peer;
    char *hdr, shown[CIDR_TEXT_MAX];
    size_t len;
    cidr_ip out;

    if (size < 1)
        return 0;
    peer = data[0] & 2 ? &peer_out : &peer_in;
    len = size - 1;
    /* Exactly the header's bytes, no NUL after them: ASan sees a read
     * past len. */
    hdr = malloc(len ? len : 1);
    if (hdr == NULL)
        return 0;
    if (len)
        memcpy(hdr, data + 1, len);
    memset(&out, 0xa5, sizeof out);
    realip_walk(hdr, len, data[0] & 1, trusted, NTRUSTED, peer, &out);
    if (memcmp(&out, peer, sizeof out) != 0 &&
        (peer == &peer_out || !written(hdr, len, &out))) {
        fprintf(stderr, "client %s: %s\n",
                cidr_ip_format(&out, shown, sizeof shown),
                peer == &peer_out ? "the peer is not trusted"
                                  : "not written in the header");
        abort();
    }
    free(hdr);
    return 0;
}
