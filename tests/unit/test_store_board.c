/*
 * test_store_board.c -- the store suite's leaderboards (store.h:
 * Leaderboards): order by score, then time, then member bytes; the whole
 * int64 range; boards apart from each other and from the other families;
 * expiry and the sweep of boards; processes setting scores on one board.
 * test_store.c runs them.
 */
#include "store_suite.h"

#include <stdio.h>
#include <stdlib.h>

#define BOARD_CHILDREN 4
#define BOARD_MEMBERS 200

static void test_board_basics(store *s)
{
    const char *b = k("bd");
    char member[129];

    is_str(top_str(s, b, 10, T), "", "top of an absent board: OK, empty");
    is_str(rank_str(s, b, "a", T), NF_STR, "rank on an absent board");
    is_int(store_board_set(s, b, "a", 10, NEVER, T), AMS_OK, "set a=10");
    store_board_set(s, b, "b", 30, NEVER, T);
    store_board_set(s, b, "c", 20, NEVER, T);
    is_str(top_str(s, b, 10, T), "b=30,c=20,a=10", "top: score descending");
    is_str(top_str(s, b, 2, T), "b=30,c=20", "top 2 of 3");
    is_str(top_str(s, b, 3, T), "b=30,c=20,a=10", "top 3 of 3");
    is_str(top_str(s, b, SIZE_MAX, T), "b=30,c=20,a=10",
           "top SIZE_MAX: n far beyond the board");
    is_str(top_str(s, b, 0, T), "", "top 0: OK, empty");
    is_str(rank_str(s, b, "b", T), "1:30", "rank of the best");
    is_str(rank_str(s, b, "c", T), "2:20", "rank of the second");
    is_str(rank_str(s, b, "a", T), "3:10", "rank of the last");
    is_str(rank_str(s, b, "zz", T), NF_STR, "rank of an absent member");
    is_int(store_board_rank(s, b, "a", T, NULL, NULL), AMS_OK,
           "rank with NULL outputs");
    is_int(store_board_set(s, b, "", 1, NEVER, T), AMS_ERR,
           "empty member is a bad argument");
    is_int(store_board_set(s, "", "a", 1, NEVER, T), AMS_ERR,
           "empty board key is a bad argument");
    memset(member, 'u', 128);
    member[128] = '\0';
    is_int(store_board_set(s, b, member, 25, NEVER, T), AMS_OK,
           "a member of 128 bytes");
    is_str(rank_str(s, b, member, T), "2:25", "ranks");
    member[127] = '\0';
    is_str(rank_str(s, b, member, T), NF_STR,
           "its 127-byte prefix is another member");
}

static void test_board_order(store *s)
{
    const char *b = k("bo"), *m = k("bo.bytes");

    store_board_set(s, b, "x", 5, NEVER, T + 2);
    store_board_set(s, b, "y", 5, NEVER, T + 1);
    store_board_set(s, b, "z", 5, NEVER, T + 1);
    store_board_set(s, b, "w", 5, NEVER, T + 3);
    is_str(top_str(s, b, 10, T + 3), "y=5,z=5,x=5,w=5",
           "ties: earlier time first, then member bytes");
    is_int(store_board_set(s, b, "z", 5, NEVER, T + 10), AMS_OK,
           "re-set z to the same score later");
    is_str(top_str(s, b, 10, T + 10), "y=5,z=5,x=5,w=5",
           "same score: z keeps its tie position");
    is_str(rank_str(s, b, "z", T + 10), "2:5", "z still ranks 2");
    store_board_set(s, b, "y", 4, NEVER, T + 11);
    is_str(top_str(s, b, 10, T + 11), "z=5,x=5,w=5,y=4",
           "lowering y moves it down");
    store_board_set(s, b, "w", 6, NEVER, T + 12);
    is_str(top_str(s, b, 10, T + 12), "w=6,z=5,x=5,y=4",
           "raising w moves it up");
    store_board_set(s, b, "y", 5, NEVER, T + 13);
    is_str(top_str(s, b, 10, T + 13), "w=6,z=5,x=5,y=5",
           "y back at 5 ranks after the 5s reached before it");
    store_board_set(s, b, "x", 7, NEVER, T + 14);
    store_board_set(s, b, "x", 5, NEVER, T + 15);
    is_str(top_str(s, b, 10, T + 15), "w=6,z=5,y=5,x=5",
           "x up and back to 5: its time is when it got back");
    is_str(rank_str(s, b, "x", T + 15), "4:5", "rank follows");
    is_str(rank_str(s, b, "w", T + 15), "1:6", "rank of the new best");

    store_board_set(s, m, "ma", 1, NEVER, T);
    store_board_set(s, m, "\xc3\xa9", 1, NEVER, T);
    store_board_set(s, m, "m1", 1, NEVER, T);
    store_board_set(s, m, "m", 1, NEVER, T);
    store_board_set(s, m, "M", 1, NEVER, T);
    is_str(top_str(s, m, 10, T), "M=1,m=1,m1=1,ma=1,\xc3\xa9=1",
           "same score and time: unsigned byte order, prefix first");
    is_str(rank_str(s, m, "m1", T), "3:1", "rank among byte-ordered ties");
}

