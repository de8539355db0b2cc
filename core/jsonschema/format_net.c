/* The "format" vocabulary's network names: IP addresses, host names (RFC
 * 1123, IDNA2008: RFC 5890-5893), e-mail addresses (RFC 5321 / 6531), URIs
 * and IRIs (RFC 3986 / 3987) and URI templates (RFC 6570). format.c has the
 * rest and the dispatch.
 *
 * IDNA needs Unicode data (general category, script, bidi class, combining
 * class); PCRE2 carries most of it, so small single-character regexes stand
 * in for the tables. What PCRE2 lacks is spelled out below: RFC 5892's
 * "Unstable" rule (NFKC and case folding) as a list of the letters it
 * removes, viramas (combining class 9), and joining types as the letters of
 * the joining scripts minus the R, L and U ones. For every code point of
 * PCRE2's Unicode version these agree with the IDNA2008 tables of Python's
 * idna package (PVALID, joining types) and with unicodedata (viramas);
 * checked with PCRE2 10.42 (Unicode 14). Code points assigned after that
 * version count as unassigned.
 *
 * Not checked: NFC form of U-labels (the suite wants a decomposed "café"
 * domain accepted), UTS #46 mapping (this is strict IDNA2008: upper case
 * and fullwidth forms are refused in U-labels).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "../util.h"

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Decode one UTF-8 character of valid UTF-8 text. */
static uint32_t utf8_next(const char **pp) { return dk_utf8_next(pp, NULL); }

static size_t utf8_put(char *u, uint32_t cp) {
  if (cp < 0x80) { u[0] = (char)cp; return 1; }
  if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F)); return 3;
  }
  u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* --- IP addresses ------------------------------------------------------ */

/* The text of an IP address of `family` as inet_pton takes it: dotted
 * quads without leading zeros for AF_INET, RFC 4291 section 2.2 text (with
 * "::" and an embedded IPv4 address, without zone ids or blanks) for
 * AF_INET6. The formats ask the same. */
static int check_ip(int family, const char *s, size_t len) {
  char text[INET6_ADDRSTRLEN + 1];
  unsigned char addr[sizeof(struct in6_addr)];
  if (len >= sizeof text || memchr(s, '\0', len) != NULL) return 0;
  memcpy(text, s, len);
  text[len] = '\0';
  return inet_pton(family, text, addr) == 1;
}

int dk__format_ipv4(const char *s, size_t len) { return check_ip(AF_INET, s, len); }

int dk__format_ipv6(const char *s, size_t len) { return check_ip(AF_INET6, s, len); }

/* --- Unicode classes for IDNA, from PCRE2's tables ---------------------- */

#define VIRAMA \
  "\\x{94d}\\x{9cd}\\x{a4d}\\x{acd}\\x{b4d}\\x{bcd}\\x{c4d}\\x{ccd}\\x{d3b}\\x{d3c}\\x{d4d}" \
  "\\x{dca}\\x{e3a}\\x{eba}\\x{f84}\\x{1039}\\x{103a}\\x{1714}\\x{1715}\\x{1734}\\x{17d2}"   \
  "\\x{1a60}\\x{1b44}\\x{1baa}\\x{1bab}\\x{1bf2}\\x{1bf3}\\x{2d7f}\\x{a806}\\x{a82c}"         \
  "\\x{a8c4}\\x{a953}\\x{a9c0}\\x{aaf6}\\x{abed}\\x{10a3f}\\x{11046}\\x{11070}\\x{1107f}"     \
  "\\x{110b9}\\x{11133}\\x{11134}\\x{111c0}\\x{11235}\\x{112ea}\\x{1134d}\\x{11442}"          \
  "\\x{114c2}\\x{115bf}\\x{1163f}\\x{116b6}\\x{1172b}\\x{11839}\\x{1193d}\\x{1193e}"          \
  "\\x{119e0}\\x{11a34}\\x{11a47}\\x{11a99}\\x{11c3f}\\x{11d44}\\x{11d45}\\x{11d97}"

/* Letters in categories RFC 5892 lets through that are nonetheless
 * DISALLOWED: exceptions, ignorables, old Hangul jamo, and (the
 * approximation of "Unstable") case-changing and compatibility characters. */
