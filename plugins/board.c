/*
 * board.c -- show a leaderboard.
 *
 *   board.top  handler.
 *     params   board  (string 1..100, required) the board's name;
 *              top    (int 1..100, default 10) how many entries to show.
 *     replies  data.top  [{"rank":1,"uid":..,"score":..},...], best first
 *                        (ties go to whoever reached the score first);
 *              data.me   {"rank":R,"score":S} for the caller, or null when
 *                        the request has no uid or the caller is not on
 *                        the board.
 *     fails    never (store faults pass through).
 *     init     refuses a board name with spaces or non-ASCII (bad_name).
 *
 * Scores get onto a board through the host's board_set, from an
 * operation of the activity.
 */
#include <ams/ams.h>

#include <stdint.h>
#include <stdio.h>

static const ams_param top_params[] = {
    {"board", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "the board's name"},
    {"top", AMS_T_INT, AMS_P_MIN | AMS_P_MAX, 1, 100,
     "entries shown (default 10)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"top", AMS_HANDLER, "board_top", NULL, "board_top_init", NULL, top_params,
     "{\"board\":\"invites\",\"top\":10}",
     "the board's top entries and the caller's rank"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* board.top only reads the board (board_top, board_rank). */
static const uint32_t flags[] = {AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("board", "1.0.0", entries, flags);

/* The board's name is a store key ([!-~]{1,200}); a bad one is refused at
 * load (bad_name) rather than failing every request. */
AMS_INIT(board_top_init)
{
    const char *board = ams_conf_str(ctx, "board", "");

    *state = NULL;
    return ams_key_ok(board) ? AMS_OK : ams_fail(ctx, "bad_name");
}

AMS_ENTRY(board_top)
{
    const char *board = ams_conf_str(ctx, "board", "");
    const char *top = NULL;
    int64_t rank = 0, score = 0;
    char me[64];
    ams_status st = ams_api->board_top(
        ctx, board, (size_t)ams_conf_int(ctx, "top", 10), &top);

    if (st != AMS_OK)
        return st;
    st = ams_api->reply_json(ctx, "top", top);
    if (st != AMS_OK)
        return st;
    snprintf(me, sizeof me, "null");
    if (ams_api->uid(ctx)[0] != '\0') {
        st = ams_api->board_rank(ctx, board, &rank, &score);
        if (st == AMS_OK)
            snprintf(me, sizeof me, "{\"rank\":%lld,\"score\":%lld}",
                     (long long)rank, (long long)score);
        else if (st != AMS_NOT_FOUND)
            return st;
    }
    return ams_api->reply_json(ctx, "me", me);
}
