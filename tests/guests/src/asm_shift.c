/* asm_shift: shift/extract/deposit instructions (extru/extrs/zdep/dep/depi/
 * zdepi/shd and the SAR forms vshd/vextru/vextrs/zvdep/vdep/vdepi/zvdepi) with
 * every condition and nullification, run by asm_shift.asm.S over edge operands
 * and SAR values.  One line per instruction: the result and, per condition in
 * encoding order (never = < od tr <> >= ev), 'n' if the next instruction was
 * nullified, '-' if it ran.  SAR-dependent families are printed for every SAR
 * for which they are defined; fixed ones once per operand pair. */
#include "hvlib.h"

extern const unsigned char shift_names[];
void asm_shift(uint32_t a, uint32_t b, uint32_t *out, uint32_t sar);

static uint32_t out[2 * 600 + 1];

static const uint32_t vecs[][2] = {
    {0, 0}, {0x80000000u, 1}, {0xffffffffu, 0}, {0x12345678u, 0x9abcdef0u},
    {0x7fffffffu, 0xffffffffu}, {1, 0x80000000u}, {0x0000ff00u, 0x00ff0000u},
    {0xdeadbeefu, 0xcafebabeu},
};
static const uint32_t sars[] = { 0, 1, 7, 16, 31 };

int main(void)
{
    for (unsigned v = 0; v < sizeof vecs / sizeof vecs[0]; v++) {
        for (unsigned si = 0; si < sizeof sars / sizeof sars[0]; si++) {
            uint32_t a = vecs[v][0], b = vecs[v][1], sar = sars[si];
            asm_shift(a, b, out, sar);
            hv_printf("== a=%08x b=%08x sar=%u\n", a, b, sar);
            const unsigned char *t = shift_names;
            const uint32_t *r = out;
            while (*t) {
                unsigned n = t[0], flags = t[1];
                const char *title = (const char *)t + 2;
                t += 2 + strlen(title) + 1;
                int uses_sar = flags & 0x80, defined = sar >= (flags & 0x7f);
                if (uses_sar ? defined : si == 0) {
                    int same = 1;
                    for (unsigned i = 1; i < n; i++)
                        if (r[2 * i] != r[0]) same = 0;
                    hv_printf("%-28s %08x ", title, r[0]);
                    for (unsigned i = 0; i < n; i++)
                        hv_putc(r[2 * i + 1] ? 'n' : '-');
                    hv_putc('\n');
                    if (!same)
                        for (unsigned i = 0; i < n; i++)
                            hv_printf("   cond %u: %08x\n", i, r[2 * i]);
                }
                r += 2 * n;
            }
            hv_printf("sar read back: %u\n", *r);
        }
    }
    return 0;
}
