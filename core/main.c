/*
 * main.c -- command line: `amsd -c FILE` serves, `amsd -t -c FILE` checks.
 */
#include "conf.h"
#include "errs.h"
#include "gen.h"
#include "log.h"
#include "master.h"
#include "services.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: amsd [-t] -c FILE [options]\n"
            "  -c, --config FILE     server configuration (amsd.conf)\n"
            "  -t, --test            check config, activities and plugins, "
            "then exit\n"
            "      --listen HOST:PORT    data plane address\n"
            "      --admin HOST:PORT     admin plane address\n"
            "      --workers N           worker processes (0: one per core)\n"
            "      --store URI           lmdb:DIR\n"
            "      --plugins DIR         plugin directory\n"
            "      --activities DIR      activity directory\n"
            "      --log-level LEVEL     error, warn, info, debug\n"
            "  -v, --version         print the version\n"
            "  -h, --help            this text\n");
}

enum {
    OPT_LISTEN = 256,
    OPT_ADMIN,
    OPT_WORKERS,
    OPT_STORE,
    OPT_PLUGINS,
    OPT_ACTIVITIES,
    OPT_LOG
};

typedef struct flags {
    const char *config;
    int test;
    const char *set[OPT_LOG - OPT_LISTEN + 1];
} flags;

static int parse_flags(int argc, char **argv, flags *f)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"admin", required_argument, NULL, OPT_ADMIN},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"store", required_argument, NULL, OPT_STORE},
        {"plugins", required_argument, NULL, OPT_PLUGINS},
        {"activities", required_argument, NULL, OPT_ACTIVITIES},
        {"log-level", required_argument, NULL, OPT_LOG},
        {NULL, 0, NULL, 0}};
    int o;

    memset(f, 0, sizeof *f);
    while ((o = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            f->config = optarg;
            break;
        case 't':
            f->test = 1;
            break;
        case 'v':
            printf("amsd %s (plugin ABI %d.%d)\n", AMSD_VERSION, AMS_ABI_MAJOR,
                   AMS_ABI_MINOR);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        case '?':
            usage(stderr);
            return -1;
        default:
            f->set[o - OPT_LISTEN] = optarg;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "amsd: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    if (f->config == NULL) {
        fprintf(stderr, "amsd: -c FILE is required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Flags win over the file, now and at every reload. */
static void apply_flags(const flags *f, conf_overrides *o, conf *c, errs *e)
{
    o->listen = f->set[OPT_LISTEN - OPT_LISTEN];
    o->admin = f->set[OPT_ADMIN - OPT_LISTEN];
    o->workers = f->set[OPT_WORKERS - OPT_LISTEN];
    o->store = f->set[OPT_STORE - OPT_LISTEN];
    o->plugins = f->set[OPT_PLUGINS - OPT_LISTEN];
    o->activities = f->set[OPT_ACTIVITIES - OPT_LISTEN];
    o->log_level = f->set[OPT_LOG - OPT_LISTEN];
    conf_apply_overrides(c, o, e);
}

/* `amsd -t`: build the generation (plugins, activities, init) exactly as
 * a worker would, print every message, and say what was checked. */
static int check(conf *c, errs *e)
{
    gen *g;

    if (strncmp(c->store, "lmdb:", 5) != 0 || c->store[5] == '\0')
        errs_add(e, NULL, 0, "store: \"%s\" is not lmdb:DIR", c->store);
    g = gen_build(c, &svc_gen_host, 0, 1, e);
    lis_check_gen(&c->ls, c->jwt.n, c->gw.secret_len[0] > 0, g, e);
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "%s\n", e->msgs[i]);
    if (g == NULL || e->nerrors > 0) {
        fprintf(stderr, "amsd: %s: %zu error(s); configuration NOT ok\n",
                c->file, e->nerrors);
        gen_unref(g);
        return 1;
    }
    printf("amsd: %s: configuration ok (%zu activities, %zu plugins)\n",
           c->file, g->nacts, g->nplugins);
    gen_unref(g);
    return 0;
}

int main(int argc, char **argv)
{
    flags f;
    static conf_overrides over;
    conf c;
    errs e = {0};
    int rc;

    if (parse_flags(argc, argv, &f) < 0)
        return 2;
    conf_load(&c, f.config, &e);
    apply_flags(&f, &over, &c, &e);
    conf_finish(&c, &e);
    log_level = c.log_level;
    if (f.test) {
        log_role = "check";
        rc = check(&c, &e);
    } else if (e.nerrors > 0) {
        for (size_t i = 0; i < e.n; i++)
            fprintf(stderr, "%s\n", e.msgs[i]);
        fprintf(stderr, "amsd: %zu error(s) in the configuration\n",
                e.nerrors);
        rc = 1;
    } else {
        /* Warnings (auth = "body", ...) go to the start-up log. */
        for (size_t i = 0; i < e.n; i++)
            log_warn("%s", e.msgs[i]);
        rc = master_run(&c);
    }
    errs_free(&e);
    conf_free(&c);
    return rc;
}
