/*
 * test_schema.c -- validating configured params against an entry's
 * ams_param schema (every type, every flag), and converting libconfig
 * settings to the JSON the validator and the plugins see.
 */
#include "schema.h"
#include "tap.h"

#include <stdlib.h>

/* One spec covering every ams_type and flag. */
static const ams_param spec[] = {
    {"n", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 10, NULL},
    {"x", AMS_T_NUMBER, AMS_P_MIN | AMS_P_MAX, -0.5, 0.5, NULL},
    {"s", AMS_T_STRING, AMS_P_MIN | AMS_P_MAX, 2, 5, NULL},
    {"b", AMS_T_BOOL, 0, 0, 0, NULL},
    {"l", AMS_T_STRINGS, AMS_P_MIN | AMS_P_MAX, 1, 3, NULL},
    {"j", AMS_T_JSON, 0, 0, 0, NULL},
    {"big", AMS_T_INT, 0, 0, 0, NULL},           /* unbounded */
    {"lo", AMS_T_NUMBER, AMS_P_MIN, 0, 0, NULL}, /* lower bound only */
    {"hi", AMS_T_INT, AMS_P_MAX, 0, 100, NULL},  /* upper bound only */
    {NULL, 0, 0, 0, 0, NULL}};

/* No required params. */
static const ams_param optional_spec[] = {{"opt", AMS_T_STRING, 0, 0, 0, NULL},
                                          {NULL, 0, 0, 0, 0, NULL}};

#define MAXREP 16

typedef struct reports {
    int n;
    char field[MAXREP][64]; /* "(null)" when the reporter gave NULL */
    char msg[MAXREP][256];
} reports;

static void collect(void *ud, const char *field, const char *msg)
{
    reports *r = ud;

    if (r->n < MAXREP) {
        snprintf(r->field[r->n], sizeof r->field[0], "%s",
                 field ? field : "(null)");
        snprintf(r->msg[r->n], sizeof r->msg[0], "%s", msg ? msg : "");
    }
    r->n++;
}

static void dump(const reports *r)
{
    for (int i = 0; i < r->n && i < MAXREP; i++)
        printf("#   [%d] field %s: %s\n", i, r->field[i], r->msg[i]);
}

/* Validate the JSON text json against sp; reports go to r. */
static int run(const ams_param *sp, const char *json, reports *r)
{
    cJSON *obj = json ? cJSON_Parse(json) : NULL;
    int bad;

    memset(r, 0, sizeof *r);
    if (json != NULL && obj == NULL) {
        printf("# test bug: cannot parse %s\n", json);
        return -99;
    }
    bad = schema_validate(sp, obj, collect, r);
    cJSON_Delete(obj);
    return bad;
}

/* json gives exactly one report, about field, with message msg. */
static void one(const ams_param *sp, const char *json, const char *field,
                const char *msg)
{
    reports r;
    int bad = run(sp, json, &r);

    if (!ok(bad == 1 && r.n == 1 && strcmp(r.field[0], field) == 0 &&
                strcmp(r.msg[0], msg) == 0,
            "%s -> [%s] %s", json ? json : "NULL", field, msg)) {
        printf("#   returned %d\n", bad);
        dump(&r);
    }
}

static void good(const ams_param *sp, const char *json)
{
    reports r;
    int bad = run(sp, json, &r);

    if (!ok(bad == 0 && r.n == 0, "%s is valid", json ? json : "NULL"))
        dump(&r);
}

static void test_valid(void)
{
    good(spec, "{\"n\":1,\"x\":0.5,\"s\":\"ab\",\"b\":false,\"l\":[\"a\"],"
               "\"j\":[{\"p\":1}],\"big\":-42,\"lo\":0,\"hi\":100}");
    good(spec, "{\"n\":10,\"x\":-0.5,\"s\":\"abcde\",\"b\":true,"
               "\"l\":[\"a\",\"b\",\"c\"],\"j\":null}");
    good(spec, "{\"n\":5}");
    good(spec, "{\"n\":3.0}"); /* integral numbers are integers */
    good(spec, "{\"n\":2,\"big\":9007199254740991}"); /* 2^53 - 1 */
    good(spec, "{\"n\":2,\"lo\":1e300,\"hi\":-1e15}");
    good(spec, "{\"n\":2,\"s\":\"\xc3\xa9\xc3\xa9\"}"); /* 4 bytes */
    good(spec, "{\"n\":2,\"j\":\"text\"}");
    good(spec, "{\"n\":2,\"j\":{\"deep\":[1,{\"a\":null}]}}");
    good(optional_spec, NULL);
    good(optional_spec, "{}");
    good(NULL, NULL);
    good(NULL, "{}");
}

