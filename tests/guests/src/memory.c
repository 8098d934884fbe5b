/* memory: loads and stores of every size (byte, half, word, double word) at
 * every aligned offset, sign extension, big-endian byte order, indexed and
 * scaled-index addressing (ldwx,s), large displacements, packed structs
 * (misaligned fields become byte loads + deposits), and a word-at-a-time memcpy
 * with shift-pair merging for every source/destination alignment and length. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

static uint8_t buf[512] __attribute__((aligned(8)));
static uint8_t dst[512] __attribute__((aligned(8)));
static uint32_t big[6000];                 /* > 16 KiB: displacements beyond ldo's 14 bits */

static uint32_t hash = 0x2468ace0u;
static void mix(uint32_t v) { hash = (hash ^ v) * 0x01000193u + (hash >> 13); }

struct __attribute__((packed)) packed {
    uint8_t a;
    uint32_t b;
    uint16_t c;
    uint8_t d;
    uint64_t e;
    int16_t f;
};

struct natural {
    uint8_t a;
    uint32_t b;
    uint16_t c;
    uint8_t d;
    uint64_t e;
    int16_t f;
};

/* word-at-a-time copy: aligned destination words, source words merged with
 * shifts when the source is misaligned, byte head and tail */
static void __attribute__((noinline)) wcopy(uint8_t *d, const uint8_t *s, unsigned n)
{
    while (n && ((uint32_t)d & 3)) { *d++ = *s++; n--; }
    unsigned off = (uint32_t)s & 3;
    if (off == 0) {
        for (; n >= 4; n -= 4, d += 4, s += 4)
            *(uint32_t *)d = *(const uint32_t *)s;
    } else if (n >= 8) {
        const uint32_t *ws = (const uint32_t *)(s - off);
        uint32_t w0 = *ws++;
        unsigned ls = off * 8, rs = 32 - ls;
        for (; n >= 8; n -= 4, d += 4, s += 4) {
            uint32_t w1 = *ws++;
            *(uint32_t *)d = (w0 << ls) | (w1 >> rs);   /* big-endian merge */
            w0 = w1;
        }
    }
    while (n--) *d++ = *s++;
}

static void fill(uint8_t *p, unsigned n, uint32_t seed)
{
    for (unsigned i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

int main(void)
{
    fill(buf, sizeof buf, 1);
    /* loads of every size at every aligned offset in the first 32 bytes */
    for (unsigned o = 0; o < 32; o++) {
        const uint8_t *p = buf + OPQ(o);
        hv_printf("ld %2u: %02x %d", o, *p, (int)*(const int8_t *)p);
        if (!(o & 1))
            hv_printf(" %04x %d", *(const uint16_t *)p, (int)*(const int16_t *)p);
        if (!(o & 3))
            hv_printf(" %08x", *(const uint32_t *)p);
        if (!(o & 7))
            hv_printf(" %016llx", *(const unsigned long long *)p);
        hv_printf("\n");
    }
    /* stores of every size; the byte view shows big-endian order */
    memset(dst, 0xee, 64);
    for (unsigned o = 0; o < 16; o++) dst[OPQ(o)] = (uint8_t)(0x10 + o);
    for (unsigned o = 16; o < 32; o += 2) *(uint16_t *)(dst + OPQ(o)) = (uint16_t)(0xa000 + o);
    for (unsigned o = 32; o < 48; o += 4) *(uint32_t *)(dst + OPQ(o)) = 0xc0de0000u + o;
    *(unsigned long long *)(dst + OPQ(48)) = 0x0102030405060708ULL;
    *(int16_t *)(dst + OPQ(56)) = -2;
    *(int8_t *)(dst + OPQ(59)) = -128;
    for (unsigned o = 0; o < 64; o++)
        hv_printf("%02x%s", dst[o], (o & 15) == 15 ? "\n" : " ");
    union { uint32_t w; uint8_t b[4]; uint16_t h[2]; } u = { .w = OPQ(0x11223344u) };
    hv_printf("endian: %02x %02x %02x %02x %04x %04x\n", u.b[0], u.b[1], u.b[2], u.b[3], u.h[0],
              u.h[1]);

    /* indexed/scaled addressing and large displacements */
    for (unsigned i = 0; i < 6000; i++) big[i] = i * 0x9e3779b9u;
    uint32_t s = 0;
    for (unsigned i = OPQ(0u); i < 6000; i += 7) s = s * 3 + big[i];
    hv_printf("big: %08x %08x %08x %08x\n", s, big[OPQ(4095)], big[OPQ(4096)], big[5999]);
    int32_t idx = OPQ(-3);
    uint32_t *mid = &big[3000];
    hv_printf("neg idx: %08x %08x\n", mid[idx], mid[-OPQ(1000)]);

    /* packed and natural structs */
    static struct packed pk;
    static struct natural nt;
    pk.a = OPQ(0x5a); pk.b = OPQ(0xcafebabeu); pk.c = OPQ(0xbeef); pk.d = OPQ(0x77);
    pk.e = OPQ(0x1122334455667788ULL); pk.f = OPQ(-12345);
    nt.a = pk.a; nt.b = pk.b; nt.c = pk.c; nt.d = pk.d; nt.e = pk.e; nt.f = pk.f;
    hv_printf("sizes %u %u offs %u %u %u %u\n", (unsigned)sizeof pk, (unsigned)sizeof nt,
              (unsigned)__builtin_offsetof(struct packed, e),
              (unsigned)__builtin_offsetof(struct natural, e),
              (unsigned)__builtin_offsetof(struct packed, f),
              (unsigned)__builtin_offsetof(struct natural, f));
    const uint8_t *pb = (const uint8_t *)&pk;
    for (unsigned i = 0; i < sizeof pk; i++) hv_printf("%02x", pb[i]);
    hv_printf("\npacked read back: %x %x %x %x %llx %d\n", pk.a, pk.b, pk.c, pk.d, pk.e, pk.f);
    pk.b += OPQ(1u); pk.e ^= OPQ(0xffffULL << 20); pk.f -= OPQ(1);
    hv_printf("packed rmw: %x %llx %d\n", pk.b, pk.e, pk.f);

    /* memcpy at every alignment pair and many lengths, checked byte-exactly */
    unsigned bad = 0;
    for (unsigned so = 0; so < 8; so++) {
        hash = so;
        for (unsigned dof = 0; dof < 8; dof++) {
            for (unsigned n = 0; n < 48; n++) {
                memset(dst, 0xa5, 80);
                wcopy(dst + dof, buf + 100 + so, n);
                for (unsigned k = 0; k < 80; k++) {
                    uint8_t want = (k >= dof && k < dof + n) ? buf[100 + so + k - dof] : 0xa5;
                    if (dst[k] != want) bad++;
                }
                mix(dst[dof] | (uint32_t)dst[dof + n] << 8 | n << 16);
            }
        }
        hv_printf("copy src+%u: %08x\n", so, hash);
    }
    hv_printf("copy errors: %u\n", bad);

    /* stack arrays and a byte-reversal through halfwords */
    uint16_t hw[33];
    for (int i = 0; i < 33; i++) hw[i] = (uint16_t)(buf[2 * i] << 8 | buf[2 * i + 1]);
    uint32_t acc = 0;
    for (int i = 32; i >= 0; i -= OPQ(1)) acc = (acc << 3 | acc >> 29) ^ hw[i];
    hv_printf("halfwords: %08x\n", acc);
    return 0;
}
