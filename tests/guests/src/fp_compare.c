/* fp_compare: C comparisons as gcc -O2 compiles them (fcmp with the signalling and
 * quiet conditions, then ftest and a branch) over values including NaNs, infinities,
 * signed zeros and denormals; the quiet comparison builtins; the NaNs that invalid
 * operations produce (0/0, inf-inf, 0*inf, sqrt(-1), conversions of sNaN), and the FP
 * status word (sticky flags, compare bit and queue) after each group. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+f"(_o)); _o; })

static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static double dval(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static float fval(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static uint32_t status(void)
{
    uint32_t st[2];
    __asm__ volatile("fstds %%fr0,0(%0)" : : "r"(st) : "memory");
    return st[0];
}
static void set_status(uint32_t s)
{
    uint32_t st[2] = { s, 0 };
    __asm__ volatile("fldds 0(%0),%%fr0" : : "r"(st) : "memory");
}

static volatile int sink;
static void __attribute__((noinline)) mark(int v) { sink = v; }

static uint32_t __attribute__((noinline)) dcmp(double a, double b)
{
    uint32_t m = 0;
    if (a < b) { mark(1); m |= 1; }
    if (a <= b) { mark(2); m |= 2; }
    if (a > b) { mark(3); m |= 4; }
    if (a >= b) { mark(4); m |= 8; }
    if (a == b) { mark(5); m |= 16; }
    if (a != b) { mark(6); m |= 32; }
    m |= (uint32_t)__builtin_isless(a, b) << 6 | (uint32_t)__builtin_islessequal(a, b) << 7 |
         (uint32_t)__builtin_isgreater(a, b) << 8 | (uint32_t)__builtin_isunordered(a, b) << 9 |
         (uint32_t)__builtin_islessgreater(a, b) << 10 | (uint32_t)(a != a) << 11;
    return m;
}

static uint32_t __attribute__((noinline)) fcmp(float a, float b)
{
    uint32_t m = 0;
    if (a < b) { mark(1); m |= 1; }
    if (a <= b) { mark(2); m |= 2; }
    if (a > b) { mark(3); m |= 4; }
    if (a >= b) { mark(4); m |= 8; }
    if (a == b) { mark(5); m |= 16; }
    if (a != b) { mark(6); m |= 32; }
    m |= (uint32_t)__builtin_isless(a, b) << 6 | (uint32_t)__builtin_isgreaterequal(a, b) << 7 |
         (uint32_t)__builtin_isunordered(a, b) << 8;
    return m;
}

static const uint64_t dv[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
    0x0000000000000001ull, 0x8000000000000001ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
    0x7ff0000000000001ull, 0xfff4000000000000ull, 0x7ff8000000000000ull, 0x7fefffffffffffffull,
};
static const uint32_t fv[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x00000001, 0x7f800000, 0xff800000,
    0x7f800001, 0x7fc00000, 0x7f7fffff,
};
#define N(a) (sizeof (a) / sizeof (a)[0])

int main(void)
{
    for (unsigned i = 0; i < N(dv); i++) {
        set_status(0);
        hv_printf("d%-2u", i);
        for (unsigned j = 0; j < N(dv); j++)
            hv_printf(" %03x", dcmp(dval(dv[i]), dval(dv[j])));
        hv_printf("  status %08x\n", status());
    }
    for (unsigned i = 0; i < N(fv); i++) {
        set_status(0);
        hv_printf("f%-2u", i);
        for (unsigned j = 0; j < N(fv); j++)
            hv_printf(" %03x", fcmp(fval(fv[i]), fval(fv[j])));
        hv_printf("  status %08x\n", status());
    }
    set_status(0);
    double z = OPQ(0.0), inf = OPQ(dval(0x7ff0000000000000ull)), m1 = OPQ(-1.0);
    double snan = OPQ(dval(0x7ff4000000000000ull)), qnan = OPQ(dval(0x7ff0000000000123ull));
    double r[8];
    r[0] = z / z;
    r[1] = inf - inf;
    r[2] = z * inf;
    __asm__("fsqrt,dbl %1,%0" : "=f"(r[3]) : "f"(m1));
    r[4] = snan + 1.0;
    r[5] = qnan * 2.0;
    r[6] = -snan + qnan;
    r[7] = qnan - snan;
    for (unsigned i = 0; i < 8; i++)
        hv_printf("nan%u %08x%08x\n", i, (uint32_t)(dbits(r[i]) >> 32), (uint32_t)dbits(r[i]));
    float fz = OPQ(0.0f), fsn = OPQ(fval(0x7fa00001));
    hv_printf("fnan %08x %08x %08x %08x\n", fbits(fz / fz), fbits((float)snan),
              fbits(fsn * 3.0f), fbits((float)qnan));
    hv_printf("dnan %08x%08x\n", (uint32_t)(dbits((double)fsn) >> 32), (uint32_t)dbits((double)fsn));
    hv_printf("int %08x %08x %08x\n", (uint32_t)(int)snan, (uint32_t)(int)-inf, (uint32_t)(int)fsn);
    hv_printf("status %08x\n", status());
    set_status(0);
    return 0;
}
