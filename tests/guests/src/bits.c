/* bits: bit manipulation -- field extract/deposit through shifts and masks
 * (gcc emits extru/extrs/zdep/dep/shd), signed and unsigned bitfields,
 * __builtin_clz/ctz/popcount/parity/ffs/bswap and their 64-bit forms (libgcc's
 * __clzsi2, __ctzdi2, __popcountsi2, ...), bit reversal and rotations. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

struct flags {
    unsigned a : 1;
    unsigned b : 3;
    signed c : 5;
    unsigned d : 7;
    signed e : 12;
    unsigned f : 4;
};

struct wide {
    unsigned long long lo : 20;
    unsigned long long mid : 30;
    signed long long hi : 14;
};

static const uint32_t vals[] = {
    0, 1, 0x80000000u, 0xffffffffu, 0x7fffffffu, 0x00010000u, 0x12345678u, 0xdeadbeefu,
    0x0000fff0u, 0x55555555u, 0xaaaaaaaau, 0x00000100u, 0xf0000000u, 0x0f0f0f0fu,
};
#define NV (sizeof vals / sizeof vals[0])

static uint32_t __attribute__((noinline)) rev32(uint32_t x)
{
    x = (x & 0x55555555u) << 1 | (x >> 1 & 0x55555555u);
    x = (x & 0x33333333u) << 2 | (x >> 2 & 0x33333333u);
    x = (x & 0x0f0f0f0fu) << 4 | (x >> 4 & 0x0f0f0f0fu);
    return x << 24 | (x & 0xff00u) << 8 | (x >> 8 & 0xff00u) | x >> 24;
}

static uint32_t __attribute__((noinline)) extract(uint32_t x, unsigned pos, unsigned len)
{
    return (x >> pos) & (len >= 32 ? 0xffffffffu : (1u << len) - 1);
}

static int32_t __attribute__((noinline)) extract_s(uint32_t x, unsigned pos, unsigned len)
{
    uint32_t f = extract(x, pos, len);
    uint32_t sign = 1u << (len - 1);
    return (int32_t)((f ^ sign) - sign);
}

static uint32_t __attribute__((noinline)) deposit(uint32_t x, uint32_t v, unsigned pos, unsigned len)
{
    uint32_t m = (len >= 32 ? 0xffffffffu : (1u << len) - 1) << pos;
    return (x & ~m) | ((v << pos) & m);
}

static uint32_t hash = 99;
static void mix(uint32_t v) { hash = (hash ^ v) * 0x01000193u + (hash >> 5); }

int main(void)
{
    hv_printf("x: clz ctz pop par ffs bswap rev rotl7 rotr3\n");
    for (unsigned i = 0; i < NV; i++) {
        uint32_t x = OPQ(vals[i]);
        hv_printf("%08x: %2d %2d %2d %d %2d %08x %08x %08x %08x\n", x,
                  x ? __builtin_clz(x) : 32, x ? __builtin_ctz(x) : 32, __builtin_popcount(x),
                  __builtin_parity(x), __builtin_ffs((int)x), __builtin_bswap32(x), rev32(x),
                  x << 7 | x >> 25, x >> 3 | x << 29);
    }
    hv_printf("64-bit: clzll ctzll popll bswap64\n");
    for (unsigned i = 0; i < NV; i++) {
        unsigned long long y = (unsigned long long)OPQ(vals[i]) << (i * 5 % 33) | vals[NV - 1 - i];
        hv_printf("%016llx: %2d %2d %2d %016llx\n", y, y ? __builtin_clzll(y) : 64,
                  y ? __builtin_ctzll(y) : 64, __builtin_popcountll(y), __builtin_bswap64(y));
    }
    /* every field position and length, constant-folded away by OPQ */
    for (unsigned i = 0; i < NV; i++) {
        hash = i;
        uint32_t x = vals[i];
        for (unsigned pos = 0; pos < 32; pos++) {
            for (unsigned len = 1; len <= 32 - pos; len++) {
                unsigned p = OPQ(pos), l = OPQ(len);
                mix(extract(x, p, l));
                mix((uint32_t)extract_s(x, p, l));
                mix(deposit(x, 0x5a5a5a5au, p, l));
            }
        }
        hv_printf("fields %08x: %08x\n", x, hash);
    }
    /* constant fields (gcc picks extru/extrs/dep/depi/zdep directly) */
    for (unsigned i = 0; i < NV; i++) {
        uint32_t x = OPQ(vals[i]);
        hv_printf("const %08x: %03x %d %08x %08x %08x %08x\n", x, (x >> 4) & 0x3ff,
                  (int32_t)(x << 3) >> 22, (x & ~0xff000u) | ((x & 0xffu) << 12),
                  (x & 0xfffff000u) | 0x5a5u, (x & 0x7fu) << 25, (x << 8) | (OPQ(vals[(i + 1) % NV]) >> 24));
    }
    static struct flags fl;
    static struct wide wd;
    for (unsigned i = 0; i < NV; i++) {
        uint32_t x = OPQ(vals[i]);
        fl.a = x; fl.b = x >> 1; fl.c = (int)(x >> 4); fl.d = x >> 9; fl.e = (int)(x >> 16);
        fl.f = x >> 28;
        wd.lo = x; wd.mid = (unsigned long long)x * 3; wd.hi = (long long)(int32_t)x;
        uint32_t raw;
        memcpy(&raw, &fl, 4);
        unsigned long long wraw;
        memcpy(&wraw, &wd, 8);
        hv_printf("bitfields %08x: raw %08x a%u b%u c%d d%u e%d f%u | %016llx %llx %llx %lld\n", x,
                  raw, fl.a, fl.b, fl.c, fl.d, fl.e, fl.f, wraw, (unsigned long long)wd.lo,
                  (unsigned long long)wd.mid, (long long)wd.hi);
        fl.e += 2047; fl.c -= 1; wd.hi -= 1;
        hv_printf("  rmw: e%d c%d hi%lld\n", fl.e, fl.c, (long long)wd.hi);
    }
    /* gray code, next permutation of bits, isolate lowest set bit */
    uint32_t g = 0, perm = 0x7;
    for (int k = 0; k < 200; k++) {
        g ^= (uint32_t)k ^ ((uint32_t)k >> 1);
        uint32_t t = perm | (perm - 1);
        perm = (t + 1) | (((~t & (0u - ~t)) - 1) >> (__builtin_ctz(perm) + 1));
        mix(g); mix(perm);
    }
    hv_printf("gray/perm: %08x %08x %08x\n", g, perm, hash);
    return 0;
}
