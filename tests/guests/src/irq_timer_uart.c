/* irq_timer_uart: external interrupts.  The interval timer (CR16 compare, EIRR bit
 * 0) and the LASI UART's transmit-empty interrupt (LASI IRQ 5, delivered by LASI
 * writing to the CPU's HPA: EIRR bit 5) with the text sent from the handler.
 * Also: rfir restores the shadowed registers the handler clobbers. */
#include "hvlib.h"
#include "traps.h"

#define LASI_IMR   0xFFD00004u
#define LASI_IPR   0xFFD00008u
#define LASI_IAR   0xFFD00010u
#define CPU_HPA    0xFFFB0000u
#define EIRR_TIMER 0x80000000u
#define EIRR_LASI  0x04000000u            /* bit 5, as LASI's IAR says */

static volatile int timer_hits, uart_hits, ext_other;
static const char *volatile tx;
static volatile int tx_done;

static void handler(int vec, struct hv_trapframe *tf)
{
    if (vec == 9) {                      /* break: just skip */
        hv_trap_skip(tf);
        return;
    }
    if (vec != 4) {
        hv_printf("unexpected trap %d\n", vec);
        hv_trap_skip(tf);
        return;
    }
    uint32_t eirr = MFCTL(23);
    MTCTL(eirr, 23);                     /* writing ones clears them */
    if (eirr & EIRR_TIMER)
        timer_hits++;
    if (eirr & EIRR_LASI) {
        (void)mmio_read32(LASI_IPR);     /* read clears */
        uint8_t iir = mmio_read8(UART_BASE + 2);
        if ((iir & 0x0F) == 0x02) {      /* transmit holding register empty */
            uart_hits++;
            if (*tx) {
                char c = *tx++;
                mmio_write8(UART_BASE, (uint8_t)c);
            } else {
                mmio_write8(UART_BASE + 1, 0);   /* IER: no more interrupts */
                tx_done = 1;
            }
        }
    }
    if (eirr & ~(EIRR_TIMER | EIRR_LASI))
        ext_other++;
}

int main(void)
{
    hv_traps_install(handler);

    /* the interval timer */
    MTCTL(EIRR_TIMER, 15);                               /* EIEM */
    MTCTL(MFCTL(16) + 250000, 16);                      /* 1 ms: room for slow exits */
    __asm__ volatile("ssm 1,%%r0" ::: "memory");
    for (int i = 0; i < 20000000 && !timer_hits; i++)
        __asm__ volatile("" ::: "memory");
    __asm__ volatile("rsm 1,%%r0" ::: "memory");
    hv_printf("timer interrupt taken: %s, EIRR bit 0 now %u\n", timer_hits ? "yes" : "no",
              (MFCTL(23) & EIRR_TIMER) != 0);

    /* interrupt-driven console output */
    tx = "interrupt-driven output through the LASI UART\r\n";
    mmio_write32(LASI_IAR, CPU_HPA | 5);
    mmio_write32(LASI_IMR, 1u << 5);
    MTCTL(EIRR_LASI, 15);
    __asm__ volatile("ssm 1,%%r0" ::: "memory");
    mmio_write8(UART_BASE + 1, 0x02);                    /* IER: THR empty */
    for (int i = 0; i < 20000000 && !tx_done; i++)
        __asm__ volatile("" ::: "memory");
    __asm__ volatile("rsm 1,%%r0" ::: "memory");
    mmio_write32(LASI_IMR, 0);
    hv_printf("uart: done %d, interrupts >= 48: %s, others %d\n", tx_done,
              uart_hits >= 48 ? "yes" : "no", ext_other);

    /* shadow registers: the trap handler clobbers r1, r8 and r9; rfir restores them */
    uint32_t a, b, c;
    __asm__ volatile("ldi 111,%%r1\n\tldi 222,%%r8\n\tldi 333,%%r9\n\tbreak 0,1\n\t"
                     "copy %%r1,%0\n\tcopy %%r8,%1\n\tcopy %%r9,%2"
                     : "=r"(a), "=r"(b), "=r"(c) :: "r1", "r8", "r9", "memory");
    hv_printf("shadowed after rfir: %u %u %u\n", a, b, c);
    return 0;
}
