/*
 * test_metrics.c -- the metrics tables and their exposition: series by
 * labels with a cap, the worker-to-master pages (paging, summing across
 * workers, malformed elements left out), the Prometheus text (escaping of
 * label values, cumulative histogram buckets, exact seconds, every
 * family's HELP and TYPE), the entry and store-error counting, and the
 * "stats" answer.
 */
#include "answers.h"
#include "metrics.h"
#include "metrics_text.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const L_REQ[] = {"700", "take", "ok"};

/* The value on the line of text that starts with prefix (a whole series
 * name with labels), or -1. */
static double value_of(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static char *write_text(const metrics_table *t)
{
    metrics_master m = {.generation = 7,
                        .reloads_ok = 2,
                        .reloads_failed = 1,
                        .worker_restarts = 3,
                        .workers_ready = 2,
                        .workers_total = 2,
                        .workers_missing = 0,
                        .series_dropped = 5};
    return metrics_text_write(t, &m, NULL);
}

static void test_table(void)
{
    metrics_table t;
    metrics_series *a, *b;
    const char *other[] = {"700", "take", "sold_out"};
    const char *one[] = {"x"};

    metrics_table_init(&t, 3);
    a = metrics_table_get(&t, MF_REQUESTS, L_REQ);
    b = metrics_table_get(&t, MF_REQUESTS, L_REQ);
    ok(a != NULL && a == b, "the same labels give the same series");
    ok(metrics_table_get(&t, MF_REQUESTS, other) != a,
       "other labels, another series");
    is_str(metrics_label(a, 2), "ok", "labels are kept in order");
    ok(metrics_table_get(&t, MF_STORE_ERRORS, one) != NULL, "another family");
    ok(metrics_table_get(&t, MF_STORE_ERRORS, (const char *[]){"y"}) == NULL,
       "past the cap: no series");
    is_int(t.dropped, 1, "and the drop is counted");
    is_int(t.n, 3, "the table holds its cap");
    metrics_table_free(&t);

    /* Many series: the index grows and every one is found again. */
    metrics_table_init(&t, 5000);
    for (int i = 0; i < 5000; i++) {
        char id[16];
        const char *l[] = {id, "m", "ok"};
        snprintf(id, sizeof id, "%d", i);
        metrics_table_get(&t, MF_REQUESTS, l)->v[0] = (uint64_t)i;
    }
    {
        int found = 0;
        for (int i = 0; i < 5000; i++) {
            char id[16];
            const char *l[] = {id, "m", "ok"};
            snprintf(id, sizeof id, "%d", i);
            found +=
                metrics_table_get(&t, MF_REQUESTS, l)->v[0] == (uint64_t)i;
        }
        is_int(found, 5000, "5000 series: each found with its value");
        is_int(t.n, 5000, "and none created twice");
    }
    metrics_table_free(&t);
}

/* Everything of src through pages of about budget bytes into dst;
 * returns the number of pages. */
static int ship(const metrics_table *src, metrics_table *dst, size_t budget)
{
    size_t from = 0;
    int pages = 0;

    while (from < src->n || pages == 0) {
        cJSON *arr = cJSON_CreateArray();
        char *text;
        cJSON *back;

        from = metrics_encode(src, from, budget, arr);
        /* through text, as the control channel carries it */
        text = cJSON_PrintUnformatted(arr);
        back = cJSON_Parse(text);
        ok(strlen(text) <= budget || cJSON_GetArraySize(arr) == 1,
           "page %d: %zu bytes within the budget %zu", pages, strlen(text),
           budget);
        is_int(metrics_merge(dst, back), 0, "page %d merges cleanly", pages);
        free(text);
        cJSON_Delete(arr);
        cJSON_Delete(back);
        pages++;
    }
    return pages;
}

static void fill_worker(metrics_table *t, uint64_t k)
{
    const char *lat[] = {"700", "take"};
    const char *ent[] = {"testplug.flag", "rule"};
    metrics_series *s;

    metrics_table_get(t, MF_REQUESTS, L_REQ)->v[0] += 10 * k;
    s = metrics_table_get(t, MF_LATENCY, lat);
    s->v[0] += 3 * k;          /* count */
    s->v[1] += 1500000000 * k; /* 1.5 s per worker unit */
    s->v[2 + 0] += 1 * k;      /* <= 0.5 ms */
    s->v[2 + 4] += 1 * k;      /* <= 10 ms */
    /* one above 2.5 s: only in +Inf */
    s = metrics_table_get(t, MF_ENTRY, ent);
    s->v[0] += 4 * k;
    s->v[1] += 250 * k;
}

static void test_sum_across_workers(void)
{
    metrics_table w1, w2, sum;
    char *text;

    metrics_table_init(&w1, 100);
    metrics_table_init(&w2, 100);
    metrics_table_init(&sum, 100);
    fill_worker(&w1, 1);
    fill_worker(&w2, 2);
    ship(&w1, &sum, 1 << 20);
    ship(&w2, &sum, 1 << 20);
    text = write_text(&sum);
    ok(text != NULL, "exposition written");
    is_int(value_of(text, "amsd_requests_total{activity=\"700\",method="
                          "\"take\",reason=\"ok\"}"),
           30, "counters are summed across workers (10 + 20)");
    is_int(value_of(text, "amsd_request_duration_seconds_count{activity="
                          "\"700\",method=\"take\"}"),
           9, "histogram count summed (3 + 6)");
    has_str(text,
            "amsd_request_duration_seconds_sum{activity=\"700\","
            "method=\"take\"} 4.500000000\n",
            "histogram sum in seconds, exactly (1.5 + 3.0)");
    {
        static const char *const want[][2] = {
            {"0.0005", "3"}, {"0.001", "3"}, {"0.005", "3"}, {"0.01", "6"},
            {"1", "6"},      {"2.5", "6"},   {"+Inf", "9"}};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            char line[200];
            snprintf(line, sizeof line,
                     "amsd_request_duration_seconds_bucket{activity="
                     "\"700\",method=\"take\",le=\"%s\"} %s\n",
                     want[i][0], want[i][1]);
            has_str(text, line, "bucket le=%s is cumulative: %s", want[i][0],
                    want[i][1]);
        }
    }
    is_int(value_of(text, "amsd_plugin_entry_duration_seconds_count{entry="
                          "\"testplug.flag\",kind=\"rule\"}"),
           12, "entry calls summed (4 + 8)");
    has_str(text,
            "amsd_plugin_entry_duration_seconds_sum{entry=\"testplug.flag\","
            "kind=\"rule\"} 0.000000750\n",
            "entry time summed, in seconds (250 ns + 500 ns)");
    {
        /* the master's memory of workers: tables summed directly */
        metrics_table direct;
        char *again;
        metrics_table_init(&direct, 100);
        metrics_table_add(&direct, &w2);
        metrics_table_add(&direct, &w1);
        again = write_text(&direct);
        is_str(again, text,
               "summing tables directly: the same text, "
               "whatever the order");
        free(again);
        metrics_table_free(&direct);
    }
    free(text);
    metrics_table_free(&w1);
    metrics_table_free(&w2);
    metrics_table_free(&sum);
}

