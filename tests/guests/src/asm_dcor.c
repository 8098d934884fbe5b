/* asm_dcor: packed-BCD arithmetic with dcor/idcor (asm_dcor.asm.S), checked
 * against a digit-by-digit BCD add/subtract in C.
 * hvdbg-test: expected QEMU 7.2's dcor tests the carry into bit 3 of each digit (psw_cb >> 3) instead of the digit's carry-out, so its BCD sums are wrong
 * The .expected file follows the PA-RISC 1.1 definition (dcor: subtract 6 from
 * every digit whose carry is 0; idcor: add 6 to every digit whose carry is 1,
 * each digit on its own) and the C self-check prints "ok" for every BCD line. */
#include "hvlib.h"

uint32_t bcd_add(uint32_t a, uint32_t b), bcd_sub(uint32_t a, uint32_t b);
uint32_t add_idcor(uint32_t a, uint32_t b), add_dcor_raw(uint32_t a, uint32_t b);

static uint32_t ref_add(uint32_t a, uint32_t b)
{
    uint32_t r = 0, c = 0;
    for (int i = 0; i < 32; i += 4) {
        uint32_t d = ((a >> i) & 15) + ((b >> i) & 15) + c;
        c = d >= 10;
        r |= (c ? d - 10 : d) << i;
    }
    return r;
}

static uint32_t ref_sub(uint32_t a, uint32_t b)
{
    uint32_t r = 0, borrow = 0;
    for (int i = 0; i < 32; i += 4) {
        int32_t d = (int32_t)((a >> i) & 15) - (int32_t)((b >> i) & 15) - (int32_t)borrow;
        borrow = d < 0;
        r |= (uint32_t)(borrow ? d + 10 : d) << i;
    }
    return r;
}

static const uint32_t bcd[] = {
    0x0, 0x1, 0x9, 0x19, 0x99, 0x12345678, 0x99999999, 0x50000000, 0x49999999, 0x1000,
    0x5, 0x55555555, 0x87654321, 0x909090, 0x1,
};
#define NB (sizeof bcd / sizeof bcd[0])

int main(void)
{
    for (unsigned i = 0; i < NB; i++) {
        for (unsigned j = i; j < NB; j += 3) {
            uint32_t a = bcd[i], b = bcd[j];
            uint32_t s = bcd_add(a, b), d = bcd_sub(a, b);
            hv_printf("%x + %x = %x %s; %x - %x = %x %s\n", a, b, s,
                      s == ref_add(a, b) ? "ok" : "BAD", a, b, d, d == ref_sub(a, b) ? "ok" : "BAD");
        }
    }
    /* non-BCD operands, chosen so that no digit borrows (dcor) or overflows
     * (idcor) during the correction itself */
    static const uint32_t raw[][2] = {
        {0x88888888u, 0x88888888u}, {0xffffffffu, 0x1}, {0x66666666u, 0x11111111u},
        {0x9a9a9a9au, 0x76767676u}, {0x12345678u, 0x87654321u}, {0xf0f0f0f0u, 0x16161616u},
        {0x39393939u, 0x39393939u}, {0xa5a5a5a5u, 0x5a5a5a5au},
    };
    for (unsigned k = 0; k < sizeof raw / sizeof raw[0]; k++)
        hv_printf("raw %08x %08x: dcor %08x idcor %08x\n", raw[k][0], raw[k][1],
                  add_dcor_raw(raw[k][0], raw[k][1]), add_idcor(raw[k][0], raw[k][1]));
    return 0;
}
