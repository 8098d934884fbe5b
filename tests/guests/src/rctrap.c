/* rctrap: the recovery counter (CR0) and its trap, which QEMU 7.2 does not implement.
 * hvdbg-test: expected QEMU 7.2 never raises the recovery-counter trap
 * Per the PA-RISC 1.1 manual: while PSW[R] is 1, CR0 is decremented for every
 * instruction executed; when its leftmost bit is 1 a recovery-counter trap
 * (interruption 3) is taken before the next instruction.  With CR0 = 10, ten
 * instructions take it to 0, the eleventh to -1, and the twelfth traps. */
#include "hvlib.h"
#include "traps.h"

static volatile int traps;
static volatile uint32_t at, rc;
extern char rc_nops[];

static void handler(int vec, struct hv_trapframe *tf)
{
    if (vec == 3) {
        traps++;
        at = tf->iaoq_f;
        rc = MFCTL(0);
        tf->ipsw &= ~PSW_R;              /* return with the counter off */
    } else {
        hv_printf("unexpected trap %d\n", vec);
        hv_trap_skip(tf);
    }
}

int main(void)
{
    hv_traps_install(handler);
    __asm__ volatile("ldi 10,%%r19\n\tmtctl %%r19,%%cr0\n\tssm 16,%%r0\n"
                     ".globl rc_nops\nrc_nops:\n"
                     "\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n"
                     "\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n"
                     "\trsm 16,%%r0\n" ::: "r19", "memory");
    hv_printf("recovery-counter traps: %d\n", traps);
    hv_printf("trapped before instruction %d of the block, CR0 = %08x\n",
              (int)((at & ~3u) - (uint32_t)rc_nops) / 4, rc);
    return 0;
}
