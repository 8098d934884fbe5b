/* fp_fuzz: every FP computational instruction form (fp_fuzz.ops.S) on pseudo-random
 * operands biased towards the hard cases (zeros, denormals, infinities, quiet and
 * signalling NaNs, values near overflow/underflow and integer limits, near-equal
 * operands), in all four rounding modes with the status D bit off and on, with random
 * compare-queue bits and random fr0R.  After each run the whole register file (fr0 =
 * status word included) and the nullification of the following instruction are hashed;
 * one line per template.  No trap is enabled.  Build with -DFP_VERBOSE to print every
 * run (for finding a difference). */
#include "hvlib.h"

uint32_t fp_run(uint64_t *regs, unsigned idx);
extern const char fp_names[];

#define RUNS 20                      /* per template, rounding mode and D bit */

static uint32_t rng = 0x2545f491u;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static uint64_t rnd64(void) { uint64_t h = rnd(); return h << 32 | rnd(); }

static const uint32_t s_special[] = {
    0x00000000, 0x00000001, 0x007fffff, 0x00800000, 0x00800001, 0x3f800000, 0x3f800001,
    0x3fffffff, 0x3f000000, 0x3fc00000, 0x40200000, 0x7f7fffff, 0x7f7ffffe, 0x7f000000,
    0x7f800000, 0x7f800001, 0x7fbfffff, 0x7fc00000, 0x7fa00000, 0x7fffffff, 0x4f000000,
    0x4effffff, 0x4f800000, 0x4f7fffff, 0x5f000000, 0x5effffff, 0x5f800000, 0x5f7fffff,
    0x4b000000, 0x4b7fffff, 0x4affffff, 0x3effffff, 0x3f7fffff, 0x34000000, 0x33800000,
    0x0c000000, 0x1f800000, 0x5f800001, 0x4f800001, 0x00400000, 0x00000002, 0x20000001,
    0x1ffffffe,
};
static const uint64_t d_special[] = {
    0x0000000000000000ull, 0x0000000000000001ull, 0x000fffffffffffffull, 0x0010000000000000ull,
    0x0010000000000001ull, 0x3ff0000000000000ull, 0x3ff0000000000001ull, 0x3fe0000000000000ull,
    0x3ff8000000000000ull, 0x4004000000000000ull, 0x7fefffffffffffffull, 0x7feffffffffffffeull,
    0x7ff0000000000000ull, 0x7ff0000000000001ull, 0x7ff7ffffffffffffull, 0x7ff8000000000000ull,
    0x7ff4000000000000ull, 0x7fffffffffffffffull, 0x7ff0000020000000ull, 0x7ff8000000000001ull,
    0x41e0000000000000ull, 0x41dfffffffc00000ull, 0x41dfffffffffffffull, 0x41e0000000100000ull,
    0xc1e0000000000000ull, 0xc1e0000000100000ull, 0x41efffffffe00000ull, 0x41f0000000000000ull,
    0x43e0000000000000ull, 0x43dfffffffffffffull, 0x43f0000000000000ull, 0x43efffffffffffffull,
    0x4330000000000000ull, 0x432fffffffffffffull, 0x3fdfffffffffffffull, 0x3cb0000000000000ull,
    0x36a0000000000000ull, 0x380fffffe0000000ull, 0x3810000000000000ull, 0x47efffffe0000000ull,
    0x47effffff0000000ull, 0x47f0000000000000ull, 0x3690000000000000ull, 0x36a0000010000000ull,
    0x0008000000000000ull, 0x0000000000000002ull, 0x380ffffff8000000ull, 0x380ffffff0000000ull,
    0x2000000000000001ull, 0x1ffffffffffffffeull,
};
static const uint64_t i_special[] = {
    0, 1, 2, 3, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x00ffffff, 0x01000000,
    0x01000001, 0x7fffff80, 0x7fffffc0, 0x0020000000000000ull, 0x0020000000000001ull,
    0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull,
    0x7ffffffffffffe00ull, 0x7ffffffffffffc00ull, 0xfffffffffffff800ull, 0x8000000000000001ull,
};
#define N(a) (sizeof (a) / sizeof (a)[0])

/* operand pairs for the edges random values rarely meet: invalid operations, exact
 * cancellation, results rounding up to the smallest normal (tiny before rounding but
 * not after), overflow, NaN pairs with different payloads */
