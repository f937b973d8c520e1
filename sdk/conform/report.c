/*
 * report.c -- the runner's outputs besides the terminal: escaping for
 * one-line text and TAP, and the JUnit XML report CI systems read.
 *
 * The XML is ASCII only: bytes outside printable ASCII (a plugin's log may
 * hold anything) are written as the text \xHH, so the file is always
 * well-formed whatever the plugin printed.
 */
#include "conform.h"

#include <ams/ams.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char *report_line(const char *in, char *out, size_t outlen, int tap)
{
    size_t o = 0;

    if (outlen == 0)
        return out;
    for (const unsigned char *p = (const unsigned char *)(in ? in : "");
         *p && o + 5 < outlen; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            out[o++] = ' ';
        } else if (*p == '#' && tap) {
            /* TAP reads "# SKIP" and "# TODO" as directives */
            o += (size_t)snprintf(out + o, outlen - o, "\\x23");
        } else if (*p < 0x20 || *p >= 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return out;
}

static void xml_text(FILE *f, const char *s, int attr)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;
         p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        case '\n':
            fputs(attr ? "&#10;" : "\n", f);
            break;
        case '\t':
            fputs(attr ? "&#9;" : "\t", f);
            break;
        default:
            if (*p < 0x20 || *p >= 0x7f)
                fprintf(f, "\\x%02x", *p);
            else
                fputc(*p, f);
        }
    }
}

static void counts(const report_suite *s, size_t *fail, size_t *skip)
{
    *fail = *skip = 0;
    for (size_t i = 0; i < s->n; i++) {
        *fail += s->checks[i].r.status == CK_FAIL;
        *skip += s->checks[i].r.status == CK_SKIP;
    }
}

int report_junit(const char *path, const report_suite *s, size_t n)
{
    FILE *f = fopen(path, "w");
    size_t tests = 0, fails = 0, skips = 0;
    double secs = 0;
    char stamp[32], host[256] = "localhost";
    time_t now = time(NULL);
    struct tm tm;

    if (f == NULL)
        return -1;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "localhost");
    for (size_t i = 0; i < n; i++) {
        size_t fl, sk;
        counts(&s[i], &fl, &sk);
        tests += s[i].n;
        fails += fl;
        skips += sk;
        secs += s[i].seconds;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f,
            "<testsuites name=\"ams-conform\" tests=\"%zu\" failures=\"%zu\" "
            "errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n",
            tests, fails, skips, secs);
    for (size_t i = 0; i < n; i++) {
        const report_suite *su = &s[i];
        size_t fl, sk;

        counts(su, &fl, &sk);
        fprintf(f, "  <testsuite name=\"");
        xml_text(f, su->name, 1);
        fprintf(f,
                "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
                "skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\" "
                "hostname=\"",
                su->n, fl, sk, su->seconds, stamp);
        xml_text(f, host, 1);
        fprintf(f, "\">\n");
        fprintf(f, "    <properties>\n      <property name=\"plugin\" "
                   "value=\"");
        xml_text(f, su->plugin, 1);
        fprintf(f,
                "\"/>\n      <property name=\"abi\" value=\"%d.%d\"/>\n"
                "    </properties>\n",
                AMS_ABI_MAJOR, AMS_ABI_MINOR);
        for (size_t k = 0; k < su->n; k++) {
            const report_check *c = &su->checks[k];
            fprintf(f, "    <testcase name=\"");
            xml_text(f, c->name, 1);
            fprintf(f, "\" classname=\"ams-conform.");
            xml_text(f, su->name, 1);
            fprintf(f, "\" time=\"%.3f\"", c->r.seconds);
            if (c->r.status == CK_PASS) {
                fprintf(f, ">\n      <system-out>");
                xml_text(f, c->r.msg, 0);
                fprintf(f, "</system-out>\n    </testcase>\n");
                continue;
            }
            fprintf(f, ">\n      <%s message=\"",
                    c->r.status == CK_FAIL ? "failure" : "skipped");
            xml_text(f, c->r.msg, 1);
            if (c->r.status == CK_FAIL) {
                fprintf(f, "\" type=\"conformance\">");
                xml_text(f, c->r.msg, 0);
                if (c->r.detail != NULL) {
                    fputc('\n', f);
                    xml_text(f, c->r.detail, 0);
                }
                fprintf(f, "</failure>\n");
            } else {
                fprintf(f, "\"/>\n");
            }
            fprintf(f, "    </testcase>\n");
        }
        fprintf(f,
                "    <system-out>%zu passed, %zu failed, %zu skipped"
                "</system-out>\n",
                su->n - fl - sk, fl, sk);
        fprintf(f, "  </testsuite>\n");
    }
    fprintf(f, "</testsuites>\n");
    return fclose(f) == 0 ? 0 : -1;
}