static void test_board_extremes(store *s)
{
    static const struct {
        const char *m;
        int64_t score;
    } in[] = {
        {"zero", 0},          {"min", INT64_MIN},       {"neg1", -1},
        {"max", INT64_MAX},   {"minp1", INT64_MIN + 1}, {"one", 1},
        {"negbig", -1000000}, {"maxm1", INT64_MAX - 1}, {"posbig", 1000000},
    };
    const char *b = k("bx");

    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        store_board_set(s, b, in[i].m, in[i].score, NEVER, T);
    is_str(top_str(s, b, 100, T),
           "max=9223372036854775807,maxm1=9223372036854775806,"
           "posbig=1000000,one=1,zero=0,neg1=-1,negbig=-1000000,"
           "minp1=-9223372036854775807,min=-9223372036854775808",
           "negative and extreme scores order over the whole int64 range");
    is_str(rank_str(s, b, "min", T), "9:-9223372036854775808",
           "INT64_MIN ranks last, score intact");
    is_str(rank_str(s, b, "max", T), "1:9223372036854775807",
           "INT64_MAX ranks first, score intact");
    store_board_set(s, b, "min", INT64_MAX, NEVER, T + 1);
    is_str(rank_str(s, b, "min", T + 1), "2:9223372036854775807",
           "INT64_MIN -> INT64_MAX: second, behind the earlier max");
    is_str(top_str(s, b, 2, T + 1),
           "max=9223372036854775807,min=9223372036854775807",
           "the top follows");
    store_board_set(s, b, "t.neg", 3, NEVER, -5);
    store_board_set(s, b, "t.pos", 3, NEVER, 5);
    store_board_set(s, b, "t.zero", 3, NEVER, 0);
    is_str(rank_str(s, b, "t.neg", T + 1), "5:3", "negative time ties first");
    is_str(rank_str(s, b, "t.pos", T + 1), "7:3", "positive time last");
}

static void test_board_names(store *s)
{
    const char *a = k("nb"), *a1 = k("nb1"), *a2 = k("nb.1");
    char *v = NULL;
    size_t len;
    int64_t c = 0;

    store_board_set(s, a, "u", 1, NEVER, T);
    store_board_set(s, a1, "u", 2, NEVER, T);
    store_board_set(s, a1, "v", 3, NEVER, T);
    store_board_set(s, a2, "w", 4, NEVER, T);
    is_str(top_str(s, a, 10, T), "u=1", "board \"nb\" has only its member");
    is_str(top_str(s, a1, 10, T), "v=3,u=2",
           "board \"nb1\" has only its members");
    is_str(top_str(s, a2, 10, T), "w=4", "board \"nb.1\" has only its own");
    is_str(rank_str(s, a, "u", T), "1:1", "u on nb");
    is_str(rank_str(s, a, "v", T), NF_STR, "nb1's member is not on nb");
    is_str(rank_str(s, a1, "w", T), NF_STR, "nb.1's member is not on nb1");
    store_tag_set(s, a, "tag", 3, NEVER, T);
    store_counter_add(s, a, 9, 0, 100, NEVER, T, NULL);
    is_str(top_str(s, a, 10, T), "u=1",
           "a tag and a counter of the same key leave the board alone");
    store_tag_get(s, a, T, &v, &len);
    is_str(v, "tag", "and the board leaves the tag alone");
    free(v);
    store_counter_get(s, a, T, &c);
    is_int(c, 9, "and the counter");
}

