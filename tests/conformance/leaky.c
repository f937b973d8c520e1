/*
 * leaky -- init allocates a state with a buffer and destroy frees only
 * the state.  Should fail: lifecycle.repeat (the heap grows every cycle).
 */
#include <ams/ams.h>

#include <stdlib.h>
#include <string.h>

static const ams_param params[] = {{"word", AMS_T_STRING,
                                    AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1,
                                    100, "the word to look for"},
                                   {NULL, 0, 0, 0, 0, NULL}};
static const ams_entry entries[] = {
    {"says", AMS_RULE, "lk_says", NULL, "lk_init", "lk_destroy", params,
     "{\"word\":\"please\"}", "the request's text contains the word"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("leaky", "1.0.0", entries);

typedef struct lk_state {
    char *word;
} lk_state;

AMS_INIT(lk_init)
{
    lk_state *s = calloc(1, sizeof *s);
    if (s == NULL || (s->word = malloc(1024)) == NULL) {
        free(s);
        return AMS_ERR_NOMEM;
    }
    strncpy(s->word, ams_conf_str(ctx, "word", ""), 1023);
    s->word[1023] = '\0';
    *state = s;
    return AMS_OK;
}

AMS_DESTROY(lk_destroy)
{
    free(state); /* the bug: s->word is never freed */
}

AMS_ENTRY(lk_says)
{
    const lk_state *s = ams_api->state(ctx);
    const char *text;
    if (ams_api->req_str(ctx, "text", &text) != AMS_OK)
        return ams_fail(ctx, "no_text");
    return strstr(text, s->word) ? AMS_OK : ams_fail(ctx, "impolite");
}