static void test_paging(void)
{
    metrics_table w, sum;
    int pages, same = 1;

    metrics_table_init(&w, 2000);
    metrics_table_init(&sum, 2000);
    for (int i = 0; i < 1500; i++) {
        char id[16];
        const char *l[] = {id, "method_with_a_longish_name"};
        snprintf(id, sizeof id, "%d", 1000 + i);
        metrics_table_get(&w, MF_LATENCY, l)->v[0] = (uint64_t)i + 1;
        metrics_table_get(&w, MF_LATENCY, l)->v[2 + i % METRICS_BUCKETS] =
            (uint64_t)i + 1;
    }
    pages = ship(&w, &sum, 16 * 1024);
    ok(pages > 10, "1500 histograms take several pages (%d)", pages);
    is_int(sum.n, w.n, "every series arrived once");
    for (size_t i = 0; i < w.n; i++)
        same &= memcmp(w.all[i]->v, sum.all[i]->v,
                       metrics_nvalues(MF_LATENCY) * sizeof(uint64_t)) == 0;
    ok(same, "with its values");
    metrics_table_free(&w);
    metrics_table_free(&sum);
}

static void test_escaping(void)
{
    metrics_table sum;
    cJSON *page =
        cJSON_Parse("[[0,\"a\\\\b\",\"q\\\"uote\",\"line\\nfeed\",5],"
                    "[1,\"x\\\\\",\"\\\"\",1,1000,1,0,0,0,0,0,0,0,0,0,0,0],"
                    "[2,\"caf\\u00e9.\\u4e2d\",\"rule\",1,1]]");
    char *text;

    metrics_table_init(&sum, 10);
    is_int(metrics_merge(&sum, page), 0, "page with odd labels merges");
    text = write_text(&sum);
    has_str(text,
            "amsd_requests_total{activity=\"a\\\\b\",method=\"q\\\"uote\","
            "reason=\"line\\nfeed\"} 5\n",
            "backslash, double quote and line feed escaped in label values");
    has_str(text,
            "amsd_request_duration_seconds_bucket{activity=\"x\\\\\","
            "method=\"\\\"\",le=\"0.0005\"} 1\n",
            "a value ending in a backslash, and one that is only a quote");
    has_str(text, "entry=\"caf\xc3\xa9.\xe4\xb8\xad\"",
            "UTF-8 passes as it is");
    ok(strchr(strstr(text, "reason=\""), '\n') > strstr(text, "feed\"} 5"),
       "no raw line feed inside a series line");
    free(text);
    cJSON_Delete(page);
    metrics_table_free(&sum);
}