static void test_missing(void)
{
    one(spec, "{}", "(null)", "n: missing (required integer)");
    one(spec, NULL, "(null)", "n: missing (required integer)");
    one(spec, "{\"x\":0}", "(null)", "n: missing (required integer)");
}

static void test_types(void)
{
    one(spec, "{\"n\":1.5}", "n", "n: expected an integer");
    one(spec, "{\"n\":\"3\"}", "n", "n: expected an integer");
    one(spec, "{\"n\":true}", "n", "n: expected an integer");
    one(spec, "{\"n\":null}", "n", "n: expected an integer");
    one(spec, "{\"n\":2,\"big\":9007199254740994}", "big",
        "big: expected an integer"); /* 2^53 + 2: not exact as a double */
    /* 2^53 itself may be a rounded 2^53 + 1, so it is refused too. */
    one(spec, "{\"n\":2,\"big\":9007199254740993}", "big",
        "big: expected an integer");
    one(spec, "{\"n\":2,\"big\":1e300}", "big", "big: expected an integer");
    one(spec, "{\"n\":2,\"x\":\"0.1\"}", "x", "x: expected a number");
    one(spec, "{\"n\":2,\"x\":[0.1]}", "x", "x: expected a number");
    one(spec, "{\"n\":2,\"s\":5}", "s", "s: expected a string");
    one(spec, "{\"n\":2,\"s\":[\"ab\"]}", "s", "s: expected a string");
    one(spec, "{\"n\":2,\"b\":{}}", "b", "b: expected a boolean");
    one(spec, "{\"n\":2,\"b\":1}", "b", "b: expected a boolean");
    one(spec, "{\"n\":2,\"b\":\"true\"}", "b", "b: expected a boolean");
    one(spec, "{\"n\":2,\"l\":[\"a\",2]}", "l",
        "l: expected a list of strings");
    one(spec, "{\"n\":2,\"l\":\"a\"}", "l", "l: expected a list of strings");
    one(spec, "{\"n\":2,\"l\":{\"a\":\"b\"}}", "l",
        "l: expected a list of strings");
}

static void test_bounds(void)
{
    one(spec, "{\"n\":0}", "n", "n: value 0 is below the minimum 1");
    one(spec, "{\"n\":11}", "n", "n: value 11 is above the maximum 10");
    one(spec, "{\"n\":-3}", "n", "n: value -3 is below the minimum 1");
    one(spec, "{\"n\":2,\"x\":-1}", "x",
        "x: value -1 is below the minimum -0.5");
    one(spec, "{\"n\":2,\"x\":0.75}", "x",
        "x: value 0.75 is above the maximum 0.5");
    one(spec, "{\"n\":2,\"s\":\"a\"}", "s",
        "s: length 1 is below the minimum 2");
    one(spec, "{\"n\":2,\"s\":\"abcdef\"}", "s",
        "s: length 6 is above the maximum 5");
    one(spec, "{\"n\":2,\"s\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}", "s",
        "s: length 6 is above the maximum 5"); /* bytes, not characters */
    one(spec, "{\"n\":2,\"l\":[]}", "l", "l: count 0 is below the minimum 1");
    one(spec, "{\"n\":2,\"l\":[\"a\",\"b\",\"c\",\"d\"]}", "l",
        "l: count 4 is above the maximum 3");
    one(spec, "{\"n\":2,\"lo\":-0.001}", "lo",
        "lo: value -0.001 is below the minimum 0");
    one(spec, "{\"n\":2,\"hi\":101}", "hi",
        "hi: value 101 is above the maximum 100");
}

static void test_unknown_and_shape(void)
{
    reports r;
    int bad;

    one(spec, "{\"n\":1,\"zz\":2}", "zz", "zz: unknown parameter");
    one(spec, "{\"n\":1,\"N\":2}", "N", "N: unknown parameter");
    one(NULL, "{\"a\":1}", "a", "a: unknown parameter");
    one(optional_spec, "{\"opt\":\"v\",\"Opt\":\"v\"}", "Opt",
        "Opt: unknown parameter");
    one(spec, "[1]", "(null)", "params: expected a group of named values");
    one(spec, "5", "(null)", "params: expected a group of named values");
    one(spec, "\"n\"", "(null)", "params: expected a group of named values");
    one(NULL, "null", "(null)", "params: expected a group of named values");

    /* Every problem of one object is reported, each once. */
    bad = run(spec,
              "{\"x\":\"y\",\"s\":\"toolong\",\"b\":0,\"zz\":1,\"yy\":2}", &r);
    if (!ok(bad == 6 && r.n == 6,
            "six problems in one object: all "
            "reported (returned %d)",
            bad))
        dump(&r);
    is_str(r.msg[0], "n: missing (required integer)", "  missing n first");
    is_str(r.msg[1], "x: expected a number", "  then x");
    is_str(r.msg[2], "s: length 7 is above the maximum 5", "  then s");
    is_str(r.msg[3], "b: expected a boolean", "  then b");
    is_str(r.msg[4], "zz: unknown parameter", "  then zz");
    is_str(r.field[4], "zz", "  field zz");
    is_str(r.msg[5], "yy: unknown parameter", "  then yy");
}