#define DISALLOWED \
  "\\x{640}\\x{7fa}\\x{302e}\\x{302f}\\x{3031}-\\x{3035}\\x{303b}"                             \
  "\\p{Lu}\\p{Lt}\\p{DI}\\p{WSpace}\\p{NChar}"                                                 \
  "\\x{20d0}-\\x{20ff}\\x{1d100}-\\x{1d24f}"                                                   \
  "\\x{1100}-\\x{11ff}\\x{a960}-\\x{a97f}\\x{d7b0}-\\x{d7ff}"                                  \
  "\\x{aa}\\x{b5}\\x{ba}\\x{132}\\x{133}\\x{13f}\\x{140}\\x{149}\\x{17f}\\x{1c4}-\\x{1cc}"       \
  "\\x{1f1}-\\x{1f3}\\x{2b0}-\\x{2b8}\\x{2e0}-\\x{2e4}\\x{340}\\x{341}\\x{343}-\\x{345}"         \
  "\\x{374}\\x{37a}\\x{3d0}-\\x{3d6}\\x{3f0}-\\x{3f2}\\x{3f4}\\x{3f5}\\x{3f9}\\x{587}\\x{675}-\\x{678}"          \
  "\\x{958}-\\x{95f}\\x{9dc}\\x{9dd}\\x{9df}\\x{a33}\\x{a36}\\x{a59}-\\x{a5b}\\x{a5e}"           \
  "\\x{b5c}\\x{b5d}\\x{e33}\\x{eb3}\\x{edc}\\x{edd}\\x{f0c}\\x{f43}\\x{f4d}\\x{f52}\\x{f57}"     \
  "\\x{f5c}\\x{f69}\\x{f73}\\x{f75}-\\x{f79}\\x{f81}\\x{f93}\\x{f9d}\\x{fa2}\\x{fa7}\\x{fac}"    \
  "\\x{fb9}\\x{10fc}\\x{13f8}-\\x{13fd}\\x{1d2c}-\\x{1d2e}\\x{1d30}-\\x{1d3a}\\x{1d3c}-\\x{1d4d}" \
  "\\x{1d4f}-\\x{1d6a}\\x{1d78}\\x{1d9b}-\\x{1dbf}\\x{1e9a}\\x{1e9b}\\x{1f71}\\x{1f73}\\x{1f75}"  \
  "\\x{1f77}\\x{1f79}\\x{1f7b}\\x{1f7d}\\x{1f80}-\\x{1f87}\\x{1f90}-\\x{1f97}\\x{1fa0}-\\x{1fa7}" \
  "\\x{1c80}-\\x{1c88}\\x{1fd3}\\x{1fe3}\\x{1fb2}-\\x{1fb4}\\x{1fb7}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc7}\\x{1ff2}-\\x{1ff4}\\x{1ff7}" \
  "\\x{2071}\\x{207f}\\x{2090}-\\x{209c}\\x{2100}-\\x{214d}\\x{214f}\\x{2c7c}\\x{2c7d}\\x{2d6f}"  \
  "\\x{309f}\\x{30ff}\\x{3131}-\\x{318e}\\x{a69c}\\x{a69d}\\x{a770}\\x{a7f2}-\\x{a7f4}"          \
  "\\x{a7f8}\\x{a7f9}\\x{ab5c}-\\x{ab5f}\\x{ab69}\\x{ab70}-\\x{abbf}\\x{f900}-\\x{fa0d}"          \
  "\\x{fa10}\\x{fa12}\\x{fa15}-\\x{fa1e}\\x{fa20}\\x{fa22}\\x{fa25}\\x{fa26}\\x{fa2a}-\\x{faff}"  \
  "\\x{fb00}-\\x{fb1d}\\x{fb1f}-\\x{fdff}\\x{fe70}-\\x{fe72}\\x{fe74}-\\x{feff}\\x{ff00}-\\x{ffef}"                 \
  "\\x{10781}-\\x{107ba}\\x{1fbf0}-\\x{1fbf9}\\x{1d400}-\\x{1d7ff}\\x{1e030}-\\x{1e06d}\\x{1ee00}-\\x{1eeff}"         \
  "\\x{2f800}-\\x{2fa1f}"

#define JOINING_SCRIPTS                                                                         \
  "\\p{sc:Arabic}\\p{sc:Syriac}\\p{sc:Nko}\\p{sc:Mongolian}\\p{sc:Mandaic}\\p{sc:Phags_Pa}"    \
  "\\p{sc:Manichaean}\\p{sc:Psalter_Pahlavi}\\p{sc:Sogdian}\\p{sc:Hanifi_Rohingya}"             \
  "\\p{sc:Adlam}\\p{sc:Old_Uyghur}\\p{sc:Chorasmian}"
