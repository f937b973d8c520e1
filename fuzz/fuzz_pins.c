/*
 * fuzz_pins.c -- the plugin pin file (plugins.sha256: "HEX  NAME.so"
 * lines), as `amsctl publish` sends it and every node reads it back from
 * the config center: pins_parse on any bytes.  Every pin it accepts is a
 * plain *.so name and 64 lower-case hex digits.
 */
#include "fuzz.h"
#include "pins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exactly size bytes to read */
    errs e = {0};
    pins p;

    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    if (pins_parse(copy, size, "fuzz", &p, &e) == 0)
        for (size_t i = 0; i < p.n; i++) {
            const char *h = p.v[i].hex;
            if (!pins_plain_name(p.v[i].name, strlen(p.v[i].name), ".so") ||
                strlen(h) != 64 || strspn(h, "0123456789abcdef") != 64) {
                fprintf(stderr, "accepted a bad pin: \"%s\" %s\n", p.v[i].name,
                        h);
                abort();
            }
        }
    pins_free(&p);
    errs_free(&e);
    free(copy);
    return 0;
}
