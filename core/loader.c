#include "loader.h"

#include <dirent.h>
#include <errno.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#ifndef DK_PLUGINDIR
#define DK_PLUGINDIR "/usr/local/lib/duikou/plugins"
#endif

#ifndef DK_PLUGINDIR_REL
#define DK_PLUGINDIR_REL ""
#endif

static char dk__reloc_dir[4096];
static pthread_once_t dk__reloc_once = PTHREAD_ONCE_INIT;

/* The installed plugin folder as seen from this binary's own folder, kept
 * when it exists: an installed tree that was moved (or staged with
 * --destdir) finds its own plugins before those of the prefix it was built
 * for. */
static void dk__find_reloc(void) {
  char exe[4096];
  if (!*DK_PLUGINDIR_REL) return;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) return;
  *slash = '\0';
  struct stat st;
  int w = snprintf(dk__reloc_dir, sizeof dk__reloc_dir, "%s/%s", exe, DK_PLUGINDIR_REL);
  if (w < 0 || (size_t)w >= sizeof dk__reloc_dir || stat(dk__reloc_dir, &st) != 0 || !S_ISDIR(st.st_mode))
    dk__reloc_dir[0] = '\0';
}

const char *dk_loader_pick_dir(const char *flag, const char *configured) {
  if (flag && *flag) return flag;
  const char *env = getenv("DUIKOU_PLUGIN_DIR");
  if (env && *env) return env;
  if (configured && *configured) return configured;
  pthread_once(&dk__reloc_once, dk__find_reloc);
  return dk__reloc_dir[0] ? dk__reloc_dir : DK_PLUGINDIR;
}

static struct dk_plugin_entry *dk__add(struct dk_loader *ld, const char *path) {
  ld->entries = dk_realloc(ld->entries, (ld->nentries + 1) * sizeof *ld->entries);
  struct dk_plugin_entry *e = &ld->entries[ld->nentries++];
  memset(e, 0, sizeof *e);
  e->path = dk_strdup(path);
  return e;
}

static int dk__refuse(struct dk_loader *ld, struct dk_plugin_entry *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int dk__refuse(struct dk_loader *ld, struct dk_plugin_entry *e, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dk_vfailf(ld->err, code, fmt, ap);
  va_end(ap);
  e->error = dk_strdup(ld->err);
  e->plugin = NULL;
  if (e->dl) dlclose(e->dl);
  e->dl = NULL;
  return code;
}

int dk_loader_open(struct dk_loader *ld, const char *path, const struct dk_plugin_entry **out) {
  struct dk_plugin_entry *e = dk__add(ld, path);
  if (out) *out = e;
  e->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (e->dl == NULL)
    return dk__refuse(ld, e, DK_EPLUGIN, "%s: cannot load: %s", path, dlerror());
  const struct dk_plugin *p = dlsym(e->dl, DK_PLUGIN_SYMBOL);
  if (p == NULL)
    return dk__refuse(ld, e, DK_EPLUGIN,
                      "%s: no symbol \"" DK_PLUGIN_SYMBOL "\": not a duikou plugin (a plugin exports "
                      "`const struct dk_plugin duikou_plugin`; see contrib/plugin-template)", path);
  if (p->abi_version != DK_PLUGIN_ABI_VERSION)
    return dk__refuse(ld, e, DK_EABI,
                      "%s: plugin ABI version %u, this duikou speaks %u: rebuild the plugin against "
                      "this duikou's duikou/plugin.h", path, (unsigned)p->abi_version, DK_PLUGIN_ABI_VERSION);
  /* Smaller than the base: not built against any header of this version.
   * Past the base, members the plugin's header had not are never read
   * (DK_PLUGIN_HAS), and a larger struct's tail is ignored. */
  if (p->struct_size < DK_PLUGIN_BASE_SIZE)
    return dk__refuse(ld, e, DK_EABI, "%s: plugin struct is %u bytes, smaller than ABI %u requires (%zu): rebuild it",
                      path, (unsigned)p->struct_size, DK_PLUGIN_ABI_VERSION, (size_t)DK_PLUGIN_BASE_SIZE);
  if (p->name == NULL || p->name[0] == '\0' || p->parse == NULL || p->init == NULL)
    return dk__refuse(ld, e, DK_EPLUGIN, "%s: plugin has no name, init or parse callback", path);
  if (p->options_schema) {
    json_error_t jerr;
    json_t *schema = json_loads(p->options_schema, 0, &jerr);
    if (schema == NULL)
      return dk__refuse(ld, e, DK_EPLUGIN, "%s: options_schema is not JSON: %s (line %d)", path, jerr.text,
                        jerr.line);
    json_decref(schema);
  }
  for (size_t i = 0; i + 1 < ld->nentries; i++) {
    const struct dk_plugin *q = ld->entries[i].plugin;
    if (q && strcmp(q->name, p->name) == 0)
      return dk__refuse(ld, e, DK_EEXIST,
                        "%s: plugin name \"%s\" is already taken by %s: remove or rename one of them",
                        path, p->name, ld->entries[i].path);
  }
  e->plugin = p;
  return 0;
}

static int dk__is_so(const char *name) {
  size_t n = strlen(name);
  return n > 3 && strcmp(name + n - 3, ".so") == 0 && name[0] != '.';
}

static int dk__namecmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .so files of dir (into *top) and of its direct subfolders (into
 * *sub). */
static int dk__collect(const char *dir, int depth, char ***top, size_t *ntop, char ***sub, size_t *nsub) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char *path = dk_asprintf("%s/%s", dir, de->d_name);
    struct stat st;
    if (stat(path, &st) == 0) {
      if (S_ISREG(st.st_mode) && dk__is_so(de->d_name)) {
        char ***list = depth == 0 ? top : sub;
        size_t *n = depth == 0 ? ntop : nsub;
        *list = dk_realloc(*list, (*n + 1) * sizeof **list);
        (*list)[(*n)++] = path;
        continue;
      }
      if (S_ISDIR(st.st_mode) && depth == 0) dk__collect(path, 1, top, ntop, sub, nsub);
    }
    free(path);
  }
  closedir(d);
  return 0;
}

