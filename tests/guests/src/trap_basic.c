/* trap_basic: break, illegal instruction, overflow, conditional and unaligned-data
 * traps, each taken, reported with IIR/ISR/IOR and skipped; the privileged-operation
 * trap from privilege level 3, and a return to level 0 through a break. */
#include "hvlib.h"
#include "traps.h"

static volatile int last_vec, count;
static volatile uint32_t last_iir, last_ior;

static void handler(int vec, struct hv_trapframe *tf)
{
    last_vec = vec;
    last_iir = tf->iir;
    last_ior = tf->ior;
    count++;
    if (vec == 9 && ((tf->iir >> 13) & 0x1fff) == 7) {
        /* break 0,7 from user code: back to privilege 0 at the caller (rp) */
        tf->iaoq_f = tf->gr[2] & ~3u;
        tf->iaoq_b = tf->iaoq_f + 4;
        return;
    }
    hv_trap_skip(tf);
}

static void report(const char *what)
{
    hv_printf("%-12s vector %2d iir %08x ior %08x\n", what, last_vec, last_iir,
              last_vec == 28 ? last_ior : 0);
    last_vec = -1;
}

void user_code(void);
__asm__(".text\n.globl user_code\nuser_code:\n"
        "\tldi 5,%r28\n"
        "\tssm 0,%r0\n"          /* privileged: trap 10 at PL3 */
        "\tmfctl %cr14,%r29\n"   /* privileged register: trap 11 */
        "\tbreak 0,7\n"          /* back to PL0 */
        "\tnop\n");

int main(void)
{
    hv_traps_install(handler);
    __asm__ volatile("break 3,5");
    report("break");
    __asm__ volatile(".word 0x10000000");            /* major opcode 4: not implemented */
    report("illegal");
    uint32_t big = 0x7fffffff, one = 1, r = 0;
    __asm__ volatile("addo %1,%2,%0" : "+r"(r) : "r"(big), "r"(one));
    report("addo");
    hv_printf("  target kept: %08x\n", r);
    __asm__ volatile("addit,= 5,%1,%0" : "=r"(r) : "r"(-5));
    report("addit,=");
    __asm__ volatile("addit,<> 5,%1,%0" : "=r"(r) : "r"(-5));
    hv_printf("  no trap: vec %d r %u\n", last_vec, r);
    __asm__ volatile("subo %1,%2,%0" : "=r"(r) : "r"(0x80000000u), "r"(1));
    report("subo");
    static uint32_t words[4] = {0x11223344, 0x55667788, 0, 0};
    uint32_t v = 0;
    __asm__ volatile("ldw 0(%1),%0" : "=r"(v) : "r"((char *)words + 2));
    report("ldw unaligned");
    __asm__ volatile("sth %1,0(%0)" :: "r"((char *)words + 1), "r"(v) : "memory");
    report("sth unaligned");
    __asm__ volatile("ldh 0(%1),%0" : "=r"(v) : "r"((char *)words + 2));
    hv_printf("  aligned ldh: %04x vec %d\n", v, last_vec);

    int before = count;
    hv_rfi_to_pc(((uint32_t)user_code) | 3, 0, PSW_Q);
    uint32_t psw;
    __asm__ volatile("ssm 0,%0" : "=r"(psw));           /* privileged: proves we are at PL0 */
    hv_printf("user mode: %d traps, last vector %d, back at PL0 (psw %08x)\n",
              count - before, last_vec, psw);
    hv_printf("total traps %d\n", count);
    return 0;
}
