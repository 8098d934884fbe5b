/* fp_rounding: the four rounding modes and the D (denormals as zero) bit, set through
 * the FP status word (fldd into fr0), applied to arithmetic, square root, float<->double
 * conversions, int->float conversions of values that do not fit, float->int with and
 * without truncation (fcnvfx vs fcnvfxt), frnd, and results at the edges of the
 * exponent range (overflow to infinity or the largest finite value, gradual underflow,
 * flush to zero); the status word (flags) after each mode. */
#include "hvlib.h"

static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static double dval(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static float fval(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static void pd(double d) { uint64_t u = dbits(d); hv_printf(" %08x%08x", (uint32_t)(u >> 32), (uint32_t)u); }
static void pf(float f) { hv_printf(" %08x", fbits(f)); }

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

/* operands in volatile memory: every operation happens between the status writes */
static volatile double va, vb;
static volatile float fa, fb;
static volatile int32_t vi;
static volatile int64_t vl;

static double dsqrt(double x) { double r; __asm__ volatile("fsqrt,dbl %1,%0" : "=f"(r) : "f"(x)); return r; }
static double dfrnd(double x) { double r; __asm__ volatile("frnd,dbl %1,%0" : "=f"(r) : "f"(x)); return r; }
static float ffrnd(float x) { float r; __asm__ volatile("frnd,sgl %1,%0" : "=f"(r) : "f"(x)); return r; }
static int32_t dfx(double x)
{
    float r;
    __asm__ volatile("fcnvfx,dbl,sgl %1,%0" : "=f"(r) : "f"(x));
    return (int32_t)fbits(r);
}

static const uint64_t dv[] = {
    0x3ff0000000000000ull, 0x4008000000000000ull, 0xbff0000000000000ull,
    0x3ff8000000000000ull, 0xc004000000000000ull, 0x4004000000000000ull,
    0x3fe0000000000000ull, 0xbfe0000000000001ull, 0x7fefffffffffffffull,
    0x0010000000000001ull, 0x000fffffffffffffull, 0x41dfffffffe00000ull,
    0x3ff0000010000000ull, 0x36a0000000000001ull, 0xc7efffffefffffffull,
};
#define N(a) (sizeof (a) / sizeof (a)[0])

int main(void)
{
    for (uint32_t mode = 0; mode < 8; mode++) {
        uint32_t rm = mode & 3, d = mode >> 2;
        hv_printf("== rm %u d %u\n", rm, d);
        for (unsigned i = 0; i < N(dv); i++) {
            set_status(rm << 9 | d << 5);
            va = dval(dv[i]);
            vb = dval(dv[(i * 5 + 1) % N(dv)]);
            double a = va, b = vb;
            hv_printf("%2u", i);
            pd(a / 3.0); pd(a + b); pd(a * b); pd(a / b); pd(dsqrt(a < 0 ? -a : a));
            pf((float)a); pd(dfrnd(a)); hv_printf(" %08x %08x", (uint32_t)dfx(a), (uint32_t)(int32_t)a);
            hv_printf("  %08x\n", status());
        }
        set_status(rm << 9 | d << 5);
        fa = fval(0x00800001); fb = fval(0x3f7fffff);
        pf(fa * fb); pf(fa / 3.0f); pf(ffrnd(fval(0x40200000))); pf(ffrnd(fval(0xbfc00000)));
        pf(fval(0x7f7fffff) * 2.0f + fa * 0.0f);
        vi = 16777217; vl = 0x7fffffffffffff01ll;
        pf((float)vi); pd((double)vl); pf((float)vl);
        vi = -16777219;
        pf((float)vi);
        hv_printf("  %08x\n", status());
    }
    set_status(0);
    return 0;
}