/* Load the top level of the folder first, then its subfolders, each in
 * name order: of two plugins with one name, one at the top level wins over
 * one a folder down, and otherwise the first by path; the other is refused
 * naming the winner. Neither readdir order nor a name such as 0/zz.so
 * decides. */
int dk_loader_scan(struct dk_loader *ld, const char *dir) {
  free(ld->dir);
  ld->dir = dk_strdup(dir);
  char **top = NULL, **sub = NULL;
  size_t ntop = 0, nsub = 0;
  if (dk__collect(dir, 0, &top, &ntop, &sub, &nsub) != 0)
    return dk_failf(ld->err, DK_EIO, "cannot read plugin folder %s: %s", dir, strerror(errno));
  if (ntop) qsort(top, ntop, sizeof *top, dk__namecmp); /* qsort(NULL, 0) is undefined */
  if (nsub) qsort(sub, nsub, sizeof *sub, dk__namecmp);
  for (size_t i = 0; i < ntop + nsub; i++) {
    char *path = i < ntop ? top[i] : sub[i - ntop];
    dk_loader_open(ld, path, NULL);
    free(path);
  }
  free(top);
  free(sub);
  return 0;
}

const struct dk_plugin *dk_loader_find(struct dk_loader *ld, const char *name) {
  struct dk_buf names = {0};
  for (size_t i = 0; i < ld->nentries; i++) {
    const struct dk_plugin *p = ld->entries[i].plugin;
    if (p == NULL) continue;
    if (strcmp(p->name, name) == 0) {
      dk_buf_free(&names);
      return p;
    }
    dk_buf_printf(&names, "%s%s", names.len ? ", " : "", p->name);
  }
  dk_failf(ld->err, DK_ENOENT, "no plugin \"%s\" in %s (found: %s); set --plugin-dir, $DUIKOU_PLUGIN_DIR or `plugins:`",
           name, ld->dir ? ld->dir : "(no folder)", names.len ? dk_buf_cstr(&names) : "none");
  dk_buf_free(&names);
  return NULL;
}

void dk_loader_free(struct dk_loader *ld) {
  for (size_t i = 0; i < ld->nentries; i++) {
    if (ld->entries[i].dl) dlclose(ld->entries[i].dl);
    free(ld->entries[i].path);
    free(ld->entries[i].error);
  }
  free(ld->entries);
  free(ld->dir);
  memset(ld, 0, sizeof *ld);
}
