/* Commit cost against repository size: duikou's store (core/store.c) and the
 * usual git scraping way (files in a work tree, `git add -A && git commit`),
 * on the same records in the same run.
 *
 *   bench_commit [N ...]          (default: 1000 100000)
 *
 * For each N: N task records (plans of 100 numbered tasks with Chinese titles
 * and text, canonical JSON) committed into a bare repository through
 * dk_txn_* and given to a git work tree, neither timed. Then for K = 1, 100
 * and 10,000 (K <= N), rounds that each give K records a new status and
 * updated_at: duikou's dk_txn_begin -> puts -> dk_txn_commit is timed, the
 * same bytes go to the same files, and `git add -A` + `git commit` is timed,
 * every other round with every fsync of git on. The sizes take turns round
 * by round, so that a busy moment of the machine does not land on one size
 * only. Prints the medians and ratios, then checks each duikou repository
 * with `git fsck --strict` and that it holds the same tree as its git peer. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <jansson.h>

#include "canonical.h"
#include "record.h"
#include "schemas.h"
#include "store.h"
#include "util.h"

extern char **environ;

#define REF "refs/heads/main"
#define PER_PLAN 100
#define MAX_N 8

static const size_t ks[] = {1, 100, 10000};
#define NK (sizeof ks / sizeof ks[0])

static char base_dir[4096]; /* removed at exit, also after a failure */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void cleanup(void) {
  if (base_dir[0]) nftw(base_dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
  base_dir[0] = '\0';
}

__attribute__((format(printf, 1, 2))) static _Noreturn void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench_commit: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  cleanup();
  exit(1);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *grouped(size_t n, char *out) {
  char tmp[32];
  int len = snprintf(tmp, sizeof tmp, "%zu", n), o = 0;
  for (int i = 0; i < len; i++) {
    if (i > 0 && (len - i) % 3 == 0) out[o++] = ',';
    out[o++] = tmp[i];
  }
  out[o] = '\0';
  return out;
}

/* ---- records ---- */

static const char *const sections[][2] = {
  {"一", "传承弘扬红色文化"}, {"二", "推进产业协作发展"}, {"三", "深化科技创新合作"},
  {"四", "促进教育医疗共享"}, {"五", "推动文旅融合发展"}, {"六", "加强干部人才交流"},
};
static const char *const titles[] = {
  "突出沂蒙精神教育培训", "共建产业合作园区", "推动科技成果转化落地", "开展教师双向交流培训",
  "推进医疗联合体建设",   "联合推介精品文旅线路", "加强干部挂职交流",     "拓展农产品销售渠道",
};
static const char *const sentences[] = {
  "将弘扬沂蒙精神作为两市市委党校党性教育重要内容，在学制1个月及以上主体班次中设置学习专题。",
  "密切两市市委党校及区县党校间的交流合作，根据教学需要组织学员到沂蒙革命老区开展现场教学。",
  "支持两市龙头企业跨区域布局，共同建设产业合作园区，完善利益共享机制，推动产业链上下游协同发展。",
  "依托高校和科研院所建立科技成果转化对接机制，每年组织不少于两次技术需求对接活动。",
  "选派优秀教师开展双向交流，组织校长和骨干教师跟岗学习，推动优质教育资源共建共享。",
  "鼓励三级医院与县级医院组建医疗联合体，开展远程会诊、专家坐诊和专科共建。",
  "联合策划推出精品旅游线路，互设文旅推介窗口，共同举办节会活动，互相组织游客。",
};
static const char *const jinan_units[] = {"济南市市委党校", "济南市发展改革委", "济南市科技局",
                                          "济南市教育局",   "济南市卫生健康委", "济南市文化和旅游局"};
static const char *const linyi_units[] = {"临沂市市委党校", "临沂市发展改革委", "临沂市科技局",
                                          "临沂市教育局",   "临沂市卫生健康委", "临沂市文化和旅游局",
                                          "沂蒙干部学院"};
static const char *const statuses[] = {"not_started", "in_progress", "delayed", "completed"};
#define COUNT(a) (sizeof a / sizeof a[0])

struct doc {
  char *path;
  char *data;
  size_t len;
};

/* Record i at version v (0: the initial load). Every version has another
 * status and updated_at, so every change really changes the bytes. */
static void make_record(size_t i, unsigned v, struct doc *out) {
  char plan[32], id[48], when[40], err[DK_ERRBUF_SIZE];
  unsigned number = (unsigned)(i % PER_PLAN) + 1, h = 9 + v;
  snprintf(plan, sizeof plan, "bench-%04zu", i / PER_PLAN);
  snprintf(id, sizeof id, "%s/%02u", plan, number);
  snprintf(when, sizeof when, "2024-%02u-%02uT%02u:%02u:00+08:00", 7 + h / 24 / 28 % 6, 1 + h / 24 % 28, h % 24,
           (unsigned)(i % 60));
  size_t ns = COUNT(sentences), a = i % ns, b = (a + 1 + i / ns % (ns - 1)) % ns; /* two different ones */
  char *text = dk_asprintf("%s%s", sentences[a], sentences[b]);
  const char *const *sec = sections[i / PER_PLAN % COUNT(sections)];
  json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:s}, s:s, s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}],"
                          " s:s, s:s}",
                          "kind", "task", "id", id, "plan", plan, "number", (int)number,
                          "section", "number", sec[0], "title", sec[1],
                          "title", titles[i % COUNT(titles)], "text", text,
                          "units", "city", "jinan", "name", jinan_units[i % COUNT(jinan_units)], "role", "lead",
                          "city", "linyi", "name", linyi_units[i / 3 % COUNT(linyi_units)], "role", "shared",
                          "status", statuses[(i + v) % COUNT(statuses)], "updated_at", when);
  free(text);
  if (rec == NULL) die("json_pack failed for record %zu", i);
  int rc = dk_schemas_validate_record(rec, NULL, err);
  if (rc != 1) die("record %s does not pass the task schema (%d): %s", id, rc, rc < 0 ? err : "invalid");
  if (dk_record_path(rec, &out->path, err) != 0) die("%s", err);
  out->data = dk_canonical_dump(rec, &out->len);
  json_decref(rec);
}