/* Right-joining letters of the joining scripts (Joining_Type R). */
#define JOIN_R                                                                                   \
  "\\x{622}-\\x{625}\\x{627}\\x{629}\\x{62f}-\\x{632}\\x{648}\\x{671}-\\x{673}\\x{675}-\\x{677}" \
  "\\x{688}-\\x{699}\\x{6c0}\\x{6c3}-\\x{6cb}\\x{6cd}\\x{6cf}\\x{6d2}\\x{6d3}\\x{6d5}\\x{6ee}"   \
  "\\x{6ef}\\x{710}\\x{715}-\\x{719}\\x{71e}\\x{728}\\x{72a}\\x{72c}\\x{72f}\\x{74d}"           \
  "\\x{759}-\\x{75b}\\x{76b}\\x{76c}\\x{771}\\x{773}\\x{774}\\x{778}\\x{779}\\x{840}"           \
  "\\x{846}\\x{847}\\x{849}\\x{854}\\x{856}-\\x{858}\\x{867}\\x{869}-\\x{86a}\\x{8aa}-\\x{8ac}"  \
  "\\x{8ae}\\x{8b1}\\x{8b2}\\x{8b9}" \
  "\\x{870}-\\x{882}\\x{88e}\\x{10ac5}\\x{10ac7}\\x{10ac9}-\\x{10aca}\\x{10ace}-\\x{10ad2}" \
  "\\x{10add}\\x{10ae1}\\x{10ae4}\\x{10b81}\\x{10b83}-\\x{10b85}\\x{10b89}\\x{10b8c}" \
  "\\x{10b8e}-\\x{10b8f}\\x{10b91}\\x{10d22}\\x{10f33}\\x{10f74}-\\x{10f75}\\x{10fb4}-" \
  "\\x{10fb6}\\x{10fb9}-\\x{10fba}\\x{10fbd}\\x{10fc2}-\\x{10fc3}"
/* Non-joining (U) letters of those scripts, and left-joining (L) ones. */
#define JOIN_U \
  "\\x{621}\\x{674}" \
  "\\x{6e5}-\\x{6e6}\\x{7f4}-\\x{7f5}\\x{861}\\x{866}\\x{883}-\\x{885}\\x{887}\\x{8ad}" \
  "\\x{8c9}\\x{1880}-\\x{1884}\\x{a873}\\x{fe73}\\x{10ac6}\\x{10acb}-\\x{10acc}\\x{10ae2}-" \
  "\\x{10ae3}\\x{10f45}\\x{10fb1}\\x{10fb7}\\x{10fc0}\\x{1e94b}"
#define JOIN_L "\\x{a872}\\x{10acd}\\x{10ad7}\\x{10d00}"

enum {
  U_PVALID, U_MARK, U_GREEK, U_HEBREW, U_HKH, U_VIRAMA, U_JT_T, U_JT_LD, U_JT_RD,
  U_BC_L, U_BC_R, U_BC_AL, U_BC_AN, U_BC_EN, U_BC_ES, U_BC_CS, U_BC_ET, U_BC_ON, U_BC_BN, U_BC_NSM,
  U_COUNT
};

static const char *const U_PATTERNS[U_COUNT] = {
    [U_PVALID] = "[a-z0-9\\-\\x{df}\\x{3c2}\\x{6fd}\\x{6fe}\\x{f0b}\\x{3007}\\x{13a0}-\\x{13f5}]|(?![" DISALLOWED
                 "])[\\p{Ll}\\p{Lo}\\p{Nd}\\p{Lm}\\p{Mn}\\p{Mc}]",
    [U_MARK] = "\\p{M}",
    [U_GREEK] = "\\p{sc:Greek}",
    [U_HEBREW] = "\\p{sc:Hebrew}",
    [U_HKH] = "[\\p{sc:Hiragana}\\p{sc:Katakana}\\p{sc:Han}]",
    [U_VIRAMA] = "[" VIRAMA "]",
    [U_JT_T] = "\\x{1e94b}|(?![\\x{200c}\\x{200d}\\x{600}-\\x{605}\\x{6dd}\\x{890}\\x{891}\\x{8e2}\\x{180e}"
               "\\x{2066}-\\x{2069}\\x{110bd}\\x{110cd}\\x{1171e}])[\\p{Mn}\\p{Me}\\p{Cf}]",
    [U_JT_LD] = "(?![" JOIN_R JOIN_U "])(?=\\p{L})[" JOINING_SCRIPTS "]",
    [U_JT_RD] = "(?![" JOIN_L JOIN_U "])(?=\\p{L})[" JOINING_SCRIPTS "]",
    [U_BC_L] = "\\p{bc=L}", [U_BC_R] = "\\p{bc=R}", [U_BC_AL] = "\\p{bc=AL}",
    [U_BC_AN] = "\\p{bc=AN}", [U_BC_EN] = "\\p{bc=EN}", [U_BC_ES] = "\\p{bc=ES}",
    [U_BC_CS] = "\\p{bc=CS}", [U_BC_ET] = "\\p{bc=ET}", [U_BC_ON] = "\\p{bc=ON}",
    [U_BC_BN] = "\\p{bc=BN}", [U_BC_NSM] = "\\p{bc=NSM}",
};

