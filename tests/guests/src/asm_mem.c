/* asm_mem: every load/store addressing form (asm_mem.asm.S): long and short
 * displacements, indexed and scaled indexed, base modification (,mb ,ma ,m
 * ,sm, ldwm/stwm), stbys,b/e at every byte offset, ldcw/ldcws, and
 * ldil/addil/ldo arithmetic.  Prints the words the routine recorded and the
 * buffer afterwards (big-endian byte order shows in the dump). */
#include "hvlib.h"

void asm_mem(uint8_t *buf, uint32_t *out);

static uint8_t buf[256] __attribute__((aligned(64)));
static uint32_t out[128];

int main(void)
{
    for (unsigned i = 0; i < 128; i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    memset(buf + 128, 0xaa, 64);
    for (unsigned i = 192; i < 256; i++)
        buf[i] = (uint8_t)(0xc0 + (i & 15));
    memset(out, 0xee, sizeof out);
    asm_mem(buf, out);
    unsigned n = 0;
    while (n < 128 && out[n] != 0xeeeeeeeeu)
        n++;
    hv_printf("%u words recorded\n", n);
    for (unsigned i = 0; i < n; i++)
        hv_printf("%08x%s", out[i], i % 8 == 7 || i == n - 1 ? "\n" : " ");
    for (unsigned i = 0; i < 256; i++)
        hv_printf("%02x%s", buf[i], i % 32 == 31 ? "\n" : (i % 4 == 3 ? " " : ""));
    return 0;
}