static void free_doc(struct doc *d) {
  free(d->path);
  free(d->data);
}

static void write_file(const char *dir, const struct doc *d) {
  char *path = dk_asprintf("%s/%s", dir, d->path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("%s: %s", path, strerror(errno));
  for (size_t off = 0; off < d->len;) {
    ssize_t w = write(fd, d->data + off, d->len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("%s: %s", path, strerror(errno));
    off += (size_t)w;
  }
  if (close(fd) != 0) die("%s: %s", path, strerror(errno));
  free(path);
}

/* Hard-link every file of folder `from` into folder `to`: pack files are
 * never written in place, so two repositories can share them. */
static void link_files(const char *from, const char *to) {
  DIR *d = opendir(from);
  if (d == NULL) die("%s: %s", from, strerror(errno));
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    char *a = dk_asprintf("%s/%s", from, e->d_name), *b = dk_asprintf("%s/%s", to, e->d_name);
    if (link(a, b) != 0) die("link %s %s: %s", a, b, strerror(errno));
    free(a);
    free(b);
  }
  closedir(d);
}

/* The objects of repository `from` (packs and loose objects, fan-out
 * folders made) into repository `to`, by hard links. */
static void link_objects(const char *from, const char *to) {
  char *fo = dk_asprintf("%s/objects", from);
  DIR *d = opendir(fo);
  if (d == NULL) die("%s: %s", fo, strerror(errno));
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    int fan = strlen(e->d_name) == 2 && isxdigit((unsigned char)e->d_name[0]) && isxdigit((unsigned char)e->d_name[1]);
    if (!fan && strcmp(e->d_name, "pack") != 0) continue;
    char *a = dk_asprintf("%s/%s", fo, e->d_name), *b = dk_asprintf("%s/objects/%s", to, e->d_name);
    if (mkdir(b, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", b, strerror(errno));
    link_files(a, b);
    free(a);
    free(b);
  }
  closedir(d);
  free(fo);
}

/* ---- git, the peer ---- */

/* Run `git -C dir <config> args...` (NULL-terminated); 0 when it exits 0.
 * Automatic gc is off: it would run detached after a commit and land in the
 * timing of later rounds; duikou's store never packs either. */
__attribute__((sentinel)) static int git(const char *dir, int fsync_all, ...) {
  const char *argv[32] = {"git", "-C", dir, "-c", "gc.auto=0", "-c", "maintenance.auto=false"};
  size_t n = 7;
  if (fsync_all) {
    argv[n++] = "-c";
    argv[n++] = "core.fsync=all";
    argv[n++] = "-c";
    argv[n++] = "core.fsyncMethod=fsync";
  }
  va_list ap;
  va_start(ap, fsync_all);
  for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 31;) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  pid_t pid;
  int rc = posix_spawnp(&pid, "git", NULL, NULL, (char *const *)argv, environ);
  if (rc != 0) die("cannot run git: %s", strerror(rc));
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die("waitpid: %s", strerror(errno));
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void git_version(char *out, size_t n) {
  FILE *p = popen("git --version", "r");
  if (p == NULL || fgets(out, (int)n, p) == NULL) snprintf(out, n, "git (version unknown)");
  out[strcspn(out, "\n")] = '\0';
  if (p) pclose(p);
}

/* ---- one repository size ---- */

#define MAX_ROUNDS 10

/* Even rounds run git with its defaults, odd ones with every fsync on;
 * duikou does the same work in both. */
static size_t rounds_for(size_t k) {
  return k >= 10000 ? 6 : MAX_ROUNDS;
}

struct size_run {
  size_t n;
  char *dir, *dk_path, *wt;
  struct dk_store *st;
  size_t *perm, cursor; /* records in a fixed random order, changed in turn */
  unsigned *ver;
  double dk_ms[NK][MAX_ROUNDS], git_ms[NK][2][MAX_ROUNDS / 2];
  int fsck_ok, same_tree;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void setup(struct size_run *s) {
  char err[DK_ERRBUF_SIZE], num[32];
  size_t n = s->n;
  s->dir = dk_asprintf("%s/n%zu", base_dir, n);
  s->dk_path = dk_asprintf("%s/duikou.git", s->dir);
  s->wt = dk_asprintf("%s/worktree", s->dir);
  if (dk_mkdir_p(s->wt, 0, err) != 0) die("%s", err);
  if (dk_store_open(s->dk_path, &s->st, err) != 0) die("%s", err);

  /* The initial load is not timed. It goes through dk_txn, which writes it
   * as one pack of its own (and the commit loose), as in a repository that
   * was packed once: 100,000 loose objects would cost minutes on a disk
   * where creating a file can take a millisecond, and measure nothing.
   * Anything it left in the in-memory backend (nothing, the store writing
   * its packs itself) lands as a pack too. */
  double t0 = now_ms();
  git_odb *odb;
  git_odb_backend *mempack;
  if (git_repository_odb(&odb, s->st->repo) != 0 || git_mempack_new(&mempack) != 0 ||
      git_odb_add_backend(odb, mempack, 1000) != 0)
    die("mempack: %s", git_error_last()->message);
  struct dk_txn *txn;
  if (dk_txn_begin(s->st, REF, &txn) != 0) die("%s", s->st->err);
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    struct doc d;
    make_record(i, 0, &d);
    if (i % PER_PLAN == 0) {
      char *pdir = dk_asprintf("%s/%s", s->wt, d.path);
      *strrchr(pdir, '/') = '\0';
      if (dk_mkdir_p(pdir, 0, err) != 0) die("%s", err);
      free(pdir);
    }
    if (dk_txn_put(txn, d.path, d.data, d.len) != 1) die("put %s: %s", d.path, s->st->err);
    write_file(s->wt, &d);
    bytes += d.len;
    free_doc(&d);
  }
  struct dk_commit_meta meta = {.author_name = "bench", .author_email = "bench@localhost", .message = "initial load\n"};
  git_oid oid;
  if (dk_txn_commit(txn, &meta, 0, &oid) != 1) die("initial commit: %s", s->st->err);
  dk_txn_free(txn);
  git_buf pack = {0};
  git_odb_writepack *wp = NULL;
  git_indexer_progress stats = {0};
  if (git_mempack_dump(&pack, s->st->repo, mempack) != 0 || git_odb_write_pack(&wp, odb, NULL, NULL) != 0 ||
      wp->append(wp, pack.ptr, pack.size, &stats) != 0 || wp->commit(wp, &stats) != 0)
    die("writing the initial pack: %s", git_error_last()->message);
  wp->free(wp);
  git_buf_dispose(&pack);
  git_odb_free(odb);
  dk_store_close(s->st); /* a fresh handle, without the mempack, for the rounds */
  if (dk_store_open(s->dk_path, &s->st, err) != 0) die("%s", err);
  double t1 = now_ms();

  /* The peer starts from the same pack and commit: its index is built from
   * the commit and checked against the work tree (git reset), then `git add
   * -A` must find nothing to add. */
  char hex[GIT_OID_HEXSZ + 1], *peergit = dk_asprintf("%s/.git", s->wt);
  git_oid_tostr(hex, sizeof hex, &oid);
  if (git(s->wt, 0, "init", "-q", "-b", "main", NULL) != 0) die("git init %s failed", s->wt);
  /* the store writes its packs itself and a lone commit loose: all of it */
  link_objects(s->dk_path, peergit);
  if (git(s->wt, 0, "update-ref", REF, hex, NULL) != 0 || git(s->wt, 0, "reset", "-q", NULL) != 0 ||
      git(s->wt, 0, "add", "-A", NULL) != 0 || git(s->wt, 0, "diff", "--cached", "--quiet", NULL) != 0)
    die("git: the peer's initial state in %s is not the duikou commit %s", s->wt, hex);
  free(peergit);
  double t2 = now_ms();
  sync();
  fprintf(stderr, "N=%s: %zu bytes of canonical JSON (%zu a record); not timed: initial load %.1f s (generating, "
          "duikou commit, work tree), git index %.1f s, sync %.1f s\n",
          grouped(n, num), bytes, bytes / n, (t1 - t0) / 1e3, (t2 - t1) / 1e3, (now_ms() - t2) / 1e3);

  s->perm = dk_malloc(n * sizeof *s->perm);
  s->ver = dk_calloc(n, sizeof *s->ver);
  for (size_t i = 0; i < n; i++) s->perm[i] = i;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rng() % (i + 1)), t = s->perm[i];
    s->perm[i] = s->perm[j];
    s->perm[j] = t;
  }
}