static pthread_once_t uclass_once = PTHREAD_ONCE_INIT;
static pcre2_code *uclass_re[U_COUNT];

static void uclass_init(void) {
  for (int i = 0; i < U_COUNT; i++) {
    char *pat = dk_asprintf("\\A(?:%s)\\z", U_PATTERNS[i]);
    int ec;
    PCRE2_SIZE eo;
    uclass_re[i] = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
    if (uclass_re[i] == NULL) abort();  /* a bug in the patterns above */
    free(pat);
  }
}

static int uclass(int cls, uint32_t cp) {
  pthread_once(&uclass_once, uclass_init);
  char u[4];
  size_t n = utf8_put(u, cp);
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  if (md == NULL) abort();
  int rc = pcre2_match(uclass_re[cls], (PCRE2_SPTR)u, n, 0, 0, md, NULL);
  pcre2_match_data_free(md);
  return rc > 0;
}

/* --- Punycode (RFC 3492) ----------------------------------------------- */

enum { PC_BASE = 36, PC_TMIN = 1, PC_TMAX = 26, PC_SKEW = 38, PC_DAMP = 700,
       PC_BIAS = 72, PC_N = 128 };
#define MAX_LABEL_CPS 256

static uint32_t pc_adapt(uint32_t delta, uint32_t numpoints, int first) {
  delta = first ? delta / PC_DAMP : delta / 2;
  delta += delta / numpoints;
  uint32_t k = 0;
  while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
    delta /= PC_BASE - PC_TMIN;
    k += PC_BASE;
  }
  return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static int pc_digit(int c) {
  if (c >= '0' && c <= '9') return c - '0' + 26;
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  return -1;
}

/* Decode into out (at most MAX_LABEL_CPS); the count, or -1. */
static int pc_decode(const char *in, size_t len, uint32_t *out) {
  size_t b = 0, nout = 0;
  for (size_t j = 0; j < len; j++)
    if (in[j] == '-') b = j;
  if (b > MAX_LABEL_CPS) return -1;
  for (size_t j = 0; j < b; j++) {
    if ((unsigned char)in[j] >= 0x80) return -1;
    out[nout++] = (unsigned char)in[j];
  }
  uint32_t n = PC_N, bias = PC_BIAS, i = 0;
  for (size_t in_i = b > 0 ? b + 1 : 0; in_i < len;) {
    uint32_t oldi = i, w = 1;
    for (uint32_t k = PC_BASE;; k += PC_BASE) {
      if (in_i >= len) return -1;
      int digit = pc_digit((unsigned char)in[in_i++]);
      if (digit < 0) return -1;
      if ((uint32_t)digit > (UINT32_MAX - i) / w) return -1;
      i += (uint32_t)digit * w;
      uint32_t t = k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;
      if ((uint32_t)digit < t) break;
      if (w > UINT32_MAX / (PC_BASE - t)) return -1;
      w *= PC_BASE - t;
    }
    bias = pc_adapt(i - oldi, (uint32_t)nout + 1, oldi == 0);
    if (i / (nout + 1) > 0x10FFFF - n) return -1;
    n += i / (uint32_t)(nout + 1);
    i %= (uint32_t)(nout + 1);
    if (n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF) || nout >= MAX_LABEL_CPS) return -1;
    memmove(out + i + 1, out + i, (nout - i) * sizeof *out);
    out[i++] = n;
    nout++;
  }
  return (int)nout;
}

/* Encode; the length of the output (without "xn--"), or -1. At most
 * outsize characters are written. */
