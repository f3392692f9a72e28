/*===- error.c - the last error of each thread ----------------------------===*/
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char message[1024];

chimera_status chimera_fail(chimera_status status, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  return status;
}

void chimera_clear_error(void) { message[0] = '\0'; }

CHIMERA_API const char *chimera_last_error(void) { return message; }

CHIMERA_API const char *chimera_version(void) { return CHIMERA_VERSION; }
