/* asm_arith: every condition of the PA-RISC 1.1 arithmetic, logical and unit
 * instructions (add/addl/addc/addi/shNadd/ds/sub/subb/comclr/comiclr/subi/or/
 * and/xor/andcm/uaddcm/uxor), with nullification, run by asm_arith.asm.S over
 * edge operands.  For each instruction family one line: the result, the PSW
 * carry after it, and per condition whether the next instruction was nullified
 * ('n') or executed ('-'), conditions in encoding order (never first). */
#include "hvlib.h"

extern const unsigned char arith_names[];
uint32_t asm_arith(uint32_t a, uint32_t b, uint32_t *out);

static uint32_t out[3 * 600];

static const uint32_t vecs[][2] = {
    {0, 0}, {1, 1}, {1, 2}, {2, 1}, {0x7fffffffu, 1}, {0x80000000u, 0xffffffffu},
    {0x80000000u, 1}, {0xffffffffu, 1}, {0xffffffffu, 0xffffffffu}, {0x12345678u, 0x87654321u},
    {0x00ff00ffu, 0xff00ff00u}, {0x01000100u, 0x00010001u}, {0x80000000u, 0x80000000u},
    {0x7fffffffu, 0x7fffffffu}, {5, 0xfffffffbu}, {0x0fffffffu, 0x10000000u}, {0xffff, 0x10000},
    {0x08080808u, 0x08888808u},
};

int main(void)
{
    for (unsigned v = 0; v < sizeof vecs / sizeof vecs[0]; v++) {
        uint32_t a = vecs[v][0], b = vecs[v][1];
        uint32_t words = asm_arith(a, b, out);
        hv_printf("== a=%08x b=%08x (%u records)\n", a, b, words / 3);
        const unsigned char *t = arith_names;
        const uint32_t *r = out;
        while (*t) {
            unsigned n = *t++;
            const char *title = (const char *)t;
            t += strlen(title) + 1;
            int same = 1;
            for (unsigned i = 1; i < n; i++)
                if (r[3 * i] != r[0] || r[3 * i + 2] != r[2]) same = 0;
            hv_printf("%-36s %08x c%u ", title, r[0], r[2]);
            for (unsigned i = 0; i < n; i++)
                hv_putc(r[3 * i + 1] ? 'n' : '-');
            hv_putc('\n');
            if (!same)
                for (unsigned i = 0; i < n; i++)
                    hv_printf("   cond %u: %08x c%u\n", i, r[3 * i], r[3 * i + 2]);
            r += 3 * n;
        }
        if ((uint32_t)(r - out) != words)
            hv_printf("record count mismatch: %u vs %u\n", (unsigned)(r - out), words);
    }
    return 0;
}