static long pc_encode(const uint32_t *in, size_t len, char *out, size_t outsize) {
  size_t nout = 0;
  for (size_t j = 0; j < len; j++)
    if (in[j] < 0x80) {
      if (nout < outsize) out[nout] = (char)in[j];
      nout++;
    }
  size_t h = nout, b = nout;
  if (b > 0) {
    if (nout < outsize) out[nout] = '-';
    nout++;
  }
  uint32_t n = PC_N, bias = PC_BIAS;
  uint64_t delta = 0;
  while (h < len) {
    uint32_t m = UINT32_MAX;
    for (size_t j = 0; j < len; j++)
      if (in[j] >= n && in[j] < m) m = in[j];
    delta += (uint64_t)(m - n) * (h + 1);
    if (delta > UINT32_MAX) return -1;
    n = m;
    for (size_t j = 0; j < len; j++) {
      if (in[j] < n) delta++;
      if (in[j] == n) {
        uint64_t q = delta;
        for (uint32_t k = PC_BASE;; k += PC_BASE) {
          uint32_t t = k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;
          if (q < t) break;
          uint32_t d = t + (uint32_t)((q - t) % (PC_BASE - t));
          if (nout < outsize) out[nout] = (char)(d < 26 ? 'a' + d : '0' + d - 26);
          nout++;
          q = (q - t) / (PC_BASE - t);
        }
        if (nout < outsize) out[nout] = (char)(q < 26 ? 'a' + q : '0' + q - 26);
        nout++;
        bias = pc_adapt((uint32_t)delta, (uint32_t)h + 1, h == b);
        delta = 0;
        h++;
      }
    }
    delta++;
    n++;
  }
  return (long)nout;
}

/* --- host names -------------------------------------------------------- */

/* RFC 5891 section 4.2.3 and RFC 5892 appendix A for a U-label (ASCII
 * letters already folded to lower case). */
static int check_ulabel(const uint32_t *c, size_t n) {
  if (n == 0 || c[0] == '-' || c[n - 1] == '-') return 0;
  if (n >= 4 && c[2] == '-' && c[3] == '-') return 0;
  if (uclass(U_MARK, c[0])) return 0;
  int arabic_indic = 0, ext_arabic_indic = 0, katakana_dot = 0, hkh = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t cp = c[i];
    if (cp == 0x200C || cp == 0x200D) {
      if (i > 0 && uclass(U_VIRAMA, c[i - 1])) continue;
      if (cp == 0x200D) return 0;
      /* ZWNJ: (L|D) T* ZWNJ T* (R|D) */
      size_t j = i;
      while (j > 0 && uclass(U_JT_T, c[j - 1])) j--;
      if (j == 0 || !uclass(U_JT_LD, c[j - 1])) return 0;
      j = i + 1;
      while (j < n && uclass(U_JT_T, c[j])) j++;
      if (j == n || !uclass(U_JT_RD, c[j])) return 0;
    } else if (cp == 0xB7) {
      if (i == 0 || i + 1 == n || c[i - 1] != 'l' || c[i + 1] != 'l') return 0;
    } else if (cp == 0x375) {
      if (i + 1 == n || !uclass(U_GREEK, c[i + 1])) return 0;
    } else if (cp == 0x5F3 || cp == 0x5F4) {
      if (i == 0 || !uclass(U_HEBREW, c[i - 1])) return 0;
    } else if (cp == 0x30FB) {
      katakana_dot = 1;
    } else if (cp >= 0x660 && cp <= 0x669) {
      arabic_indic = 1;
    } else if (cp >= 0x6F0 && cp <= 0x6F9) {
      ext_arabic_indic = 1;
    } else if (!uclass(U_PVALID, cp)) {
      return 0;
    }
    if (cp != 0x30FB && cp >= 0x3000 && uclass(U_HKH, cp)) hkh = 1;
  }
  if (katakana_dot && !hkh) return 0;
  if (arabic_indic && ext_arabic_indic) return 0;
  return 1;
}

static int bidi_class(uint32_t cp) {
  static const int order[] = {U_BC_L, U_BC_R, U_BC_AL, U_BC_AN, U_BC_EN, U_BC_ES,
                              U_BC_CS, U_BC_ET, U_BC_ON, U_BC_BN, U_BC_NSM};
  if (cp < 0x80 && (is_alpha((int)cp))) return U_BC_L;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
    if (uclass(order[i], cp)) return order[i];
  return -1;
}

static int has_rtl(const uint32_t *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (c[i] < 0x590) continue;
    int bc = bidi_class(c[i]);
    if (bc == U_BC_R || bc == U_BC_AL || bc == U_BC_AN) return 1;
  }
  return 0;
}

/* RFC 5893 section 2, for every label of a domain name that has RTL. */
static int check_bidi(const uint32_t *c, size_t n) {
  int first = bidi_class(c[0]);
  int rtl = first == U_BC_R || first == U_BC_AL;
  if (!rtl && first != U_BC_L) return 0;
  int en = 0, an = 0;
  for (size_t i = 0; i < n; i++) {
    int bc = bidi_class(c[i]);
    if (rtl) {
      if (bc == U_BC_L || bc < 0) return 0;
    } else if (bc == U_BC_R || bc == U_BC_AL || bc == U_BC_AN || bc < 0) {
      return 0;
    }
    en |= bc == U_BC_EN;
    an |= bc == U_BC_AN;
  }
  if (rtl && en && an) return 0;
  size_t last = n;
  while (last > 0 && bidi_class(c[last - 1]) == U_BC_NSM) last--;
  if (last == 0) return 0;
  int bc = bidi_class(c[last - 1]);
  if (rtl) return bc == U_BC_R || bc == U_BC_AL || bc == U_BC_EN || bc == U_BC_AN;
  return bc == U_BC_L || bc == U_BC_EN;
}

