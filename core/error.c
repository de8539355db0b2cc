#include "error.h"

#include <stdio.h>

const char *dk_strerror(int err) {
  switch (err) {
#define XX(name, value, text) case DK_##name: return text;
    DK_ERRNO_MAP(XX)
#undef XX
    case 0: return "success";
  }
  return "unknown error";
}


int dk_vfailf(char *buf, int err, const char *fmt, va_list ap) {
  if (buf != NULL)
    vsnprintf(buf, DK_ERRBUF_SIZE, fmt, ap);
  return err;
}

int dk_failf(char *buf, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk_vfailf(buf, err, fmt, ap);
  va_end(ap);
  return err;
}