static void test_board_ttl(store *s)
{
    const char *b = k("bt"), *f = k("bt.forever");

    store_board_set(s, b, "a", 1, T + 100, T);
    is_int(store_board_set(s, b, "b", 2, T + 500, T + 50), AMS_OK,
           "set on a live board");
    is_str(top_str(s, b, 10, T + 99), "b=2,a=1", "live until its expiry");
    is_str(top_str(s, b, 10, T + 100), "",
           "expired at expire_at_ms: the creating set's expiry holds");
    is_str(rank_str(s, b, "a", T + 100), NF_STR, "rank on an expired board");
    is_int(store_board_set(s, b, "c", 3, T + 300, T + 150), AMS_OK,
           "set over an expired board creates a new one");
    is_str(top_str(s, b, 10, T + 150), "c=3",
           "the old members do not come back");
    is_str(rank_str(s, b, "a", T + 150), NF_STR, "nor rank");
    is_str(top_str(s, b, 10, T + 299), "c=3", "with the new expiry");
    is_str(top_str(s, b, 10, T + 300), "", "and expires at it");
    store_board_set(s, f, "a", 1, NEVER, T);
    is_str(top_str(s, f, 10, T + 1000000000), "a=1",
           "a board without expiry stays");
}

/* Boards go with their members, a bounded batch at a time; runs after
 * test_store.c's test_sweep, on a clock past all it left. */
static void test_board_sweep(store *s)
{
    const int64_t t1 = T_SWEEP + 100000;
    const char *x = k("bs.x"), *y = k("bs.y"), *z = k("bs.z");
    char name[32];
    size_t n = 1;

    while (n > 0 && store_sweep(s, t1, 1000, &n) == AMS_OK)
        ;
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "m%d", i);
        if (i < 3)
            store_board_set(s, x, name, i, t1 + 100, t1);
        if (i < 2)
            store_board_set(s, y, name, i, NEVER, t1);
        store_board_set(s, z, name, i, t1 + 100, t1);
    }
    store_board_set(s, x, "new", 7, t1 + 1000, t1 + 100);
    is_str(top_str(s, x, 10, t1 + 100), "new=7",
           "x re-created after its expiry, before any sweep");
    /* The old x (3 members) and z (a board and 5 members). */
    is_int(store_sweep(s, t1 + 200, 4, &n), AMS_OK, "sweep a batch of 4");
    check_removed(n, 4, "removed 4");
    store_sweep(s, t1 + 200, 4, &n);
    check_removed(n, 4, "the next batch of 4 stops inside a board");
    store_sweep(s, t1 + 200, 100, &n);
    check_removed(n, 1, "the next removes the last member");
    store_sweep(s, t1 + 200, 100, &n);
    is_int(n, 0, "then nothing is left");
    is_str(top_str(s, z, 10, t1 + 200), "", "z is gone");
    is_str(rank_str(s, z, "m4", t1 + 200), NF_STR, "its members too");
    is_str(top_str(s, y, 10, t1 + 200), "m1=1,m0=0",
           "a board without expiry survives");
    is_str(top_str(s, x, 10, t1 + 200), "new=7", "the new x survives");
    is_int(store_board_set(s, z, "fresh", 1, NEVER, t1 + 200), AMS_OK,
           "a new board under a swept board's key");
    is_str(top_str(s, z, 10, t1 + 200), "fresh=1", "holds only its member");
    store_board_set(s, x, "new2", 8, NEVER, t1 + 200);
    store_board_set(s, x, "new3", 9, NEVER, t1 + 200);
    for (int i = 0; i < 4; i++) {
        store_sweep(s, t1 + 1000, 1, &n);
        check_removed(n, 1, "sweep x one record at a time");
    }
    store_sweep(s, t1 + 1000, 1, &n);
    is_int(n, 0, "x took 4 (its board and 3 members), then nothing left");
    is_str(top_str(s, x, 10, t1 + 1000), "", "x is gone");
    is_str(top_str(s, z, 10, t1 + 1000), "fresh=1", "the fresh z stays");
}