/* The label separators of IDNA2008 (RFC 3490 section 3.1): . 。 ． ｡ */
static size_t separator_len(const char *s, size_t left, int idn) {
  if (s[0] == '.') return 1;
  if (!idn || left < 3) return 0;
  if (memcmp(s, "\xe3\x80\x82", 3) == 0 || memcmp(s, "\xef\xbc\x8e", 3) == 0 ||
      memcmp(s, "\xef\xbd\xa1", 3) == 0)
    return 3;
  return 0;
}

struct label {
  uint32_t cps[MAX_LABEL_CPS];
  size_t n;
};

/* One label: LDH, an A-label, or (idn) a U-label. Fills lab with its code
 * points (A-labels decoded) and *alen with its length as an A-label. */
static int check_label(const char *s, size_t len, int idn, struct label *lab, size_t *alen) {
  lab->n = 0;
  int ascii = 1;
  for (size_t i = 0; i < len; i++) ascii &= (unsigned char)s[i] < 0x80;
  if (ascii) {
    if (len == 0 || len > 63) return 0;
    for (size_t i = 0; i < len; i++)
      if (!is_alpha((unsigned char)s[i]) && !dk__is_digit((unsigned char)s[i]) && s[i] != '-') return 0;
    *alen = len;
    if (len >= 4 && lower(s[0]) == 'x' && lower(s[1]) == 'n' && s[2] == '-' && s[3] == '-') {
      char folded[63];
      for (size_t i = 4; i < len; i++) folded[i - 4] = (char)lower(s[i]);
      int n = pc_decode(folded, len - 4, lab->cps);
      if (n <= 0) return 0;
      lab->n = (size_t)n;
      int nonascii = 0;
      for (size_t i = 0; i < lab->n; i++) nonascii |= lab->cps[i] >= 0x80;
      if (!nonascii) return 0;
      char enc[64];
      long elen = pc_encode(lab->cps, lab->n, enc, sizeof enc);
      if (elen != (long)len - 4) return 0;
      if (memcmp(enc, folded, (size_t)elen) != 0) return 0;
      return check_ulabel(lab->cps, lab->n);
    }
    if (s[0] == '-' || s[len - 1] == '-') return 0;
    if (idn && len >= 4 && s[2] == '-' && s[3] == '-') return 0;  /* reserved LDH label */
    for (size_t i = 0; i < len; i++) lab->cps[lab->n++] = (uint32_t)lower(s[i]);
    return 1;
  }
  if (!idn) return 0;
  const char *p = s, *end = s + len;
  while (p < end) {
    if (lab->n >= MAX_LABEL_CPS) return 0;
    uint32_t cp = utf8_next(&p);
    lab->cps[lab->n++] = cp < 0x80 ? (uint32_t)lower((int)cp) : cp;
  }
  if (!check_ulabel(lab->cps, lab->n)) return 0;
  char enc[64];
  long elen = pc_encode(lab->cps, lab->n, enc, sizeof enc);
  if (elen < 0 || elen + 4 > 63) return 0;
  *alen = (size_t)elen + 4;
  return 1;
}

int dk__format_hostname(const char *s, size_t len, int idn) {
  if (len == 0) return 0;
  struct label *labels = NULL;
  size_t nlabels = 0, total = 0;
  int ok = 1, rtl = 0;
  for (size_t i = 0; ok;) {
    size_t j = i, sep = 0;
    while (j < len && (sep = separator_len(s + j, len - j, idn)) == 0) j++;
    labels = dk_realloc(labels, (nlabels + 1) * sizeof *labels);
    size_t alen = 0;
    ok = check_label(s + i, j - i, idn, &labels[nlabels], &alen);
    rtl |= ok && has_rtl(labels[nlabels].cps, labels[nlabels].n);
    total += alen + (nlabels > 0);
    nlabels++;
    if (total > 253) ok = 0;  /* also bounds the work on long input */
    if (j == len) break;
    i = j + sep;
    if (i == len) ok = 0;  /* a trailing separator */
  }
  for (size_t i = 0; ok && rtl && i < nlabels; i++) ok = check_bidi(labels[i].cps, labels[i].n);
  free(labels);
  return ok;
}

