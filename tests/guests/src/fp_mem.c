/* fp_mem: every FP load/store addressing form (fp_mem.ops.S): short displacement with
 * ,ma / ,mb, indexed with and without scaling and base modification, the PA 2.0
 * long-displacement forms QEMU 7.2 accepts, both single halves, and how loads into fr0
 * set the FP status (fldw fr0L / fldd fr0 do, fldw fr0R does not). */
#include "hvlib.h"

void fp_mem_run(uint32_t *data, uint64_t *out);

static uint32_t data[512] __attribute__((aligned(8)));
static uint64_t out[64];

int main(void)
{
    for (unsigned i = 0; i < 512; i++)
        data[i] = 0x40000000u + i * 0x00010003u;
    /* data[64..] (byte 256): operands and status words for the fr0 steps */
    data[64] = 0x3ff00000; data[65] = 0;                  /* 1.0 */
    data[66] = 0x3c300000; data[67] = 0;                  /* 2^-60 */
    data[68] = 2u << 9;                                   /* status: round towards +inf */
    data[69] = 3u << 9;                                   /* (into fr0R only) */
    data[70] = 3u << 9; data[71] = 0xdeadbeef;            /* round towards -inf */
    data[72] = 0; data[73] = 0;
    for (unsigned i = 384; i < 512; i++)
        data[i] = 0;
    fp_mem_run(data, out);
    for (unsigned i = 0; i < 64; i++)
        hv_printf("out[%2u] %08x%08x\n", i, (uint32_t)(out[i] >> 32), (uint32_t)out[i]);
    for (unsigned i = 384; i < 512; i += 8) {
        hv_printf("data[%3u]", i);
        for (unsigned j = 0; j < 8; j++)
            hv_printf(" %08x", data[i + j]);
        hv_putc('\n');
    }
    return 0;
}
