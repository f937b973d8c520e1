/*
 * metrics_text.c -- series to the Prometheus text format (see
 * metrics_text.h and docs/operator-guide.md, "Metrics").
 */
#include "metrics_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Label names of each family, in key order. */
static const char *const label_names[MF_COUNT][3] = {
    [MF_REQUESTS] = {"activity", "method", "reason"},
    [MF_LATENCY] = {"activity", "method"},
    [MF_ENTRY] = {"entry", "kind"},
    [MF_STORE_ERRORS] = {"op"},
    [MF_COMMITS] = {"event"},
    [MF_RATELIMIT] = {"limit", "outcome"},
    [MF_RATELIMIT_EV] = {"event"},
    [MF_BLACKLIST] = {"scope", "kind"},
    [MF_CONN] = {"plane", "event"},
};

static void header(FILE *f, const char *name, const char *type,
                   const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the text format wants it: \\, \" and \n escaped,
 * every other byte as it is (the format is UTF-8). */
static void put_value(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            fputs("\\\\", f);
        else if (*v == '"')
            fputs("\\\"", f);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

/* {a="x",b="y"[,le="..."]}: the series' labels and an extra one. */
static void put_labels(FILE *f, const metrics_series *s,
                       const char *extra_name, const char *extra_value)
{
    size_t n = metrics_nlabels((metrics_family)s->family);
    const char *p = s->key;

    fputc('{', f);
    for (size_t i = 0; i < n; i++, p += strlen(p) + 1) {
        fprintf(f, "%s%s=\"", i ? "," : "", label_names[s->family][i]);
        put_value(f, p);
        fputc('"', f);
    }
    if (extra_name != NULL)
        fprintf(f, "%s%s=\"%s\"", n ? "," : "", extra_name, extra_value);
    fputc('}', f);
}

/* Nanoseconds as seconds, exactly. */
static void put_seconds(FILE *f, uint64_t ns)
{
    fprintf(f, "%llu.%09llu", (unsigned long long)(ns / 1000000000u),
            (unsigned long long)(ns % 1000000000u));
}

static int by_key(const void *a, const void *b)
{
    const metrics_series *x = *(const metrics_series *const *)a;
    const metrics_series *y = *(const metrics_series *const *)b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->key, y->key, n);

    return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* The series of family fam, sorted; *n of them.  NULL when none (or no
 * memory: -1 in *n). */
static const metrics_series **family(const metrics_table *t,
                                     metrics_family fam, long *n)
{
    const metrics_series **v;
    size_t k = 0;

    *n = 0;
    for (size_t i = 0; i < t->n; i++)
        k += t->all[i]->family == fam;
    if (k == 0)
        return NULL;
    if ((v = malloc(k * sizeof *v)) == NULL) {
        *n = -1;
        return NULL;
    }
    k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->all[i]->family == fam)
            v[k++] = t->all[i];
    qsort(v, k, sizeof *v, by_key);
    *n = (long)k;
    return v;
}

static int write_counters(FILE *f, const metrics_table *t, metrics_family fam,
                          const char *name, const char *help)
{
    long n;
    const metrics_series **v = family(t, fam, &n);

    if (n <= 0)
        return (int)n;
    header(f, name, "counter", help);
    for (long i = 0; i < n; i++) {
        fputs(name, f);
        put_labels(f, v[i], NULL, NULL);
        fprintf(f, " %llu\n", (unsigned long long)v[i]->v[0]);
    }
    free(v);
    return 0;
}

static int write_histograms(FILE *f, const metrics_table *t)
{
    static const char name[] = "amsd_request_duration_seconds";
    long n;
    const metrics_series **v = family(t, MF_LATENCY, &n);

    if (n <= 0)
        return (int)n;
    header(f, name, "histogram",
           "Time from reading a request to handing over its answer, by "
           "activity id and method.");
    for (long i = 0; i < n; i++) {
        const metrics_series *s = v[i];
        uint64_t cum = 0;

        for (int b = 0; b < METRICS_BUCKETS; b++) {
            cum += s->v[2 + b];
            fprintf(f, "%s_bucket", name);
            put_labels(f, s, "le", metrics_bucket_le[b]);
            fprintf(f, " %llu\n", (unsigned long long)cum);
        }
        fprintf(f, "%s_bucket", name);
        put_labels(f, s, "le", "+Inf");
        fprintf(f, " %llu\n%s_sum", (unsigned long long)s->v[0], name);
        put_labels(f, s, NULL, NULL);
        fputc(' ', f);
        put_seconds(f, s->v[1]);
        fprintf(f, "\n%s_count", name);
        put_labels(f, s, NULL, NULL);
        fprintf(f, " %llu\n", (unsigned long long)s->v[0]);
    }
    free(v);
    return 0;
}

static int write_entries(FILE *f, const metrics_table *t)
{
    static const char name[] = "amsd_plugin_entry_duration_seconds";
    long n;
    const metrics_series **v = family(t, MF_ENTRY, &n);

    if (n <= 0)
        return (int)n;
    header(f, name, "summary",
           "Time spent inside plugin entry functions (count and sum), by "
           "entry (plugin.entry) and kind (rule, operation, handler, undo).");
    for (long i = 0; i < n; i++) {
        fprintf(f, "%s_sum", name);
        put_labels(f, v[i], NULL, NULL);
        fputc(' ', f);
        put_seconds(f, v[i]->v[1]);
        fprintf(f, "\n%s_count", name);
        put_labels(f, v[i], NULL, NULL);
        fprintf(f, " %llu\n", (unsigned long long)v[i]->v[0]);
    }
    free(v);
    return 0;
}

static void write_master(FILE *f, const metrics_master *m)
{
    header(f, "amsd_metrics_series_dropped_total", "counter",
           "Counts not recorded because their series could not be created "
           "(a table was full).");
    fprintf(f, "amsd_metrics_series_dropped_total %llu\n",
            (unsigned long long)m->series_dropped);
    header(f, "amsd_generation", "gauge",
           "The generation (set of plugins and activities) serving.");
    fprintf(f, "amsd_generation %llu\n", (unsigned long long)m->generation);
    header(f, "amsd_reloads_total", "counter",
           "Reloads since the master started, by result.");
    fprintf(f,
            "amsd_reloads_total{result=\"ok\"} %llu\n"
            "amsd_reloads_total{result=\"failed\"} %llu\n",
            (unsigned long long)m->reloads_ok,
            (unsigned long long)m->reloads_failed);
    header(f, "amsd_worker_restarts_total", "counter",
           "Workers respawned after they exited (a crash, or a restart "
           "the master ordered); each starts its counters from zero.");
    fprintf(f, "amsd_worker_restarts_total %llu\n",
            (unsigned long long)m->worker_restarts);
    header(f, "amsd_workers", "gauge", "Worker processes, by state.");
    fprintf(f,
            "amsd_workers{state=\"ready\"} %d\n"
            "amsd_workers{state=\"total\"} %d\n",
            m->workers_ready, m->workers_total);
    header(f, "amsd_metrics_workers_missing", "gauge",
           "Workers whose series are missing from this scrape (not ready, "
           "or no complete answer in time).");
    fprintf(f, "amsd_metrics_workers_missing %d\n", m->workers_missing);
}

char *metrics_text_write(const metrics_table *sum, const metrics_master *m,
                         size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    int rc = 0;

    if (f == NULL)
        return NULL;
    rc |= write_counters(f, sum, MF_REQUESTS, "amsd_requests_total",
                         "Requests answered, by activity id, method and "
                         "the answer's reason (protocol errors included; "
                         "\"\" when the route named no known activity or "
                         "method).");
    rc |= write_histograms(f, sum);
    rc |= write_entries(f, sum);
    rc |= write_counters(f, sum, MF_STORE_ERRORS, "amsd_store_errors_total",
                         "Store calls that failed (AMS_ERR_STORE), by "
                         "operation.");
    rc |= write_counters(f, sum, MF_COMMITS, "amsd_commits_total",
                         "Requests' write sets, by event: committed, "
                         "conflict (ran again on fresh state), busy (still "
                         "contended after its reruns), sold_out_memory "
                         "(refused from the worker's memory), batch (one "
                         "store transaction of a group commit).");
    rc |= write_counters(f, sum, MF_RATELIMIT, "amsd_ratelimit_total",
                         "Attempts each rate limit saw, by limit and "
                         "outcome: allowed, refused, shadow_refused (a "
                         "shadow limit would have refused).");
    rc |=
        write_counters(f, sum, MF_RATELIMIT_EV, "amsd_ratelimit_events_total",
                       "Around the rate limits: prefilter (refused from "
                       "a worker's memory, no store call), evicted (a "
                       "live bucket dropped from the full node table), "
                       "store_error (let through: the store failed).");
    rc |= write_counters(f, sum, MF_BLACKLIST, "amsd_blacklist_refusals_total",
                         "Requests refused by the blacklist (403 "
                         "blacklisted), by the entry's scope (global, "
                         "activity) and kind (uid, ip).");
    rc |= write_counters(f, sum, MF_CONN, "amsd_connections_closed_total",
                         "Connections the HTTP guards closed or refused, by "
                         "plane (data, admin) and event: header_timeout, "
                         "body_timeout (a deadline passed), refused (over "
                         "max_connections), bad_headers (400: smuggling "
                         "forms), accept_error (accept failed: the "
                         "listener paused), early_refused (admin: a body "
                         "without a token, refused unread).");
    write_master(f, m);
    if (fclose(f) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    if (len != NULL)
        *len = n;
    return text;
}