static const uint32_t s_pairs[][2] = {
    {0x7f800000, 0x7f800000}, {0x7f800000, 0xff800000}, {0x00000000, 0x7f800000},
    {0x80000000, 0x00000000}, {0x00000000, 0x00000000}, {0x3f800001, 0xbf800001},
    {0x20000001, 0x1ffffffe}, {0x1ffffffe, 0x20000001}, {0x00800000, 0x3f7fffff},
    {0x7f7fffff, 0x40000000}, {0x3f800000, 0x40400000}, {0x7fc00001, 0x7f800002},
    {0x7f800003, 0x7fc00004}, {0x7fa00005, 0x7f800006}, {0x00ffffff, 0x3f000000},
    {0x00800001, 0x3f000000}, {0x007fffff, 0x3f800001}, {0x3f7fffff, 0x00800001},
};
static const uint64_t d_pairs[][2] = {
    {0x7ff0000000000000ull, 0x7ff0000000000000ull}, {0x7ff0000000000000ull, 0xfff0000000000000ull},
    {0x0000000000000000ull, 0xfff0000000000000ull}, {0x8000000000000000ull, 0x0000000000000000ull},
    {0x2000000000000001ull, 0x1ffffffffffffffeull}, {0x1ffffffffffffffeull, 0x2000000000000001ull},
    {0x0010000000000000ull, 0x3fefffffffffffffull}, {0x7fefffffffffffffull, 0x4000000000000000ull},
    {0x3ff0000000000000ull, 0x4008000000000000ull}, {0x7ff8000000000001ull, 0x7ff0000000000002ull},
    {0x7ff0000000000003ull, 0x7ff8000000000004ull}, {0x7ff4000000000005ull, 0x7ff0000000000006ull},
    {0x001fffffffffffffull, 0x3fe0000000000000ull}, {0x380ffffff8000000ull, 0x3ff0000000000000ull},
    {0x380ffffff0000000ull, 0x3ff0000000000000ull}, {0x3ff0000000000001ull, 0xbff0000000000001ull},
};

static uint32_t gen_s(void)
{
    uint32_t r = rnd(), sign = r & 0x80000000u, v;
    switch ((r >> 8) % 12) {
    case 0: case 1: v = s_special[rnd() % N(s_special)]; break;
    case 2: v = rnd() & 0x007fffff; break;                                     /* denormal */
    case 3: v = 0x7f800000 | (rnd() & 0x007fffff); break;                      /* NaN / inf */
    case 4: v = ((rnd() % 24) + 1) << 23 | (rnd() & 0x007fffff); break;        /* tiny */
    case 5: v = ((rnd() % 24) + 230) << 23 | (rnd() & 0x007fffff); break;      /* huge */
    case 6: v = rnd(); break;
    case 7: v = ((rnd() % 64) + 96) << 23 | (rnd() & 0x7) << 20; break;        /* short */
    default: v = ((rnd() % 48) + 104) << 23 | (rnd() & 0x007fffff); break;     /* ordinary */
    }
    return (v & 0x7fffffff) | sign;
}

static uint64_t gen_d(void)
{
    uint32_t r = rnd();
    uint64_t sign = (uint64_t)(r >> 31) << 63, v;
    const uint64_t fm = 0x000fffffffffffffull;
    switch ((r >> 8) % 12) {
    case 0: case 1: v = d_special[rnd() % N(d_special)]; break;
    case 2: v = rnd64() & fm; break;
    case 3: v = 0x7ff0000000000000ull | (rnd64() & fm); break;
    case 4: v = (uint64_t)((rnd() % 54) + 1) << 52 | (rnd64() & fm); break;
    case 5: v = (uint64_t)((rnd() % 54) + 1993) << 52 | (rnd64() & fm); break;
    case 6: v = rnd64(); break;
    case 7: v = (uint64_t)((rnd() % 128) + 960) << 52 | (uint64_t)(rnd() & 0xff) << 40; break;
    case 8: {                                         /* a single converted: exact narrowing */
        uint32_t s = gen_s();
        v = (uint64_t)((s >> 23 & 0xff) - 127 + 1023) << 52 | (uint64_t)(s & 0x7fffff) << 29;
        break;
    }
    default: v = (uint64_t)((rnd() % 160) + 943) << 52 | (rnd64() & fm); break;
    }
    return (v & 0x7fffffffffffffffull) | sign;
}

static uint64_t gen_i(void)
{
    uint32_t r = rnd();
    uint64_t v;
    switch ((r >> 4) % 4) {
    case 0: v = i_special[rnd() % N(i_special)]; break;
    case 1: v = rnd64() >> (rnd() % 64); break;
    case 2: v = rnd(); break;
    default: v = rnd64(); break;
    }
    return (r & 1) ? (uint64_t)0 - v : v;
}