static void test_malformed(void)
{
    metrics_table sum;
    cJSON *page =
        cJSON_Parse("[[0,\"a\",\"b\",\"c\",1],"  /* good */
                    "[0,\"a\",\"b\",1],"         /* a label short */
                    "[0,\"a\",\"b\",\"c\",1,2]," /* a value too many */
                    "[9,\"a\"],"                 /* no such family */
                    "[0.5,\"a\",\"b\",\"c\",1]," /* family not an integer */
                    "[3,\"op\",-1],"             /* negative */
                    "[3,7,1],"                   /* label not a string */
                    "\"x\",[]]");
    char *text;

    metrics_table_init(&sum, 10);
    is_int(metrics_merge(&sum, page), 8, "8 malformed elements left out");
    is_int(sum.n, 1, "the good one kept");
    is_int(metrics_merge(&sum, NULL), 1, "no page at all: malformed");
    text = write_text(&sum);
    ok(text != NULL && strstr(text, "amsd_store_errors_total") == NULL,
       "a family without series is left out of the text");
    free(text);
    cJSON_Delete(page);
    metrics_table_free(&sum);
}

static void test_master_lines(void)
{
    metrics_table empty;
    char *text;
    static const char *const fams[][2] = {
        {"amsd_metrics_series_dropped_total", "counter"},
        {"amsd_generation", "gauge"},
        {"amsd_reloads_total", "counter"},
        {"amsd_worker_restarts_total", "counter"},
        {"amsd_workers", "gauge"},
        {"amsd_metrics_workers_missing", "gauge"},
    };

    metrics_table_init(&empty, 1);
    text = write_text(&empty);
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        char line[160];
        snprintf(line, sizeof line, "# HELP %s ", fams[i][0]);
        has_str(text, line, "%s has HELP", fams[i][0]);
        snprintf(line, sizeof line, "# TYPE %s %s\n", fams[i][0], fams[i][1]);
        has_str(text, line, "%s is a %s", fams[i][0], fams[i][1]);
    }
    is_int(value_of(text, "amsd_generation"), 7, "generation");
    is_int(value_of(text, "amsd_reloads_total{result=\"ok\"}"), 2,
           "reloads ok");
    is_int(value_of(text, "amsd_reloads_total{result=\"failed\"}"), 1,
           "reloads failed");
    is_int(value_of(text, "amsd_worker_restarts_total"), 3, "restarts");
    is_int(value_of(text, "amsd_workers{state=\"ready\"}"), 2, "ready");
    is_int(value_of(text, "amsd_metrics_series_dropped_total"), 5, "dropped");
    ok(text[strlen(text) - 1] == '\n', "the text ends with a line feed");
    free(text);
    metrics_table_free(&empty);
}

