/* asm_branch: every condition of comb/comib/addb/addib/movb/movib/bb/bvb,
 * forward and backward, with and without ,n (asm_branch.asm.S), then blr, bv
 * with index, ble/be through a space register, bl links, branches in delay
 * slots, nullified branches and addib loops (asm_branch_misc).
 * Per family one line: %r28 afterwards, then per condition four letters for
 * forward, forward ,n, backward, backward ,n: T = taken with the delay slot
 * run, t = taken with it nullified, F/f = fell through, delay slot run/not. */
#include "hvlib.h"

extern const unsigned char branch_names[];
void asm_branch(uint32_t a, uint32_t b, uint32_t *out, uint32_t sar);
void asm_branch_misc(uint32_t *out, uint32_t k);

static uint32_t out[3 * 4 * 130];

static const uint32_t vecs[][2] = {
    {0, 0}, {1, 0xffffffffu}, {0x7fffffffu, 1}, {0x80000000u, 0x80000000u}, {5, 5},
    {0xfffffff0u, 0x10}, {0x12345678u, 0x80000001u}, {0xffffffffu, 0xffffffffu},
    {4, 0xfffffff1u}, {0x80000001u, 0x7fffffffu},
};

int main(void)
{
    for (unsigned v = 0; v < sizeof vecs / sizeof vecs[0]; v++) {
        uint32_t a = vecs[v][0], b = vecs[v][1], sar = (v * 7 + 3) & 31;
        asm_branch(a, b, out, sar);
        hv_printf("== a=%08x b=%08x sar=%u\n", a, b, sar);
        const unsigned char *t = branch_names;
        const uint32_t *r = out;
        while (*t) {
            unsigned n = *t++;
            const char *title = (const char *)t;
            t += strlen(title) + 1;
            int same = 1;
            for (unsigned i = 1; i < 4 * n; i++)
                if (r[3 * i] != r[0]) same = 0;
            hv_printf("%-16s %08x", title, r[0]);
            for (unsigned i = 0; i < 4 * n; i++) {
                uint32_t taken = r[3 * i + 1], delay = r[3 * i + 2];
                if (i % 4 == 0) hv_putc(' ');
                hv_putc(taken == 1 ? (delay ? 'T' : 't') : taken == 2 ? (delay ? 'F' : 'f') : '?');
            }
            hv_putc('\n');
            if (!same)
                for (unsigned i = 0; i < 4 * n; i++)
                    hv_printf("   case %u: %08x\n", i, r[3 * i]);
            r += 3 * 4 * n;
        }
    }
    for (uint32_t k = 0; k < 5; k++) {
        uint32_t m[32];
        memset(m, 0, sizeof m);
        asm_branch_misc(m, k);
        hv_printf("misc k=%u: blr %u %u +%x | blr,n %u %u | bv %u %u | ble +%x sr0=%u %u | be,n %u\n"
                  "  delay-slot branch %x, not taken %x, nullified %x | bl %x +%x | addib %u %d, ,n %u %d\n",
                  k, m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12],
                  m[13], m[14], m[15], (int32_t)m[16], m[17], (int32_t)m[18], m[19], (int32_t)m[20]);
    }
    return 0;
}
