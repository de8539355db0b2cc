/* The floor of run.sh e2e: the least work any tool must do to turn JSON
 * bodies into git objects, on one thread, with nothing else.
 *
 *   bench_floor BODY.json ...
 *
 * For each body (a JSON array of records, read from disk): jansson parses it;
 * for each record, its canonical JSON (dk_canonical_dump, the bytes duikou
 * stores), the SHA-1 of "blob <len>\0" + those bytes (the blob's object id)
 * and a zlib deflate (default level) of the same bytes, as a loose object is
 * written. No HTTP, no validation, no trees, no commits, no writes: what is
 * measured against it is everything else. Prints
 * "records N bytes N deflated N seconds S" (S: from the first read to the
 * last deflate). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "canonical.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 20, n = 0, got;
  char *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: bench_floor BODY.json ...\n", stderr);
    return 2;
  }
  size_t records = 0, bytes = 0, deflated = 0, cap = 0;
  unsigned char *obj = NULL, *z = NULL, md[EVP_MAX_MD_SIZE], check = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  double t0 = now_s();
  for (int i = 1; i < argc; i++) {
    size_t len;
    char *body = slurp(argv[i], &len);
    if (!body) {
      perror(argv[i]);
      return 1;
    }
    json_error_t err;
    json_t *arr = json_loadb(body, len, 0, &err);
    free(body);
    if (!json_is_array(arr)) {
      fprintf(stderr, "%s:%d:%d: %s\n", argv[i], err.line, err.column, err.text);
      return 1;
    }
    size_t k;
    json_t *rec;
    json_array_foreach(arr, k, rec) {
      size_t n;
      char *canon = dk_canonical_dump(rec, &n);
      char hdr[32];
      int h = snprintf(hdr, sizeof hdr, "blob %zu", n) + 1; /* with its NUL */
      size_t total = (size_t)h + n;
      uLong zmax = compressBound((uLong)total);
      if (total + zmax > cap) {
        cap = 2 * (total + zmax);
        obj = realloc(obj, cap);
        z = realloc(z, cap);
        if (!obj || !z) return 1;
      }
      memcpy(obj, hdr, (size_t)h);
      memcpy(obj + h, canon, n);
      free(canon);
      unsigned int mdlen;
      if (!EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) || !EVP_DigestUpdate(ctx, obj, total) ||
          !EVP_DigestFinal_ex(ctx, md, &mdlen))
        return 1;
      uLongf zn = zmax;
      if (compress2(z, &zn, obj, (uLong)total, Z_DEFAULT_COMPRESSION) != Z_OK) return 1;
      check ^= md[0] ^ z[zn / 2];
      records++;
      bytes += n;
      deflated += zn;
    }
    json_decref(arr);
  }
  double t = now_s() - t0;
  EVP_MD_CTX_free(ctx);
  free(obj);
  free(z);
  printf("records %zu bytes %zu deflated %zu seconds %.3f check %u\n", records, bytes, deflated, t, check);
  return 0;
}