/* ---- counting in this process (the worker's table) ---- */

static const metrics_series *find(metrics_family f, const char *const *labels)
{
    metrics_table *t = metrics_worker_table();
    size_t before = t->n;
    const metrics_series *s = metrics_table_get(t, f, labels);
    return t->n == before ? s : NULL; /* created: was not there */
}

static ams_status rule_fn(ams_ctx *ctx)
{
    (void)ctx;
    return AMS_OK;
}

static ams_status undo_fn(ams_ctx *ctx)
{
    (void)ctx;
    return AMS_OK;
}

static void test_counting(void)
{
    const char *lat[] = {"42", "go"};
    const metrics_series *s;
    ams_entry spec = {.name = "op", .kind = AMS_OPERATION};
    plugin_entry pe = {.spec = &spec, .fn = rule_fn, .undo = undo_fn};
    instance in = {.entry = &pe, .ref = "plug.op"};

    metrics_count_request(42, "go", "ok", 500000);       /* on the bound */
    metrics_count_request(42, "go", "ok", 500001);       /* just above */
    metrics_count_request(42, "go", "busy", 3000000000); /* over 2.5 s */
    metrics_count_request(0, "", "not_found", 1000);
    s = find(MF_REQUESTS, L_REQ);
    ok(s == NULL, "no series for what was never counted");
    s = find(MF_REQUESTS, (const char *[]){"42", "go", "ok"});
    ok(s && s->v[0] == 2, "requests by activity, method, reason");
    s = find(MF_REQUESTS, (const char *[]){"", "", "not_found"});
    ok(s && s->v[0] == 1, "an unknown activity is labelled \"\"");
    s = find(MF_LATENCY, lat);
    ok(s && s->v[0] == 3, "histogram count: every request of the method");
    ok(s && s->v[2] == 1 && s->v[3] == 1, "a bound is inclusive (le)");
    ok(s && s->v[1] == 3000000000 + 1000001, "sum in ns");
    {
        uint64_t in_buckets = 0;
        for (int i = 0; s && i < METRICS_BUCKETS; i++)
            in_buckets += s->v[2 + i];
        is_int(in_buckets, 2, "over the last bound: only in +Inf");
    }

    metrics_count_call(&in, rule_fn, 100);
    metrics_count_call(&in, rule_fn, 200);
    metrics_count_call(&in, undo_fn, 50);
    s = find(MF_ENTRY, (const char *[]){"plug.op", "operation"});
    ok(s && s->v[0] == 2 && s->v[1] == 300, "entry calls by kind: count, "
                                            "sum");
    s = find(MF_ENTRY, (const char *[]){"plug.op", "undo"});
    ok(s && s->v[0] == 1 && s->v[1] == 50, "an undo is its own kind");
    metrics_count_call(NULL, rule_fn, 1);
    ok(find(MF_ENTRY, (const char *[]){"?", "unknown"}) != NULL,
       "no instance: counted, not a crash");
}

/* A backend whose every call fails (or answers a fixed status). */
static ams_status fail_status = AMS_ERR_STORE;
static int closed;

static ams_status f_add(store *s, const char *k, int64_t d, int64_t lo,
                        int64_t hi, int64_t e, int64_t now, int64_t *out,
                        const store_journal *j)
{
    (void)s, (void)k, (void)d, (void)lo, (void)hi, (void)e, (void)now, (void)j;
    if (out)
        *out = 99;
    return fail_status;
}

static ams_status f_get(store *s, const char *k, int64_t now, int64_t *out)
{
    (void)s, (void)k, (void)now, (void)out;
    return fail_status;
}

static void f_close(store *s)
{
    (void)s;
    closed++;
}