/* --- e-mail ------------------------------------------------------------ */

static int is_atext(int c) { return is_alpha(c) || dk__is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c)); }

/* RFC 5321 Mailbox; idn: RFC 6531 (UTF-8 in the local part, an IDN domain). */
int dk__format_email(const char *s, size_t len, int idn) {
  size_t i = 0;
  if (len > 254 || len == 0) return 0;
  if (s[0] == '"') {
    for (i = 1;; i++) {
      if (i >= len) return 0;
      unsigned char c = (unsigned char)s[i];
      if (c == '"') break;
      if (c == '\\') {
        if (++i >= len || (unsigned char)s[i] < 32 || (unsigned char)s[i] > 126) return 0;
      } else if (c >= 0x80 ? !idn : (c < 32 || c > 126)) {
        return 0;
      }
    }
    i++;
  } else {
    int prev_dot = 1;
    for (; i < len && s[i] != '@'; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c == '.') {
        if (prev_dot) return 0;
        prev_dot = 1;
      } else if (is_atext(c) || (idn && c >= 0x80)) {
        prev_dot = 0;
      } else {
        return 0;
      }
    }
    if (prev_dot) return 0;  /* empty, or ends with a dot */
  }
  if (i > 64 || i >= len || s[i] != '@') return 0;
  const char *d = s + i + 1;
  size_t dlen = len - i - 1;
  if (dlen >= 2 && d[0] == '[' && d[dlen - 1] == ']') {
    if (dlen > 7 && strncasecmp(d + 1, "IPv6:", 5) == 0) return dk__format_ipv6(d + 6, dlen - 7);
    return dk__format_ipv4(d + 1, dlen - 2);
  }
  return dk__format_hostname(d, dlen, idn);
}

/* --- URIs and IRIs ----------------------------------------------------- */

static int is_unreserved(int c) { return is_alpha(c) || dk__is_digit(c) || (c && strchr("-._~", c)); }
static int is_subdelim(int c) { return c && strchr("!$&'()*+,;=", c); }

static int is_ucschar(uint32_t c) {
  if ((c & 0xFFFE) == 0xFFFE) return 0;
  return (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFDCF) ||
         (c >= 0xFDF0 && c <= 0xFFEF) || (c >= 0x10000 && c <= 0xDFFFD) ||
         (c >= 0xE1000 && c <= 0xEFFFD);
}

static int is_iprivate(uint32_t c) {
  return (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD) ||
         (c >= 0x100000 && c <= 0x10FFFD);
}

/* Characters allowed in a component, beyond unreserved / sub-delims and
 * percent-encodings. */
enum { C_USERINFO = 1, C_REGNAME, C_PCHAR, C_PATH, C_QUERY, C_FRAGMENT };

/* Scan s[0..len) as a component; 1 when every character is allowed. */
static int scan_component(const char *s, size_t len, int comp, int iri) {
  const char *p = s, *end = s + len;
  while (p < end) {
    unsigned char c = (unsigned char)*p;
    if (c == '%') {
      if (end - p < 3 || !dk__is_hex((unsigned char)p[1]) || !dk__is_hex((unsigned char)p[2])) return 0;
      p += 3;
      continue;
    }
    if (c >= 0x80) {
      if (!iri) return 0;
      uint32_t cp = utf8_next(&p);
      if (!is_ucschar(cp) && !(comp == C_QUERY && is_iprivate(cp))) return 0;
      continue;
    }
    p++;
    if (is_unreserved(c) || is_subdelim(c)) continue;
    if (c == ':' && comp != C_REGNAME) continue;
    if (c == '@' && comp >= C_PCHAR) continue;
    if (c == '/' && comp >= C_PATH) continue;
    if (c == '?' && comp >= C_QUERY) continue;
    return 0;
  }
  return 1;
}

static int check_authority(const char *s, size_t len, int iri) {
  const char *at = memchr(s, '@', len);
  if (at != NULL) {
    if (!scan_component(s, (size_t)(at - s), C_USERINFO, iri)) return 0;
    len -= (size_t)(at - s) + 1;
    s = at + 1;
  }
  size_t hlen;
  if (len > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (close == NULL) return 0;
    const char *h = s + 1;
    size_t n = (size_t)(close - h);
    if (n > 0 && (h[0] == 'v' || h[0] == 'V')) {  /* IPvFuture */
      size_t i = 1;
      while (i < n && dk__is_hex((unsigned char)h[i])) i++;
      if (i == 1 || i >= n || h[i] != '.' || i + 1 == n) return 0;
      for (i++; i < n; i++)
        if (!is_unreserved((unsigned char)h[i]) && !is_subdelim((unsigned char)h[i]) && h[i] != ':') return 0;
    } else if (!dk__format_ipv6(h, n)) {
      return 0;
    }
    hlen = n + 2;
  } else {
    const char *colon = memchr(s, ':', len);
    hlen = colon ? (size_t)(colon - s) : len;
    if (!scan_component(s, hlen, C_REGNAME, iri)) return 0;
  }
  if (hlen == len) return 1;
  if (s[hlen] != ':') return 0;
  for (size_t i = hlen + 1; i < len; i++)
    if (!dk__is_digit((unsigned char)s[i])) return 0;
  return 1;
}