/* a value close to x: same, negated, or a few ulps away */
static uint64_t near(uint64_t x, int dbl)
{
    uint32_t r = rnd();
    uint64_t sign = dbl ? 1ull << 63 : 1ull << 31;
    switch (r % 4) {
    case 0: return x;
    case 1: return x ^ sign;
    case 2: return x + (r >> 28) - 8;
    default: return (x ^ sign) + (r >> 29);
    }
}

static uint64_t regs[32];

static void fill(char type)
{
    uint32_t x = rnd();
    for (int i = 1; i < 32; i++)              /* registers no template reads: a cheap pattern */
        regs[i] = (uint64_t)(x ^ (uint32_t)i) << 32 | (x + (uint32_t)i);
    for (int i = 4; i < 26; i++) {
        if (i == 8) i = 16;                   /* operands: fr4..fr7 and fr16..fr25 */
        switch (type) {
        case 's': {
            uint32_t a = gen_s(), b = (rnd() & 3) ? gen_s() : (uint32_t)near(a, 0);
            regs[i] = (uint64_t)a << 32 | b;
            break;
        }
        case 'd': regs[i] = gen_d(); break;
        case 'w': regs[i] = gen_i() << 32 | (uint32_t)gen_i(); break;
        default: regs[i] = gen_i(); break;
        }
    }
    if (type == 'd' && (rnd() & 1)) {
        regs[5] = near(regs[4], 1);
        regs[7] = near(regs[6], 1);
    }
    if (type == 's' && (rnd() & 1))
        regs[5] = near(regs[4] >> 32, 0) << 32 | (uint32_t)regs[5];
    if ((rnd() & 3) == 0) {                          /* an edge pair in fr4/fr5 (and fr6/fr7) */
        uint32_t r = rnd();
        if (type == 'd') {
            const uint64_t *pr = d_pairs[r % N(d_pairs)];
            uint64_t sa = (uint64_t)(r >> 31) << 63, sb = (uint64_t)(r >> 30 & 1) << 63;
            regs[4 + (r >> 29 & 2)] = pr[0] ^ sa;
            regs[5 + (r >> 29 & 2)] = pr[1] ^ sb;
        } else if (type == 's') {
            const uint32_t *pr = s_pairs[r % N(s_pairs)];
            uint64_t a = pr[0] ^ (r & 0x80000000u), b = pr[1] ^ (r << 1 & 0x80000000u);
            if (r & 0x20000000u) { regs[4] = a << 32 | b; regs[5] = b << 32 | a; }
            else { regs[4] = a << 32 | (uint32_t)regs[4]; regs[5] = b << 32 | (uint32_t)regs[5]; }
            regs[16 + (r >> 8) % 16] = a << 32 | b;
        }
    }
}

int main(void)
{
    const char *name = fp_names;
    unsigned idx = 0, total = 0;
    while (*name) {
        char type = name[0];
        uint32_t h1 = 0x811c9dc5u, h2 = 0;
        for (unsigned rm = 0; rm < 4; rm++) {
            for (unsigned d = 0; d < 2; d++) {
                for (unsigned k = 0; k < RUNS; k++) {
                    fill(type);
                    uint32_t status = rm << 9 | d << 5 | (rnd() & (0x7ffu << 11 | 1u << 26));
                    if ((rnd() & 7) == 0) status |= rnd() & (0x1fu << 27);
                    regs[0] = (uint64_t)status << 32 | rnd();
                    uint32_t nul = fp_run(regs, idx);
                    h2 += nul;
                    for (int i = 0; i < 32; i++) {
                        uint32_t hi = (uint32_t)(regs[i] >> 32), lo = (uint32_t)regs[i];
                        h1 = ((h1 << 5 | h1 >> 27) ^ hi) + lo;
                        h2 = ((h2 << 7 | h2 >> 25) + hi) ^ lo;
                    }
#ifdef FP_VERBOSE
                    hv_printf("%s rm%u d%u %u:", name + 2, rm, d, nul);
                    for (int i = 0; i < 32; i++)
                        hv_printf(" %08x%08x", (uint32_t)(regs[i] >> 32), (uint32_t)regs[i]);
                    hv_putc('\n');
#endif
                    total++;
                }
            }
        }
        hv_printf("%-18s %08x %08x\n", name + 2, h1, h2);
        name += strlen(name) + 1;
        idx++;
    }
    hv_printf("%u templates, %u runs\n", idx, total);
    return 0;
}
