/* varargs: <stdarg.h> (gcc's builtin va_list) with ints, long longs (which are
 * 8-byte aligned in the PA-RISC argument area), pointers and chars, more
 * arguments than fit in %r26-%r23 (the rest go on the stack, below %sp),
 * va_copy, and forwarding a va_list to hv_vprintf. */
#include "hvlib.h"

static int32_t __attribute__((noinline)) sum_ints(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    int32_t s = 0;
    for (int i = 0; i < n; i++)
        s = s * 3 + va_arg(ap, int32_t);
    va_end(ap);
    return s;
}

/* format letters: i = int, L = long long, s = string, c = char, p = pointer */
static uint32_t __attribute__((noinline)) mixed(const char *fmt, ...)
{
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    uint32_t h = 0x1505;
    for (const char *f = fmt; *f; f++) {
        switch (*f) {
        case 'i': h = h * 33 + (uint32_t)va_arg(ap, int); break;
        case 'L': { unsigned long long v = va_arg(ap, unsigned long long);
                    h = h * 33 + (uint32_t)v; h = h * 33 + (uint32_t)(v >> 32); break; }
        case 's': for (const char *s = va_arg(ap, const char *); *s; s++) h = h * 33 + (uint8_t)*s;
                  break;
        case 'c': h = h * 33 + (uint8_t)va_arg(ap, int); break;
        case 'p': h = h * 33 + (*va_arg(ap, const uint32_t *)); break;
        }
    }
    /* the copy walks the same arguments again: it must see the same first one */
    uint32_t first = 0;
    if (*fmt == 'i') first = (uint32_t)va_arg(again, int);
    else if (*fmt == 'L') first = (uint32_t)va_arg(again, unsigned long long);
    va_end(again);
    va_end(ap);
    return h ^ first;
}

static int __attribute__((noinline)) my_printf(const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = hv_printf("%s", prefix);
    n += hv_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

/* many fixed arguments: the 5th and later are passed on the stack */
static uint32_t __attribute__((noinline)) many(uint32_t a, uint32_t b, uint32_t c, uint32_t d,
                                                uint32_t e, uint32_t f, unsigned long long g,
                                                uint32_t h, uint8_t i, uint16_t j)
{
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + (uint32_t)(g >> 7) + h + i + j;
}

static unsigned long long __attribute__((noinline)) ret64(uint32_t a, unsigned long long b)
{
    return b * 3 + a;
}

struct pair { uint32_t x, y; };
struct big { uint32_t w[5]; };

static struct pair __attribute__((noinline)) mkpair(uint32_t a) { return (struct pair){ a, ~a }; }
static struct big __attribute__((noinline)) mkbig(uint32_t a)
{
    struct big b;
    for (int i = 0; i < 5; i++) b.w[i] = a + (uint32_t)i * 0x1111u;
    return b;
}
static uint32_t __attribute__((noinline)) takebig(struct big b, struct pair p)
{
    return b.w[0] ^ b.w[4] ^ p.x ^ (p.y << 1);
}

int main(void)
{
    static const uint32_t word = 0xfeedface;
    hv_printf("sum_ints: %d %d %d\n", sum_ints(0), sum_ints(1, -5),
              sum_ints(12, 1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 0x7fffffff, (int32_t)0x80000000));
    hv_printf("mixed: %08x %08x %08x\n", mixed("i", 42),
              mixed("LiLi", 0x1122334455667788ULL, 7, 0xffffffffffffffffULL, -1),
              mixed("iLscpLi", 1, 2ULL, "three", '4', &word, 0x8000000000000000ULL, 6));
    int n = my_printf("fwd: ", "%d %s %llx %c %08x %-5d|%5s|\n", -99, "ok",
                      0xabcdef0123456789ULL, 'Z', 0x1fu, 42, "ab");
    hv_printf("printed %d chars\n", n);
    hv_printf("many: %08x\n", many(1, 2, 3, 4, 5, 6, 0x123456789abcdefULL, 8, 9, 10));
    hv_printf("ret64: %016llx\n", ret64(5, 0x5555555555555555ULL));
    struct pair p = mkpair(0x0f0f1234u);
    struct big b = mkbig(0x10000000u);
    hv_printf("structs: %08x %08x %08x %08x %08x\n", p.x, p.y, b.w[0], b.w[4], takebig(b, p));
    return 0;
}
