/* docker-internal.h — helpers shared by the files of pkg/docker, not part of its public face. */
#pragma once

#include <stdio.h>

/* Write `s` to `out` so that a POSIX shell would read it back as one word: bare when it only holds characters
 * that need no quoting, else in single quotes (with ' written as '\''). For people reading a plan, never for
 * running one. Returns 0 or -EIO. */
int docker_quote_word(FILE *out, const char *s);
