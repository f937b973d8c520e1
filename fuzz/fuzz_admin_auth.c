/*
 * fuzz_admin_auth.c -- the admin plane's Authorization header against a
 * table of two tokens: auth_check on any header value.  It accepts
 * exactly "Bearer" (any case), blanks, one of the tokens, and blanks --
 * checked here against a plain reading of that rule.
 */
#include "auth.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOK_A                                                                 \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TOK_B                                                                 \
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static auth_table table;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    errs e = {0};

    (void)argc;
    (void)argv;
    fz_quiet();
    if (auth_table_add(&table, "dash", TOK_A, "viewer", "fuzz", 1, &e) < 0 ||
        auth_table_add(&table, "ops", TOK_B, "admin", "fuzz", 2, &e) < 0)
        abort();
    errs_free(&e);
    return 0;
}

/* The rule, read plainly: which token the header names, or NULL. */
static const char *expected(const char *h)
{
    size_t len;

    h += strspn(h, " \t");
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return NULL;
    h += 6 + strspn(h + 6, " \t");
    len = strlen(h);
    while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    if (len == 64 && memcmp(h, TOK_A, 64) == 0)
        return "dash";
    if (len == 64 && memcmp(h, TOK_B, 64) == 0)
        return "ops";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = fz_cstr(data, size);
    const auth_token *who = NULL;
    auth_status st = auth_check(&table, h, &who);
    const char *want = expected(h);

    if ((st == AUTH_OK) != (want != NULL) ||
        (st == AUTH_OK && (who == NULL || strcmp(who->name, want) != 0))) {
        fprintf(stderr, "auth_check says %d (%s), the rule says %s\n", (int)st,
                who ? who->name : "nobody", want ? want : "refused");
        abort();
    }
    free(h);
    return 0;
}
