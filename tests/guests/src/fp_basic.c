/* fp_basic: single and double arithmetic, square root and conversions as gcc -O2
 * compiles C (fadd/fsub/fmpy/fdiv, fcnvff, fcnvxf/fcnvfxt for int, unsigned and long
 * long, xmpyu for integer multiply), over edge values: zeros, denormals, the largest
 * and smallest normals, infinities, NaNs and the integer limits.  Results are printed
 * as bit patterns.  Operands pass through an empty asm so nothing is folded. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+f"(_o)); _o; })
#define OPQI(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static double dval(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static float fval(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static void pd(double d) { uint64_t u = dbits(d); hv_printf(" %08x%08x", (uint32_t)(u >> 32), (uint32_t)u); }
static void pf(float f) { hv_printf(" %08x", fbits(f)); }

static double dsqrt(double x) { double r; __asm__("fsqrt,dbl %1,%0" : "=f"(r) : "f"(x)); return r; }
static float fsqrt(float x) { float r; __asm__("fsqrt,sgl %1,%0" : "=f"(r) : "f"(x)); return r; }

static const uint64_t dv[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
    0x4008000000000000ull, 0x3fb999999999999aull, 0x0000000000000001ull, 0x000fffffffffffffull,
    0x0010000000000000ull, 0x7fefffffffffffffull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
    0x7ff8000000000000ull, 0x7ff4000000000000ull, 0x41dfffffffc00000ull, 0xc1e0000000000000ull,
    0x43e0000000000000ull, 0x3fe0000000000000ull, 0x4004000000000000ull, 0x400c000000000000ull,
};
static const uint32_t fv[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x40400000, 0x3dcccccd, 0x00000001,
    0x007fffff, 0x00800000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fa00000,
    0x4effffff, 0xcf000000, 0x3f000000, 0x40200000,
};
#define N(a) (sizeof (a) / sizeof (a)[0])

int main(void)
{
    hv_puts("double a+b a-b a*b a/b\n");
    for (unsigned i = 0; i < N(dv); i++)
        for (unsigned j = 0; j < N(dv); j += 3) {
            double a = OPQ(dval(dv[i])), b = OPQ(dval(dv[j]));
            hv_printf("%2u %2u", i, j);
            pd(a + b); pd(a - b); pd(a * b); pd(a / b);
            hv_putc('\n');
        }
    hv_puts("float a+b a-b a*b a/b\n");
    for (unsigned i = 0; i < N(fv); i++)
        for (unsigned j = 0; j < N(fv); j += 3) {
            float a = OPQ(fval(fv[i])), b = OPQ(fval(fv[j]));
            hv_printf("%2u %2u", i, j);
            pf(a + b); pf(a - b); pf(a * b); pf(a / b);
            hv_putc('\n');
        }
    hv_puts("double: sqrt (float) (int) (unsigned) (long long) (unsigned long long)\n");
    for (unsigned i = 0; i < N(dv); i++) {
        double a = OPQ(dval(dv[i]));
        hv_printf("%2u", i);
        pd(dsqrt(a)); pf((float)a);
        hv_printf(" %08x %08x", (uint32_t)(int)a, (unsigned)a);
        long long ll = (long long)a;
        unsigned long long ull = (unsigned long long)a;
        hv_printf(" %08x%08x %08x%08x\n", (uint32_t)(ll >> 32), (uint32_t)ll,
                  (uint32_t)(ull >> 32), (uint32_t)ull);
    }
    hv_puts("float: sqrt (double) (int) (unsigned)\n");
    for (unsigned i = 0; i < N(fv); i++) {
        float a = OPQ(fval(fv[i]));
        hv_printf("%2u", i);
        pf(fsqrt(a)); pd((double)a);
        hv_printf(" %08x %08x\n", (uint32_t)(int)a, (unsigned)a);
    }
    static const int32_t iv[] = { 0, 1, -1, 0x7fffffff, (int32_t)0x80000000, 0x01000001,
                                  -0x01000001, 16777217, 0x7fffff80, 123456789 };
    hv_puts("int: (float) (double) (unsigned->float) (unsigned->double)\n");
    for (unsigned i = 0; i < N(iv); i++) {
        int32_t x = OPQI(iv[i]);
        pf((float)x); pd((double)x); pf((float)(uint32_t)x); pd((double)(uint32_t)x);
        hv_putc('\n');
    }
    static const int64_t lv[] = { 0, -1, 0x7fffffffffffffffll, (int64_t)0x8000000000000000ull,
                                  0x0020000000000001ll, -0x0020000000000003ll, 0x7ffffffffffffc01ll };
    hv_puts("long long: (float) (double) (unsigned long long->double)\n");
    for (unsigned i = 0; i < N(lv); i++) {
        int64_t x = OPQI(lv[i]);
        pf((float)x); pd((double)x); pd((double)(uint64_t)x);
        hv_putc('\n');
    }
    hv_puts("int multiply (xmpyu)\n");
    for (unsigned i = 0; i < N(iv); i++) {
        uint32_t a = OPQI((uint32_t)iv[i]), b = OPQI((uint32_t)iv[(i * 7 + 3) % N(iv)]);
        uint64_t p = (uint64_t)a * b;
        hv_printf(" %08x %08x%08x\n", a * b, (uint32_t)(p >> 32), (uint32_t)p);
    }
    uint32_t st[2];
    __asm__ volatile("fstds %%fr0,0(%0)" : : "r"(st) : "memory");
    hv_printf("status %08x\n", st[0]);
    return 0;
}
