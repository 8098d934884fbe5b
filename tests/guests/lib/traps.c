/* traps.c -- the C side of traps.S (see traps.h). */
#include "traps.h"

static hv_trap_fn trap_fn;
extern char hv_ivt[];
void hv_set_iva(void *iva);
void hv_enter_via_rfi(uint32_t pc, uint32_t space, uint32_t psw);

void hv_trap_dispatch(int vector, struct hv_trapframe *tf)
{
    if (trap_fn)
        trap_fn(vector, tf);
}

void hv_traps_install(hv_trap_fn fn)
{
    trap_fn = fn;
    hv_set_iva(hv_ivt);
}

void hv_trap_skip(struct hv_trapframe *tf)
{
    tf->iaoq_f = tf->iaoq_b;
    tf->iasq_f = tf->iasq_b;
    tf->iaoq_b = tf->iaoq_f + 4;
}

void hv_rfi_to_pc(uint32_t pc, uint32_t space, uint32_t psw)
{
    hv_enter_via_rfi(pc, space, psw);
}

void hv_rfi_to(void (*fn)(void), uint32_t space, uint32_t psw)
{
    /* a function pointer may be a plabel (bit 30 set): the entry is at its first word */
    uint32_t p = (uint32_t)fn;
    if (p & 2)
        p = *(uint32_t *)(p & ~3u);
    hv_enter_via_rfi(p, space, psw);
}
