/* millicode: libgcc's integer millicode called directly -- $$mulI, $$divI,
 * $$divU, $$remI, $$remU and the constant-divisor entries $$divI_N/$$divU_N --
 * over edge values (INT_MIN, -1, powers of two, ...) and a seeded sweep.  These
 * routines are long ds/addc/shNadd/extru/comb sequences, so any carry, V-bit or
 * nullification mistake changes a quotient.  Division by zero and INT_MIN/-1
 * (which trap in millicode) are not exercised. */
#include "hvlib.h"

typedef uint32_t (*milli_fn)(uint32_t, uint32_t);
uint32_t m_mulI(uint32_t, uint32_t), m_divI(uint32_t, uint32_t), m_divU(uint32_t, uint32_t);
uint32_t m_remI(uint32_t, uint32_t), m_remU(uint32_t, uint32_t);
#define D(n) uint32_t m_divI_##n(uint32_t), m_divU_##n(uint32_t);
D(3) D(5) D(6) D(7) D(9) D(10) D(12) D(14) D(15) D(17)
#undef D
uint32_t m_divI_2(uint32_t), m_divI_4(uint32_t), m_divI_8(uint32_t), m_divI_16(uint32_t);

struct cdiv { unsigned n; uint32_t (*si)(uint32_t); uint32_t (*ui)(uint32_t); };
static const struct cdiv cdivs[] = {
    {2, m_divI_2, 0}, {3, m_divI_3, m_divU_3}, {4, m_divI_4, 0}, {5, m_divI_5, m_divU_5},
    {6, m_divI_6, m_divU_6}, {7, m_divI_7, m_divU_7}, {8, m_divI_8, 0},
    {9, m_divI_9, m_divU_9}, {10, m_divI_10, m_divU_10}, {12, m_divI_12, m_divU_12},
    {14, m_divI_14, m_divU_14}, {15, m_divI_15, m_divU_15}, {16, m_divI_16, 0},
    {17, m_divI_17, m_divU_17},
};

static const uint32_t vals[] = {
    0, 1, 2, 3, 7, 10, 100, 0x7fffffffu, 0x80000000u, 0x80000001u, 0xffffffffu, 0xfffffffeu,
    0xfffffff9u, 0x10000u, 0xffffu, 0x12345678u, 0xdeadbeefu, 0x40000000u, 0x55555555u,
};
#define NV (sizeof vals / sizeof vals[0])

static uint32_t hash = 7;
static void mix(uint32_t v) { hash = (hash ^ v) * 0x01000193u + (hash >> 11); }

static uint32_t lcg = 12345;
static uint32_t rnd(void)
{
    lcg = m_mulI(lcg, 1103515245u) + 12345u;   /* the multiply itself is millicode */
    return lcg ^ (lcg >> 15);
}

static int skip_signed(uint32_t a, uint32_t b) { return b == 0 || (a == 0x80000000u && b == 0xffffffffu); }

int main(void)
{
    hv_printf("millicode: a b | mulI divU remU divI remI\n");
    for (unsigned i = 0; i < NV; i++) {
        for (unsigned j = 0; j < NV; j++) {
            uint32_t a = vals[i], b = vals[j];
            hv_printf("%08x %08x | %08x", a, b, m_mulI(a, b));
            if (b)
                hv_printf(" %08x %08x", m_divU(a, b), m_remU(a, b));
            if (!skip_signed(a, b))
                hv_printf(" %08x %08x", m_divI(a, b), m_remI(a, b));
            hv_printf("\n");
        }
    }
    hv_printf("constant divisors\n");
    for (unsigned k = 0; k < sizeof cdivs / sizeof cdivs[0]; k++) {
        hash = cdivs[k].n;
        for (unsigned i = 0; i < NV; i++) {
            mix(cdivs[k].si(vals[i]));
            if (cdivs[k].ui)
                mix(cdivs[k].ui(vals[i]));
        }
        hv_printf("/%u: %08x %08x %08x", cdivs[k].n, cdivs[k].si(0x80000000u),
                  cdivs[k].si(0xfffffff7u), cdivs[k].si(0x7fffffffu));
        if (cdivs[k].ui)
            hv_printf(" %08x %08x", cdivs[k].ui(0xffffffffu), cdivs[k].ui(0x80000000u));
        /* cross-check against the general routines on a seeded sweep */
        unsigned bad = 0;
        for (int t = 0; t < 300; t++) {
            uint32_t a = rnd();
            if (cdivs[k].si(a) != m_divI(a, cdivs[k].n)) bad++;
            if (cdivs[k].ui && cdivs[k].ui(a) != m_divU(a, cdivs[k].n)) bad++;
            mix(cdivs[k].si(a));
        }
        hv_printf(" | hash %08x bad %u\n", hash, bad);
    }
    hv_printf("sweep\n");
    for (int blk = 0; blk < 6; blk++) {
        hash = (uint32_t)blk;
        for (int t = 0; t < 300; t++) {
            uint32_t a = rnd(), b = rnd() >> (rnd() & 31);
            mix(m_mulI(a, b));
            if (b) {
                uint32_t q = m_divU(a, b), r = m_remU(a, b);
                mix(q); mix(r);
                if (m_mulI(q, b) + r != a || r >= b) hv_printf("divU identity broken %08x %08x\n", a, b);
            }
            if (!skip_signed(a, b)) {
                uint32_t q = m_divI(a, b), r = m_remI(a, b);
                mix(q); mix(r);
                if (m_mulI(q, b) + r != a) hv_printf("divI identity broken %08x %08x\n", a, b);
            }
        }
        hv_printf("block %d: %08x\n", blk, hash);
    }
    return 0;
}
