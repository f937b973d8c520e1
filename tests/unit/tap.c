/*
 * tap.c -- the TAP counters of a test program (tap.h).  Defined once per
 * program so that checks made in any of its files are numbered in one
 * sequence and tap_done() plans them all.
 */
#include "tap.h"

int tap_n, tap_failed;
