/* reentrant_io: a guest that turns the devices against themselves (issue 14).  LASI's
 * interrupt address (IAR) points at the UART's transmit register, so every UART
 * interrupt makes LASI store into the UART while the UART is still handling the access
 * that raised it.  QEMU blocks that re-entrant store ("Blocked re-entrant IO") and the
 * console keeps working; hvdbg must do the same instead of recursing until the host
 * process dies.  Then: Dino and LASI pointed at each other's UART (a loop through two
 * devices), LASI's interrupt word stored into RAM (a device write the guest can read
 * back) and beyond the end of RAM (ignored), and a burst of interrupts with the
 * transmit-empty interrupt left asserted. */
#include "hvlib.h"

#define LASI_IMR   0xFFD00004u
#define LASI_IPR   0xFFD00008u
#define LASI_IAR   0xFFD00010u
#define CPU_HPA    0xFFFB0000u
#define DINO       0xFFF80000u
#define DINO_IAR0  (DINO + 0x004)
#define DINO_IMR   (DINO + 0x018)
#define DINO_IPR   (DINO + 0x01C)
#define DINO_UART  0xFFF83800u
#define UART_IRQ   5                      /* LASI input of the UART */
#define DINO_UART_IRQ 10
#define RAM_WORD   0x00200000u            /* above the 1 MiB stack, inside 256 MiB */
#define BEYOND_RAM 0x7FFFFFE0u            /* neither RAM nor a device */

static void show(const char *what)
{
    hv_printf("%s: IIR=%02x LSR=%02x IPR=%08x\n", what, mmio_read8(UART_BASE + 2),
              mmio_read8(UART_BASE + 5), mmio_read32(LASI_IPR));
}

int main(void)
{
    hv_printf("reentrant_io: start\n");

    /* 1. LASI delivers the UART interrupt into the UART's THR (value 10, '\n') */
    mmio_write32(LASI_IAR, UART_BASE + 10);
    mmio_write32(LASI_IMR, 1u << UART_IRQ);
    mmio_write8(UART_BASE + 1, 0x02);            /* IER: transmit-empty interrupt */
    hv_printf("THR is LASI's target; these bytes still reach the console\n");
    for (int i = 0; i < 3; i++)
        hv_printf("line %d\n", i);
    show("after");

    /* 2. LASI -> Dino's UART, Dino -> LASI's UART: a loop through two devices */
    mmio_write32(DINO_IAR0, UART_BASE + 11);
    mmio_write32(DINO_IMR, 1u << DINO_UART_IRQ);
    mmio_write8(DINO_UART + 1, 0x02);            /* Dino UART IER: transmit empty */
    mmio_write32(LASI_IAR, DINO_UART + 12);
    hv_printf("loop through Dino: still printing\n");
    hv_printf("Dino IPR=%08x\n", mmio_read32(DINO_IPR));
    mmio_write8(DINO_UART + 1, 0);
    mmio_write32(DINO_IMR, 0);

    /* 3. the interrupt word into RAM, then beyond the end of RAM */
    *(volatile uint32_t *)RAM_WORD = 0xdeadbeef;
    mmio_write32(LASI_IAR, RAM_WORD + 7);
    hv_printf("x\n");
    hv_printf("RAM word after a UART interrupt: %08x\n", *(volatile uint32_t *)RAM_WORD);
    mmio_write32(LASI_IAR, BEYOND_RAM + 9);
    hv_printf("beyond RAM: ignored\n");

    /* 4. a storm: 2000 interrupts into the CPU's HPA with external interrupts
     *    masked; EIRR just collects the bit */
    mmio_write32(LASI_IAR, CPU_HPA + 3);
    for (int i = 0; i < 2000; i++) {
        mmio_write8(UART_BASE + 1, 0);
        mmio_write8(UART_BASE + 1, 0x02);        /* THRI on again: interrupt again */
    }
    uint32_t eirr = 0;
    for (int i = 0; i < 100000 && !(eirr & 0x10000000u); i++)   /* under replication */
        __asm__ volatile("mfctl %%cr23,%0" : "=r"(eirr));        /* at the epoch end */
    __asm__ volatile("mtctl %0,%%cr23" :: "r"(eirr));
    hv_printf("storm: EIRR bit 3 %s\n", (eirr & 0x10000000u) ? "set" : "clear");

    mmio_write8(UART_BASE + 1, 0);
    mmio_write32(LASI_IMR, 0);
    show("end");
    hv_printf("reentrant_io: done\n");
    hv_poweroff(0);
}
