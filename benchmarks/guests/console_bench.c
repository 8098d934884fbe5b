/* console_bench: an I/O-bound bare-metal workload for benchmarks/replication.py --
 * prints LINES lines of text through the polled LASI UART (every byte is an I/O read
 * of LSR and an I/O write of THR, i.e. two exits to the hypervisor), with a little
 * computation per line, like a chatty program.  LINES is set with -DLINES=N. */
#include "hvlib.h"

#ifndef LINES
#define LINES 2000
#endif

int main(void)
{
    uint32_t x = 12345;
    for (int i = 0; i < LINES; i++) {
        for (int k = 0; k < 200; k++)
            x = x * 1103515245u + 12345u;
        hv_printf("line %5d of %d: state %08x, some padding text to print\n", i, LINES, x);
    }
    hv_printf("done %08x\n", x);
    return 0;
}