/* Round r of K = ks[ki]: K records changed, committed by duikou, then by git. */
static void run_round(struct size_run *s, size_t ki, size_t r) {
  size_t k = ks[ki];
  struct doc *docs = dk_malloc(k * sizeof *docs);
  for (size_t j = 0; j < k; j++) {
    size_t i = s->perm[s->cursor];
    s->cursor = (s->cursor + 1) % s->n;
    make_record(i, ++s->ver[i], &docs[j]);
  }
  char msg[64];
  snprintf(msg, sizeof msg, "bench: %zu changed record%s", k, k == 1 ? "" : "s");
  struct dk_commit_meta meta = {.author_name = "bench", .author_email = "bench@localhost", .message = msg};
  struct dk_txn *txn;
  git_oid oid;
  sync();
  double t0 = now_ms();
  if (dk_txn_begin(s->st, REF, &txn) != 0) die("%s", s->st->err);
  for (size_t j = 0; j < k; j++)
    if (dk_txn_put(txn, docs[j].path, docs[j].data, docs[j].len) != 1)
      die("put %s did not change the tree: %s", docs[j].path, s->st->err);
  int rc = dk_txn_commit(txn, &meta, 0, &oid);
  s->dk_ms[ki][r] = now_ms() - t0;
  dk_txn_free(txn);
  if (rc != 1) die("commit of %zu changes: %s", k, s->st->err);

  for (size_t j = 0; j < k; j++) write_file(s->wt, &docs[j]);
  /* Flushed first so that git's fsyncs do not pay for these writes. */
  sync();
  int fsync_all = (int)(r % 2);
  t0 = now_ms();
  if (git(s->wt, fsync_all, "add", "-A", NULL) != 0 || git(s->wt, fsync_all, "commit", "-q", "-m", msg, NULL) != 0)
    die("git: commit of %zu changes failed", k);
  s->git_ms[ki][fsync_all][r / 2] = now_ms() - t0;
  for (size_t j = 0; j < k; j++) free_doc(&docs[j]);
  free(docs);
}