/* Each child puts BOARD_MEMBERS members of its own on one board, each
 * first at a score it then replaces; the final score and time follow
 * from (child, member), so the parent knows the whole expected order. */
static int64_t race_score(int child, int m)
{
    return (int64_t)((child * BOARD_MEMBERS + m) * 37 % 50) - 25;
}

static void child_board(store *s, int i, tally *t)
{
    char member[32];

    for (int m = 0; m < BOARD_MEMBERS; m++) {
        snprintf(member, sizeof member, "c%d.m%03d", i, m);
        if (store_board_set(s, k("race.board"), member, 1000 + m, NEVER,
                            T + m) != AMS_OK ||
            store_board_set(s, k("race.board"), member, race_score(i, m),
                            NEVER, T + 1000 + m) != AMS_OK ||
            store_board_rank(s, k("race.board"), member, T + 1000 + m, NULL,
                             NULL) != AMS_OK)
            t->err++;
        else
            t->ok++;
    }
}

typedef struct race_entry {
    char member[32];
    int64_t score, time;
} race_entry;

static int race_cmp(const void *a, const void *b)
{
    const race_entry *x = a, *y = b;

    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return strcmp(x->member, y->member);
}

static void test_board_race(store *s)
{
    enum { N = BOARD_CHILDREN * BOARD_MEMBERS };
    static race_entry want[N];
    store_board_entry *got = NULL;
    size_t cnt = 0;
    int bad_top = 0, bad_rank = 0;
    tally t;

    for (int i = 0; i < BOARD_CHILDREN; i++)
        for (int m = 0; m < BOARD_MEMBERS; m++) {
            race_entry *e = &want[i * BOARD_MEMBERS + m];
            snprintf(e->member, sizeof e->member, "c%d.m%03d", i, m);
            e->score = race_score(i, m);
            e->time = T + 1000 + m;
        }
    qsort(want, N, sizeof want[0], race_cmp);
    is_int(run_children(BOARD_CHILDREN, child_board, &t), 0,
           "%d processes setting scores on one board exit cleanly",
           BOARD_CHILDREN);
    is_int(t.err, 0, "no store errors");
    is_int(t.ok, N, "every member set and ranked");
    is_int(store_board_top(s, k("race.board"), N + 10, T + 2000, &got, &cnt),
           AMS_OK, "top of the raced board");
    is_int(cnt, N, "all %d members present", N);
    for (size_t i = 0; i < cnt && i < N; i++)
        if (strcmp(got[i].member, want[i].member) != 0 ||
            got[i].score != want[i].score)
            bad_top++;
    is_int(bad_top, 0, "in the expected order, with their final scores");
    store_board_free(got, cnt);
    for (int i = 0; i < N; i++) {
        int64_t rank = 0, score = 0;
        if (store_board_rank(s, k("race.board"), want[i].member, T + 2000,
                             &rank, &score) != AMS_OK ||
            rank != i + 1 || score != want[i].score)
            bad_rank++;
    }
    is_int(bad_rank, 0, "every member's rank matches its place");
}

void board_tests(store *s)
{
    test_board_basics(s);
    test_board_order(s);
    test_board_extremes(s);
    test_board_names(s);
    test_board_ttl(s);
}

void board_sweep_tests(store *s)
{
    test_board_sweep(s);
}

void board_race(store *s)
{
    test_board_race(s);
}