static const store_ops failing_ops = {.name = "failing",
                                      .counter_add = f_add,
                                      .counter_get = f_get,
                                      .close = f_close};

static void test_store_errors(void)
{
    store inner = {&failing_ops};
    store *s = metrics_store_wrap(&inner);
    int64_t out = 0;
    const metrics_series *e;

    ok(s != NULL && s != &inner, "wrapped");
    is_int(store_counter_add(s, "k", 1, 0, 10, 0, 0, &out), AMS_ERR_STORE,
           "the backend's answer passes through");
    is_int(out, 99, "and its out-parameters");
    store_counter_add(s, "k", 1, 0, 10, 0, 0, NULL);
    store_counter_get(s, "k", 0, NULL);
    fail_status = AMS_CONFLICT;
    is_int(store_counter_add(s, "k", 1, 0, 10, 0, 0, NULL), AMS_CONFLICT,
           "an outcome passes through");
    e = find(MF_STORE_ERRORS, (const char *[]){"counter_add"});
    ok(e && e->v[0] == 2, "AMS_ERR_STORE counted by operation (not "
                          "outcomes)");
    e = find(MF_STORE_ERRORS, (const char *[]){"counter_get"});
    ok(e && e->v[0] == 1, "each operation on its own");
    store_close(s);
    is_int(closed, 1, "closing the wrapper closes the backend");
    ok(metrics_store_wrap(NULL) == NULL, "NULL stays NULL");
}

static void test_answer(void)
{
    cJSON *q = cJSON_Parse("{\"type\":\"stats\"}");
    cJSON *reply = cJSON_CreateObject();
    cJSON *q2, *r2;
    char text[128];
    metrics_table sum;
    answer_fn fn = answers_find("stats");

    ok(fn == answer_stats, "the worker answers \"stats\"");
    is_int(fn(NULL, q, reply), 0, "answered");
    ok(cJSON_GetNumberValue(cJSON_GetObjectItem(reply, "pid")) ==
           (double)getpid(),
       "with its pid");
    ok(cJSON_IsArray(cJSON_GetObjectItem(reply, "series")) &&
           cJSON_GetObjectItem(reply, "next") == NULL,
       "one page holds a small table");
    ok(cJSON_IsNumber(cJSON_GetObjectItem(reply, "dropped")),
       "the first page says how many series were dropped");
    metrics_table_init(&sum, 100);
    is_int(metrics_merge(&sum, cJSON_GetObjectItem(reply, "series")), 0,
           "the page merges");
    is_int(sum.n, metrics_worker_table()->n, "with every series");
    metrics_table_free(&sum);

    snprintf(text, sizeof text, "{\"type\":\"stats\",\"from\":{\"%ld\":2}}",
             (long)getpid());
    q2 = cJSON_Parse(text);
    r2 = cJSON_CreateObject();
    fn(NULL, q2, r2);
    is_int(cJSON_GetArraySize(cJSON_GetObjectItem(r2, "series")),
           (long long)metrics_worker_table()->n - 2,
           "\"from\" names where this worker goes on");
    ok(cJSON_GetObjectItem(r2, "dropped") == NULL,
       "later pages do not repeat the drops");
    cJSON_Delete(q2);
    cJSON_Delete(r2);
    q2 = cJSON_Parse("{\"type\":\"stats\",\"from\":{\"1\":0}}");
    r2 = cJSON_CreateObject();
    fn(NULL, q2, r2);
    ok(cJSON_IsTrue(cJSON_GetObjectItem(r2, "skip")) &&
           cJSON_GetObjectItem(r2, "series") == NULL,
       "a worker \"from\" leaves out skips");
    cJSON_Delete(q2);
    cJSON_Delete(r2);
    cJSON_Delete(q);
    cJSON_Delete(reply);
}

int main(void)
{
    test_table();
    test_sum_across_workers();
    test_paging();
    test_escaping();
    test_malformed();
    test_master_lines();
    test_counting();
    test_store_errors();
    test_answer();
    metrics_table_free(metrics_worker_table());
    return tap_done();
}