static void finish(struct size_run *s) {
  /* Both sides committed the same bytes at the same paths, so their trees
   * must be the same object. */
  s->fsck_ok = git(s->dk_path, 0, "fsck", "--strict", "--no-progress", "--no-dangling", NULL) == 0;
  git_repository *peer = NULL;
  git_object *a = NULL, *b = NULL;
  s->same_tree = git_repository_open(&peer, s->wt) == 0 && git_revparse_single(&a, peer, "HEAD^{tree}") == 0 &&
                 git_revparse_single(&b, s->st->repo, REF "^{tree}") == 0 &&
                 git_oid_equal(git_object_id(a), git_object_id(b));
  git_object_free(a);
  git_object_free(b);
  git_repository_free(peer);
  dk_store_close(s->st);
  nftw(s->dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
  free(s->dir);
  free(s->dk_path);
  free(s->wt);
  free(s->perm);
  free(s->ver);
}

int main(int argc, char **argv) {
  size_t sizes[MAX_N] = {1000, 100000}, nsizes = 2;
  if (argc > 1) {
    nsizes = 0;
    for (int i = 1; i < argc && nsizes < MAX_N; i++) {
      char *end;
      unsigned long long v = strtoull(argv[i], &end, 10);
      if (*end != '\0' || v < 1 || v > 999 * PER_PLAN * 10ull) {
        fprintf(stderr, "usage: bench_commit [N ...]    (1 <= N <= 999,000; default 1000 100000)\n");
        return 2;
      }
      sizes[nsizes++] = (size_t)v;
    }
  }
  char err[DK_ERRBUF_SIZE];
  if (dk_schemas_init(err) != 0) die("%s", err);
  /* Hermetic git: no user or system configuration, a fixed identity. */
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_AUTHOR_NAME", "bench", 1);
  setenv("GIT_AUTHOR_EMAIL", "bench@localhost", 1);
  setenv("GIT_COMMITTER_NAME", "bench", 1);
  setenv("GIT_COMMITTER_EMAIL", "bench@localhost", 1);
  unsetenv("GIT_DIR");
  unsetenv("GIT_WORK_TREE");
  unsetenv("GIT_INDEX_FILE");
  umask(022);

  const char *tmp = getenv("TMPDIR");
  snprintf(base_dir, sizeof base_dir, "%s/duikou-bench-commit.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(base_dir) == NULL) {
    fprintf(stderr, "bench_commit: mkdtemp %s: %s\n", base_dir, strerror(errno));
    return 1;
  }

  char gitv[128], date[32], a[32], b[32];
  int major, minor, rev;
  git_version(gitv, sizeof gitv);
  git_libgit2_version(&major, &minor, &rev);
  time_t now = time(NULL);
  strftime(date, sizeof date, "%Y-%m-%d", localtime(&now));
  printf("commit benchmark, %s, %ld CPUs: duikou (libgit2 %d.%d.%d) vs git scraping (%s)\n", date,
         sysconf(_SC_NPROCESSORS_ONLN), major, minor, rev, gitv);
  printf("  duikou: dk_txn_begin, K dk_txn_put, dk_txn_commit; objects, one syncfs() before the ref moves and one after\n");
  printf("  git:    K files rewritten (not timed), then git add -A && git commit -q; gc.auto=0\n");
  printf("          git: core.fsync unset (git's default, no fsync in add or commit);\n");
  printf("          git+fsync: core.fsync=all core.fsyncMethod=fsync (objects, index and ref)\n");
  printf("  both start from the same initial commit in one pack (not timed)\n");
  printf("  medians of 10 rounds (6 for K=10,000); git and git+fsync take every other round\n");
  fflush(stdout);

  struct size_run runs[MAX_N] = {0};
  for (size_t s = 0; s < nsizes; s++) {
    runs[s].n = sizes[s];
    setup(&runs[s]);
  }
  for (size_t ki = 0; ki < NK; ki++) {
    double t0 = now_ms();
    for (size_t r = 0; r < rounds_for(ks[ki]); r++)
      for (size_t s = 0; s < nsizes; s++)
        if (ks[ki] <= runs[s].n) run_round(&runs[s], ki, r);
    fprintf(stderr, "K=%s: %zu rounds in %.1f s\n", grouped(ks[ki], a), rounds_for(ks[ki]), (now_ms() - t0) / 1e3);
  }
  double t0 = now_ms();
  for (size_t s = 0; s < nsizes; s++) finish(&runs[s]);
  fprintf(stderr, "git fsck, tree checks and removing the repositories: %.1f s\n", (now_ms() - t0) / 1e3);

  printf("\n%9s %7s %11s %10s %10s %12s %10s\n", "N", "K", "duikou ms", "git ms", "git/dk", "git+fsync ms",
         "+fsync/dk");
  double k1_dk[MAX_N] = {0}, k1_git[MAX_N][2] = {{0}};
  for (size_t s = 0; s < nsizes; s++) {
    struct size_run *sr = &runs[s];
    for (size_t ki = 0; ki < NK; ki++) {
      if (ks[ki] > sr->n) continue;
      size_t rounds = rounds_for(ks[ki]);
      double dk = median(sr->dk_ms[ki], rounds), g = median(sr->git_ms[ki][0], rounds / 2),
             gf = median(sr->git_ms[ki][1], rounds / 2);
      printf("%9s %7s %11.2f %10.2f %9.1f× %12.2f %9.1f×\n", grouped(sr->n, a), grouped(ks[ki], b), dk, g, g / dk,
             gf, gf / dk);
      if (ki == 0) {
        k1_dk[s] = dk;
        k1_git[s][0] = g;
        k1_git[s][1] = gf;
      }
    }
  }
  size_t lo = 0, hi = 0;
  for (size_t s = 1; s < nsizes; s++) {
    if (runs[s].n < runs[lo].n) lo = s;
    if (runs[s].n > runs[hi].n) hi = s;
  }
  if (lo != hi)
    printf("\nK=1 at N=%s / K=1 at N=%s (near 1: the cost follows the changes, not the repository):\n"
           "  duikou %.2f   git %.2f   git+fsync %.2f\n",
           grouped(runs[hi].n, a), grouped(runs[lo].n, b), k1_dk[hi] / k1_dk[lo], k1_git[hi][0] / k1_git[lo][0],
           k1_git[hi][1] / k1_git[lo][1]);
  int ok = 1;
  printf("\n");
  for (size_t s = 0; s < nsizes; s++) {
    printf("N=%s: duikou repository git fsck --strict %s; same tree as the git peer: %s\n", grouped(runs[s].n, a),
           runs[s].fsck_ok ? "ok" : "FAIL", runs[s].same_tree ? "yes" : "NO");
    ok &= runs[s].fsck_ok && runs[s].same_tree;
  }
  cleanup();
  dk_schemas_shutdown();
  git_libgit2_shutdown();
  return ok ? 0 : 1;
}
