/* int64: `long long` arithmetic -- add/sub with carry and borrow (add/addc,
 * sub/subb), multiply, libgcc's __divdi3/__udivdi3/__moddi3/__umoddi3, variable
 * and constant shifts, 64-bit compares -- over edge values and a seeded sweep. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

typedef unsigned long long u64;
typedef long long s64;

static const u64 vals[] = {
    0, 1, 7, 10, 0xffffffffULL, 0x100000000ULL, 0x100000001ULL, 0x7fffffffffffffffULL,
    0x8000000000000000ULL, 0xffffffffffffffffULL, 0xfffffffffffffffeULL, 0x123456789abcdef0ULL,
    0xfedcba9876543210ULL, 0x80000000ULL, 1000000007ULL,
};
#define NV (sizeof vals / sizeof vals[0])

static uint32_t hash = 0x12345u;
static void mix32(uint32_t v) { hash = (hash ^ v) * 0x01000193u + (hash >> 9); }
static void mix(u64 v) { mix32((uint32_t)v); mix32((uint32_t)(v >> 32)); }

static u64 rng = 0x9e3779b97f4a7c15ULL;
static u64 next(void)
{
    /* xorshift64: shifts and xors only */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint32_t __attribute__((noinline)) cmp64(u64 a, u64 b)
{
    s64 sa = (s64)a, sb = (s64)b;
    return (uint32_t)(sa < sb) | (uint32_t)(sa <= sb) << 1 | (uint32_t)(sa > sb) << 2 |
           (uint32_t)(a == b) << 3 | (uint32_t)(a < b) << 4 | (uint32_t)(a >= b) << 5;
}

int main(void)
{
    hv_printf("int64 edges: a b | a+b a-b a*b\n");
    for (unsigned i = 0; i < NV; i++) {
        for (unsigned j = 0; j < NV; j++) {
            u64 a = OPQ(vals[i]), b = OPQ(vals[j]);
            hv_printf("%016llx %016llx | %016llx %016llx %016llx %02x\n", a, b, a + b, a - b,
                      a * b, cmp64(a, b));
        }
    }
    hv_printf("division (unsigned q r, signed q r)\n");
    for (unsigned i = 0; i < NV; i++) {
        for (unsigned j = 0; j < NV; j++) {
            u64 a = OPQ(vals[i]), b = OPQ(vals[j]);
            if (b == 0)
                continue;
            s64 sa = (s64)a, sb = (s64)b;
            s64 sq = 0, sr = 0;
            if (!(sa == (s64)0x8000000000000000ULL && sb == -1)) {  /* UB in C: skip */
                sq = sa / sb;
                sr = sa % sb;
            }
            hv_printf("%llx/%llx: %llx %llx %lld %lld\n", a, b, a / b, a % b, sq, sr);
        }
    }
    hv_printf("shifts\n");
    for (unsigned i = 0; i < NV; i++) {
        u64 a = OPQ(vals[i]);
        for (unsigned n = 0; n < 64; n++) {
            unsigned k = OPQ(n);
            u64 l = a << k, r = a >> k, s = (u64)((s64)a >> k);
            mix(l); mix(r); mix(s);
            if (n == 0 || n == 1 || n == 31 || n == 32 || n == 33 || n == 63)
                hv_printf("%016llx %2u: %016llx %016llx %016llx\n", a, n, l, r, s);
        }
        mix(a << 5); mix(a >> 40); mix((u64)((s64)a >> 33)); mix(a << 32); mix(a >> 32);
    }
    hv_printf("shift hash %08x\n", hash);

    /* seeded sweep: results are folded into a hash and printed per block */
    for (int blk = 0; blk < 8; blk++) {
        hash = (uint32_t)blk;
        for (int k = 0; k < 400; k++) {
            u64 a = next(), b = next();
            unsigned sh = (unsigned)(next() & 63);
            b >>= sh;                       /* spread divisor magnitudes */
            if (b == 0) b = 1;
            s64 sa = (s64)a, sb = (s64)b;
            if (k & 1) sb = -sb;
            mix(a + b); mix(a - b); mix(a * b); mix(a / b); mix(a % b);
            mix((u64)(sa / sb)); mix((u64)(sa % sb)); mix(cmp64(a, b));
            mix((uint32_t)a * (u64)(uint32_t)b);          /* 32x32->64 widening */
            mix((u64)((s64)(int32_t)a * (s64)(int32_t)b));
        }
        hv_printf("sweep %d: %08x\n", blk, hash);
    }
    return 0;
}
