/* strings: string routines written out in C -- length (bytewise and
 * word-at-a-time with the has-zero-byte trick), copy, compare, search,
 * tokenise, number conversion both ways, reverse, case mapping -- over
 * strings at every alignment. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

static unsigned __attribute__((noinline)) s_len(const char *s)
{
    const char *p = s;
    while (*p) p++;
    return (unsigned)(p - s);
}

static unsigned __attribute__((noinline)) s_wlen(const char *s)
{
    const char *p = s;
    while ((uint32_t)p & 3) {
        if (!*p) return (unsigned)(p - s);
        p++;
    }
    const uint32_t *w = (const uint32_t *)p;
    for (;; w++) {
        uint32_t v = *w;
        if ((v - 0x01010101u) & ~v & 0x80808080u) break;
    }
    p = (const char *)w;
    while (*p) p++;
    return (unsigned)(p - s);
}

static char *s_cpy(char *d, const char *s) { char *r = d; while ((*d++ = *s++)) ; return r; }
static int s_cmp(const char *a, const char *b)
{
    while (*a && *a == *b) { a++; b++; }
    return (unsigned char)*a - (unsigned char)*b;
}
static int s_ncmp(const char *a, const char *b, unsigned n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b) return (unsigned char)*a - (unsigned char)*b;
        if (!*a) return 0;
    }
    return 0;
}
static const char *s_chr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c) return s;
        if (!*s) return 0;
    }
}
static const char *s_rchr(const char *s, int c)
{
    const char *r = 0;
    for (;; s++) {
        if (*s == (char)c) r = s;
        if (!*s) return r;
    }
}
static const char *s_str(const char *h, const char *n)
{
    unsigned nl = s_len(n);
    for (; *h; h++)
        if (!s_ncmp(h, n, nl)) return h;
    return nl ? 0 : h;
}
static int32_t s_atoi(const char *s)
{
    while (*s == ' ') s++;
    int neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    uint32_t v = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (uint32_t)(*s++ - '0');
    return (int32_t)(neg ? 0u - v : v);
}
static char *s_itoa(int32_t v, char *buf, unsigned base)
{
    char tmp[40];
    int n = 0;
    uint32_t u = v < 0 && base == 10 ? 0u - (uint32_t)v : (uint32_t)v;
    do { tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[u % base]; u /= base; } while (u);
    char *p = buf;
    if (v < 0 && base == 10) *p++ = '-';
    while (n) *p++ = tmp[--n];
    *p = 0;
    return buf;
}
static void s_rev(char *s)
{
    unsigned n = s_len(s);
    for (unsigned i = 0; i < n / 2; i++) { char t = s[i]; s[i] = s[n - 1 - i]; s[n - 1 - i] = t; }
}
static void s_upper(char *s) { for (; *s; s++) if (*s >= 'a' && *s <= 'z') *s -= 32; }

static const char *const words[] = {
    "", "a", "ab", "abc", "hello", "hello world", "Hello", "PA-RISC 1.1 rocks",
    "the quick brown fox jumps over the lazy dog", "zzzz", "\x7f\x80\xff", "1234567",
};
#define NW (sizeof words / sizeof words[0])

int main(void)
{
    static char area[128] __attribute__((aligned(8)));
    for (unsigned i = 0; i < NW; i++) {
        for (unsigned al = 0; al < 4; al++) {
            char *d = area + OPQ(al);
            s_cpy(d, words[i]);
            unsigned a = s_len(d), b = s_wlen(d);
            if (a != b || a != strlen(words[i]))
                hv_printf("length mismatch: word %u align %u: %u %u\n", i, al, a, b);
        }
        hv_printf("\"%s\": len %u\n", words[i], s_wlen(words[i]));
    }
    for (unsigned i = 0; i < NW; i++) {
        hv_printf("cmp %2u:", i);
        for (unsigned j = 0; j < NW; j++) {
            int c = s_cmp(words[i], words[j]);
            hv_printf(" %c", c < 0 ? '<' : c > 0 ? '>' : '=');
        }
        hv_printf(" | ncmp3 %d\n", s_ncmp(words[i], "hel", 3));
    }
    const char *txt = words[8];
    hv_printf("chr o: %d rchr o: %d chr !: %d\n", (int)(s_chr(txt, 'o') - txt),
              (int)(s_rchr(txt, 'o') - txt), s_chr(txt, '!') ? 1 : 0);
    static const char *const needles[] = { "the", "lazy", "dog", "cat", "", "o", "jumps over" };
    for (unsigned i = 0; i < sizeof needles / sizeof needles[0]; i++) {
        const char *f = s_str(txt, needles[i]);
        hv_printf("str \"%s\": %d\n", needles[i], f ? (int)(f - txt) : -1);
    }
    static const char *const nums[] = { "0", "42", "-17", "  +99", "2147483647", "-2147483648",
                                        "4294967295", "12abc", "-" };
    for (unsigned i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        char b10[40], b16[40], b2[40], b36[40];
        int32_t v = s_atoi(nums[i]);
        hv_printf("atoi \"%s\" = %d -> %s %s %s %s\n", nums[i], v, s_itoa(v, b10, 10),
                  s_itoa(v, b16, 16), s_itoa(v, b2, 2), s_itoa(v, b36, 36));
    }
    /* tokenise, reverse and upper-case each token */
    s_cpy(area, "  split  these,words;into tokens ,, ok ");
    char *p = area;
    int ntok = 0;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == ';') p++;
        if (!*p) break;
        char *start = p;
        while (*p && *p != ' ' && *p != ',' && *p != ';') p++;
        char save = *p;
        *p = 0;
        s_rev(start);
        if (ntok & 1) s_upper(start);
        hv_printf("tok %d: [%s]\n", ntok++, start);
        *p = save;
    }
    /* djb2 and FNV over every word, every alignment copy */
    uint32_t djb = 5381, fnv = 0x811c9dc5u;
    for (unsigned i = 0; i < NW; i++)
        for (const char *q = words[i]; *q; q++) {
            djb = djb * 33 + (uint8_t)*q;
            fnv = (fnv ^ (uint8_t)*q) * 0x01000193u;
        }
    hv_printf("hashes: %08x %08x\n", djb, fnv);
    return 0;
}
