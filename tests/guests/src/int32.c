/* int32: 32-bit integer arithmetic, logic, shifts and every compare/branch
 * condition (signed and unsigned, with immediates), over edge values
 * (0, +-1, INT_MIN, INT_MAX, ...).  Inputs pass through an empty asm so gcc
 * cannot fold them; comparisons are done both as values (comclr/comiclr) and as
 * branches (comb/comib/addib) so both code shapes are covered. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

static const uint32_t vals[] = {
    0, 1, 2, 0xffffffffu, 0xfffffffeu, 0x7fffffffu, 0x80000000u, 0x80000001u,
    0x12345678u, 0xdeadbeefu, 0x0000ffffu, 0xffff8000u, 15, 16, 0xfffffff0u,
};
#define NV (sizeof vals / sizeof vals[0])

/* value-form comparisons: one bit each */
static uint32_t __attribute__((noinline)) cmp_bits(uint32_t a, uint32_t b)
{
    int32_t sa = (int32_t)a, sb = (int32_t)b;
    return (uint32_t)(sa < sb) | (uint32_t)(sa <= sb) << 1 | (uint32_t)(sa > sb) << 2 |
           (uint32_t)(sa >= sb) << 3 | (uint32_t)(a == b) << 4 | (uint32_t)(a != b) << 5 |
           (uint32_t)(a < b) << 6 | (uint32_t)(a <= b) << 7 | (uint32_t)(a > b) << 8 |
           (uint32_t)(a >= b) << 9;
}

static volatile int sink;
static void __attribute__((noinline)) mark(int v) { sink = v; }

/* branch-form comparisons: each `if` is a conditional branch around a call */
static uint32_t __attribute__((noinline)) cmp_branches(uint32_t a, uint32_t b)
{
    int32_t sa = (int32_t)a, sb = (int32_t)b;
    uint32_t m = 0;
    if (sa < sb) { mark(1); m |= 1; }
    if (sa <= sb) { mark(2); m |= 2; }
    if (sa > sb) { mark(3); m |= 4; }
    if (sa >= sb) { mark(4); m |= 8; }
    if (a == b) { mark(5); m |= 16; }
    if (a != b) { mark(6); m |= 32; }
    if (a < b) { mark(7); m |= 64; }
    if (a <= b) { mark(8); m |= 128; }
    if (a > b) { mark(9); m |= 256; }
    if (a >= b) { mark(10); m |= 512; }
    return m;
}

/* comparisons with small immediates (comib / comiclr) */
static uint32_t __attribute__((noinline)) cmp_imm(uint32_t a)
{
    int32_t s = (int32_t)a;
    uint32_t m = 0;
    if (s < 5) { mark(11); m |= 1; }
    if (s == -16) { mark(12); m |= 2; }
    if (s > 15) { mark(13); m |= 4; }
    if (a < 7u) { mark(14); m |= 8; }
    if (a > 0xfffffff0u) { mark(15); m |= 16; }
    if (s >= -1) { mark(16); m |= 32; }
    if (a != 0) { mark(17); m |= 64; }
    m |= (uint32_t)(s < -3) << 7 | (uint32_t)(a >= 9u) << 8 | (uint32_t)(s == 1) << 9 |
         (uint32_t)(a <= 1000u) << 10 | (uint32_t)(s > 1023) << 11;
    return m;
}

static uint32_t __attribute__((noinline)) overflow_bits(uint32_t a, uint32_t b)
{
    int32_t r;
    uint32_t u;
    uint32_t m = 0;
    m |= (uint32_t)__builtin_add_overflow((int32_t)a, (int32_t)b, &r);
    m |= (uint32_t)__builtin_sub_overflow((int32_t)a, (int32_t)b, &r) << 1;
    m |= (uint32_t)__builtin_add_overflow(a, b, &u) << 2;
    m |= (uint32_t)__builtin_sub_overflow(a, b, &u) << 3;
    m |= (uint32_t)((int32_t)a == (int32_t)0x80000000 && (int32_t)b == -1) << 4;
    return m;
}

static uint32_t hash;
static void mix(uint32_t v) { hash = (hash ^ v) * 0x01000193u + (hash >> 7); }

int main(void)
{
    hv_printf("int32: add sub and or xor andcm | cmp-val cmp-br ovf\n");
    for (unsigned i = 0; i < NV; i++) {
        for (unsigned j = 0; j < NV; j++) {
            uint32_t a = OPQ(vals[i]), b = OPQ(vals[j]);
            uint32_t cv = cmp_bits(a, b), cb = cmp_branches(a, b);
            hv_printf("%08x %08x: %08x %08x %08x %08x %08x %08x | %03x %03x %x%s\n", a, b,
                      a + b, a - b, a & b, a | b, a ^ b, a & ~b, cv, cb, overflow_bits(a, b),
                      cv == cb ? "" : " MISMATCH");
        }
    }
    hv_printf("unary: neg not imm-cmp abs\n");
    for (unsigned i = 0; i < NV; i++) {
        uint32_t a = OPQ(vals[i]);
        int32_t s = (int32_t)a;
        hv_printf("%08x: %08x %08x %03x %08x\n", a, 0u - a, ~a, cmp_imm(a),
                  s < 0 ? 0u - a : a);
    }
    /* variable shifts: gcc emits mtsar + zvdep / vextru / vextrs */
    hash = 0x811c9dc5u;
    for (unsigned i = 0; i < NV; i++) {
        uint32_t a = OPQ(vals[i]);
        for (unsigned n = 0; n < 32; n++) {
            unsigned k = OPQ(n);
            uint32_t l = a << k, r = a >> k, s = (uint32_t)((int32_t)a >> k);
            uint32_t rot = (a << k) | (a >> ((32 - k) & 31));
            mix(l); mix(r); mix(s); mix(rot);
            if (n % 8 == 7)
                hv_printf("shift %08x by %2u: %08x %08x %08x %08x\n", a, n, l, r, s, rot);
        }
    }
    hv_printf("shift hash %08x\n", hash);
    /* constant shifts and immediates (zdep/extru/extrs/addi/ldo/ldil) */
    hash = 1;
    for (unsigned i = 0; i < NV; i++) {
        uint32_t a = OPQ(vals[i]);
        mix(a << 1); mix(a << 13); mix(a << 31); mix(a >> 1); mix(a >> 17); mix(a >> 31);
        mix((uint32_t)((int32_t)a >> 3)); mix((uint32_t)((int32_t)a >> 31));
        mix(a + 1023); mix(a - 1024); mix(a + 0x12345); mix(a ^ 0xabcdef01u);
        mix(a & 0xff00ff00u); mix(a | 0x80000001u); mix(a * 3); mix(a * 5); mix(a * 9);
    }
    hv_printf("imm hash %08x\n", hash);
    /* a loop whose counter is an addib target */
    uint32_t acc = 0;
    for (int32_t c = OPQ(-20); c < 20; c += 3)
        acc = acc * 31 + (uint32_t)c;
    hv_printf("loop acc %08x\n", acc);
    return 0;
}