static void test_type_names(void)
{
    is_str(schema_type_name(AMS_T_INT), "integer", "type name int");
    is_str(schema_type_name(AMS_T_NUMBER), "number", "type name number");
    is_str(schema_type_name(AMS_T_STRING), "string", "type name string");
    is_str(schema_type_name(AMS_T_BOOL), "boolean", "type name bool");
    is_str(schema_type_name(AMS_T_STRINGS), "list of strings",
           "type name strings");
    is_str(schema_type_name(AMS_T_JSON), "value", "type name json");
    is_str(schema_type_name((ams_type)42), "unknown", "type name unknown");
}

/* libconfig text -> schema_from_cfg(member "p") -> printed JSON. */
static void from_cfg(const char *text, const char *want, const char *what)
{
    config_t cf;
    char *got = NULL;

    config_init(&cf);
    if (config_read_string(&cf, text) != CONFIG_TRUE) {
        ok(0, "%s: test config parses (%s at line %d)", what,
           config_error_text(&cf), config_error_line(&cf));
        config_destroy(&cf);
        return;
    }
    {
        cJSON *j = schema_from_cfg(config_lookup(&cf, "p"));
        got = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
    }
    is_str(got, want, "%s", what);
    free(got);
    config_destroy(&cf);
}

static void test_from_cfg(void)
{
    from_cfg("p = {\n"
             "  i = 42;\n"
             "  neg = -7;\n"
             "  big = 10000000000L;\n"
             "  hex = 0x10;\n"
             "  f = 2.5;\n"
             "  fi = 3.0;\n"
             "  t = true;\n"
             "  fl = false;\n"
             "  s = \"a \\\"quoted\\\" string\";\n"
             "  arr = [1, 2, 3];\n"
             "  list = ( 1, \"two\", 3.5, { k = \"v\"; }, ( true ) );\n"
             "  g = { inner = { deep = [ \"x\", \"y\" ]; }; empty = (); };\n"
             "  eg = {};\n"
             "};\n",
             "{\"i\":42,\"neg\":-7,\"big\":10000000000,\"hex\":16,\"f\":2.5,"
             "\"fi\":3,\"t\":true,\"fl\":false,"
             "\"s\":\"a \\\"quoted\\\" string\",\"arr\":[1,2,3],"
             "\"list\":[1,\"two\",3.5,{\"k\":\"v\"},[true]],"
             "\"g\":{\"inner\":{\"deep\":[\"x\",\"y\"]},\"empty\":[]},"
             "\"eg\":{}}",
             "a group of every setting type converts member by member, in "
             "order");
    from_cfg("p = 7;", "7", "a scalar int");
    from_cfg("p = \"s\";", "\"s\"", "a scalar string");
    from_cfg("p = ( { a = 1; }, { a = 2; } );", "[{\"a\":1},{\"a\":2}]",
             "a list of groups (prize tables)");
    from_cfg("p = [];", "[]", "an empty array");

    /* A converted group validates like parsed JSON. */
    {
        config_t cf;
        cJSON *j;
        reports r;

        config_init(&cf);
        config_read_string(&cf, "p = { n = 4; x = 0.25; s = \"abc\"; "
                                "b = true; l = [\"a\", \"b\"]; "
                                "j = ( { p = 1; } ); };");
        j = schema_from_cfg(config_lookup(&cf, "p"));
        memset(&r, 0, sizeof r);
        is_int(schema_validate(spec, j, collect, &r), 0,
               "a libconfig group of every type validates");
        if (r.n)
            dump(&r);
        cJSON_Delete(j);
        config_destroy(&cf);
    }
}

int main(void)
{
    test_valid();
    test_missing();
    test_types();
    test_bounds();
    test_unknown_and_shape();
    test_type_names();
    test_from_cfg();
    return tap_done();
}