/* RFC 3986 URI / URI-reference; iri: RFC 3987. */
int dk__format_uri(const char *s, size_t len, int iri, int ref) {
  size_t i = 0, scheme = 0;
  if (len > 0 && is_alpha((unsigned char)s[0])) {
    i = 1;
    while (i < len && (is_alpha((unsigned char)s[i]) || dk__is_digit((unsigned char)s[i]) || s[i] == '+' ||
                       s[i] == '-' || s[i] == '.'))
      i++;
    if (i < len && s[i] == ':') scheme = ++i;
  }
  if (!scheme) {
    if (!ref) return 0;
    i = 0;
  }
  size_t q = i;
  while (q < len && s[q] != '?' && s[q] != '#') q++;
  /* hier-part / relative-part in s[i..q) */
  const char *h = s + i;
  size_t hlen = q - i;
  if (hlen >= 2 && h[0] == '/' && h[1] == '/') {
    size_t a = 2;
    while (a < hlen && h[a] != '/') a++;
    if (!check_authority(h + 2, a - 2, iri)) return 0;
    h += a;
    hlen -= a;
  } else if (!scheme) {
    /* path-noscheme: no colon in the first segment */
    const char *slash = memchr(h, '/', hlen);
    size_t first = slash ? (size_t)(slash - h) : hlen;
    if (memchr(h, ':', first) != NULL) return 0;
  }
  if (!scan_component(h, hlen, C_PATH, iri)) return 0;
  if (q < len && s[q] == '?') {
    size_t f = q + 1;
    while (f < len && s[f] != '#') f++;
    if (!scan_component(s + q + 1, f - q - 1, C_QUERY, iri)) return 0;
    q = f;
  }
  if (q < len && s[q] == '#') {
    if (!scan_component(s + q + 1, len - q - 1, C_FRAGMENT, iri)) return 0;
  }
  return 1;
}

/* --- URI templates (RFC 6570 level 4 syntax) ---------------------------- */

int dk__format_uri_template(const char *s, size_t len) {
  const char *p = s, *end = s + len;
  while (p < end) {
    unsigned char c = (unsigned char)*p;
    if (c == '{') {
      p++;
      if (p < end && strchr("+#./;?&", *p) && *p) p++;
      for (;;) {
        /* varname = varchar *( ["."] varchar ) */
        int chars = 0, dot = 0;
        while (p < end) {
          if (*p == '%') {
            if (end - p < 3 || !dk__is_hex((unsigned char)p[1]) || !dk__is_hex((unsigned char)p[2])) return 0;
            p += 3;
          } else if (is_alpha((unsigned char)*p) || dk__is_digit((unsigned char)*p) || *p == '_') {
            p++;
          } else if (*p == '.' && chars > 0 && !dot) {
            dot = 1;
            p++;
            continue;
          } else {
            break;
          }
          chars++;
          dot = 0;
        }
        if (chars == 0 || dot) return 0;
        if (p < end && *p == ':') {
          const char *d = ++p;
          while (p < end && dk__is_digit((unsigned char)*p) && p - d < 5) p++;
          if (p == d || *d == '0' || p - d > 4) return 0;
        } else if (p < end && *p == '*') {
          p++;
        }
        if (p < end && *p == ',') {
          p++;
          continue;
        }
        break;
      }
      if (p >= end || *p != '}') return 0;
      p++;
    } else if (c == '%') {
      if (end - p < 3 || !dk__is_hex((unsigned char)p[1]) || !dk__is_hex((unsigned char)p[2])) return 0;
      p += 3;
    } else if (c >= 0x80) {
      uint32_t cp = utf8_next(&p);
      if (!is_ucschar(cp) && !is_iprivate(cp)) return 0;
    } else {
      /* apostrophe is allowed (RFC 6570 erratum 6937) */
      if (c <= 0x20 || c == 0x7F || strchr("\"<>\\^`{|}", c)) return 0;
      p++;
    }
  }
  return 1;
}
