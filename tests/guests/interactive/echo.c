/* echo: an interactive guest for the signal campaign (tests/test_campaigns.py).  It
 * prints a banner, then for every byte typed on the console echoes it with a running
 * CRC (some work between input bytes, so epochs pass); 'q' powers off.  Without input
 * it polls the UART for ever: a run is still going whenever the test decides to signal
 * it, however fast or slow the host.  Not in src/: the QEMU oracle has no input. */
#include "hvlib.h"

static uint32_t crc32_step(uint32_t crc, uint8_t b)
{
    crc ^= b;
    for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    return crc;
}

int main(void)
{
    uint32_t crc = 0xFFFFFFFFu;
    unsigned n = 0;
    hv_printf("echo ready\n");
    for (;;) {
        while (!(mmio_read8(UART_BASE + 5) & 0x01))   /* LSR: data ready */
            ;
        uint8_t c = mmio_read8(UART_BASE);
        if (c == 'q')
            break;
        for (int i = 0; i < 64; i++)                  /* some work per byte */
            crc = crc32_step(crc, (uint8_t)(c + i));
        n++;
        hv_printf("%c %u %08x\n", c >= 0x20 && c < 0x7f ? c : '.', n, crc);
    }
    hv_printf("bye %u %08x\n", n, crc);
    return 0;
}
