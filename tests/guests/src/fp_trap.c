/* fp_trap: FP exceptions with their traps enabled (assist exception trap, vector 14):
 * which operations trap, what the status word and the destination hold afterwards
 * (QEMU 7.2 records the flag and leaves the destination unwritten; fmpyadd has already
 * written its product when the add traps), and the encodings QEMU rejects as illegal
 * (vector 8).  A handler in fp_trap.ops.S logs the vector and IIR and resumes after the
 * trapping instruction. */
#include "hvlib.h"

uint32_t fp_trap_run(uint64_t *regs, unsigned idx);
void fp_set_iva(void *ivt);
extern const char fp_trap_names[];
extern char fp_ivt[];
extern volatile uint32_t fp_trap_log[4];

#define D(x) x##ull
#define V 0x10u
#define Z 0x08u
#define O 0x04u
#define U 0x02u
#define I 0x01u
#define FLAG(x) ((x) << 27)

/* status word and fr4..fr7 for each enabled-exception template (S = keep the sentinel) */
#define S D(0x5a000006a5000006)
static const struct { uint32_t status; uint64_t fr4, fr5, fr6, fr7; } cases[] = {
    { V, 0, 0, S, 0 },                                                    /* 0/0 */
    { Z, D(0x3ff0000000000000), 0, S, 0 },                                /* 1/0 */
    { Z, 0, 0, S, 0 },                                                    /* 0/0, only Z on */
    { O, D(0x7fefffffffffffff), D(0x4000000000000000), S, 0 },
    { U, D(0x0010000000000001), D(0x3fe0000000000001), S, 0 },
    { U, D(0x0010000000000000), D(0x3fe0000000000000), S, 0 },            /* exact: no U */
    { I, D(0x3ff0000000000000), D(0x4008000000000000), S, 0 },
    { I, D(0x3ff0000000000000), D(0x3ff0000000000000), S, 0 },
    { V, D(0x7ff8000000000000), 0, S, 0 },                                /* sNaN -> int */
    { V | 1u << 26, D(0x7ff0000000000001), D(0x3ff0000000000000), S, 0 },  /* qNaN, signalling */
    { V, D(0x7ff0000000000001), D(0x3ff0000000000000), S, 0 },            /* qNaN, quiet */
    { V | 1u << 26, D(0x7ff8000000000001), D(0x3ff0000000000000), S, 0 },  /* sNaN, quiet */
    { O, D(0x4000000000000000), D(0x4000000000000000), D(0x7fefffffffffffff),
      D(0x7fefffffffffffff) },                                            /* add overflows */
    { V, D(0x7ff0000000000000), 0, D(0x3ff0000000000000), D(0x3ff0000000000000) },
    { V, D(0xbf800000bf800000), 0, S, 0 },
    { O, D(0x47f0000000000000), 0, S, 0 },
    { V | FLAG(V), D(0x3ff0000000000000), D(0x3ff0000000000000), S, 0 },  /* sticky V, 1+1 */
    { V | FLAG(V | Z), D(0x3ff0000000000000), D(0xfff0000000000000), S, 0 },
    { Z | 2u << 9, D(0x3f8000003f800000), 0, S, 0 },
    { I | 3u << 9, D(0x3ff8000000000000), 0, S, 0 },
    { V | O, D(0x7fefffffffffffff), D(0x7fefffffffffffff), D(0x3ff0000000000000),
      D(0x7ff0000000000000) },                                            /* mpy overflows */
    { V, D(0xbff0000000000000), 0, S, 0 },                                /* -1 -> unsigned */
    { V, D(0x7ff0000000000000), 0, S, D(0x7ff8000000000000) },            /* inf*0 + sNaN */
    { Z, D(0x3ff0000000000000), 0, S, D(0x3ff0000000000000) },            /* resumes after */
};
#define NCASES (sizeof cases / sizeof cases[0])

static uint64_t regs[32];

int main(void)
{
    fp_set_iva(fp_ivt);
    const char *name = fp_trap_names;
    for (unsigned idx = 0; *name; idx++, name += strlen(name) + 1) {
        for (int i = 0; i < 32; i++)
            regs[i] = (uint64_t)(0x5a000000u + (uint32_t)i) << 32 | (0xa5000000u + (uint32_t)i);
        if (idx < NCASES) {
            regs[0] = (uint64_t)cases[idx].status << 32 | 0x12345678u;
            regs[4] = cases[idx].fr4;
            regs[5] = cases[idx].fr5;
            regs[6] = cases[idx].fr6;
            regs[7] = cases[idx].fr7;
        } else {
            regs[0] = 0;
        }
        fp_trap_log[0] = fp_trap_log[1] = fp_trap_log[2] = fp_trap_log[3] = 0;
        uint32_t nul = fp_trap_run(regs, idx);
        hv_printf("%-20s traps %u vec %2u iir %08x ior %d r28 %u  fr0 %08x%08x\n", name,
                  fp_trap_log[2], fp_trap_log[0], fp_trap_log[1], (int)fp_trap_log[3], nul,
                  (uint32_t)(regs[0] >> 32), (uint32_t)regs[0]);
        hv_printf("    fr4 %08x%08x fr5 %08x%08x fr6 %08x%08x fr7 %08x%08x fr8 %08x%08x\n",
                  (uint32_t)(regs[4] >> 32), (uint32_t)regs[4], (uint32_t)(regs[5] >> 32),
                  (uint32_t)regs[5], (uint32_t)(regs[6] >> 32), (uint32_t)regs[6],
                  (uint32_t)(regs[7] >> 32), (uint32_t)regs[7], (uint32_t)(regs[8] >> 32),
                  (uint32_t)regs[8]);
    }
    return 0;
}
