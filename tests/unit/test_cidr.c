/*
 * test_cidr.c -- addresses and prefixes read the way the gateway needs
 * them: both families in one form, host bits cleared and reported,
 * garbage refused, membership exact at the edges of a prefix.
 */
#include "cidr.h"
#include "tap.h"

#include <string.h>

static int in(const char *prefix, const char *ip)
{
    cidr c;
    cidr_ip a;

    if (cidr_parse(prefix, &c) < 0 || cidr_ip_parse(ip, &a) < 0)
        return -1;
    return cidr_contains(&c, &a);
}

int main(void)
{
    static const char *bad[] = {
        "",           "1.2.3",      "1.2.3.4.5", "256.1.1.1",
        "010.1.1.1",  "1.2.3.4/33", "1.2.3.4/",  "1.2.3.4/x",
        "1.2.3.4/ 8", "1.2.3.4/+8", "::1/129",   "fe80::1%eth0",
        "1.2.3.4 ",   "/8",         "::g",       "1.2.3.4/0008"};
    cidr c;
    cidr_ip a, b;
    char txt[CIDR_TEXT_MAX];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok(cidr_parse(bad[i], &c) < 0, "\"%s\" is not a prefix", bad[i]);

    ok(in("10.0.0.0/8", "10.255.255.255") == 1, "last address of 10/8 inside");
    ok(in("10.0.0.0/8", "11.0.0.0") == 0, "first address after 10/8 outside");
    ok(in("10.0.0.0/8", "9.255.255.255") == 0, "address before 10/8 outside");
    ok(in("10.0.0.0/8", "::ffff:10.1.2.3") == 1,
       "a v4-mapped v6 client matches a v4 prefix");
    ok(in("0.0.0.0/0", "203.0.113.9") == 1, "0/0 holds every v4 address");
    ok(in("0.0.0.0/0", "2001:db8::1") == 0, "0/0 (v4) holds no v6 address");
    ok(in("::/0", "2001:db8::1") == 1, "::/0 holds every address");
    ok(in("2001:db8::/32", "2001:db8:ffff::1") == 1, "v6 prefix inside");
    ok(in("2001:db8::/32", "2001:db9::1") == 0, "v6 prefix outside");
    ok(in("192.168.1.7", "192.168.1.7") == 1,
       "bare address is a /32 of itself");
    ok(in("192.168.1.7", "192.168.1.8") == 0,
       "bare address: not its neighbour");
    ok(in("10.0.0.0/12", "10.15.255.255") == 1 &&
           in("10.0.0.0/12", "10.16.0.0") == 0,
       "a prefix not on a byte boundary ends where it should");

    ok(cidr_parse("10.1.2.3/8", &c) == 1, "host bits set: reported");
    ok(cidr_ip_parse("10.0.0.0", &a) == 0 && cidr_ip_cmp(&c.base, &a) == 0,
       "host bits set: cleared");
    ok(c.bits == 104, "a v4 /8 is /104 of the mapped form");
    cidr_last(&c, &b);
    ok(strcmp(cidr_ip_format(&b, txt, sizeof txt), "10.255.255.255") == 0,
       "last address of 10/8 formats as 10.255.255.255 (got %s)", txt);
    ok(cidr_parse("2001:db8::/32", &c) == 0, "v6 prefix parses");
    cidr_last(&c, &b);
    ok(strcmp(cidr_ip_format(&b, txt, sizeof txt),
              "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff") == 0,
       "last address of 2001:db8::/32 (got %s)", txt);
    ok(cidr_ip_parse_n("1.2.3.4, 5.6.7.8", 7, &a) == 0 &&
           strcmp(cidr_ip_format(&a, txt, sizeof txt), "1.2.3.4") == 0,
       "an address read from the start of a header value");
    ok(cidr_ip_parse_n("1.2.3\0004", 7, &a) < 0, "a NUL inside is refused");
    ok(cidr_ip_parse("::1", &a) == 0 && !cidr_ip_is_v4(&a), "::1 is v6");
    ok(cidr_ip_parse("127.0.0.1", &a) == 0 && cidr_ip_is_v4(&a),
       "127.0.0.1 is v4");
    ok(cidr_ip_parse("1.0.0.0", &a) == 0 &&
           cidr_ip_parse("0.255.255.255", &b) == 0 && cidr_ip_cmp(&b, &a) < 0,
       "addresses order as numbers");
    return tap_done();
}
