/*
 * test_text.c -- text.h's key building leaves what snprintf leaves, at
 * every buffer size (store keys are built with it: a byte of difference
 * would name another record).
 */
#include "tap.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    static const long long ints[] = {0,
                                     7,
                                     -7,
                                     1003,
                                     -1003,
                                     4242,
                                     1LL << 53,
                                     -9223372036854775807LL - 1,
                                     9223372036854775807LL};
    int bad = 0, n = 0;

    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
        for (size_t cap = 0; cap < 48; cap++) {
            char want[48], got[48];
            int wn, gr;
            tbuf b = TBUF(got, cap);

            memset(want, 'x', sizeof want);
            memset(got, 'x', sizeof got);
            wn = snprintf(want, cap, "{a%lld}hu%zu:%s:%s", ints[k],
                          strlen("user-1"), "user-1", "idem:r-1");
            tbuf_mem(&b, "{a", 2);
            tbuf_int(&b, ints[k]);
            tbuf_mem(&b, "}hu", 3);
            tbuf_int(&b, (long long)strlen("user-1"));
            tbuf_mem(&b, ":", 1);
            tbuf_str(&b, "user-1");
            tbuf_mem(&b, ":", 1);
            tbuf_str(&b, "idem:r-1");
            gr = tbuf_end(&b);
            n++;
            if (memcmp(want, got, sizeof want) != 0 ||
                gr != ((size_t)wn < cap ? 0 : -1) || b.n != (size_t)wn) {
                bad++;
                printf("#   %lld at %zu: \"%.48s\" vs \"%.48s\"\n", ints[k],
                       cap, want, got);
            }
        }
    ok(bad == 0,
       "%d keys built as snprintf builds them, every size (%d differ)", n,
       bad);

    {
        char out[8];
        is_int(text_copy(out, sizeof out, "1.2.3.4"), 0, "text_copy fits");
        is_str(out, "1.2.3.4", "  and copies");
        is_int(text_copy(out, sizeof out, "10.20.30.40"), -1,
               "text_copy of a longer text says so");
        is_str(out, "10.20.3", "  and keeps what fits, as snprintf does");
    }
    return tap_done();
}
