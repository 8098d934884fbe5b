/* traps.h -- an interruption vector table for bare-metal test guests.
 *
 * hv_traps_install(fn) points IVA at a table whose every vector saves the general
 * registers and the interruption registers in a struct hv_trapframe, calls
 * fn(vector, frame) on a private stack, writes the (possibly changed) frame back
 * and returns with rfir.  r1, r8, r9, r16, r17, r24 and r25 come back from the
 * shadow registers (rfir), so changes to them in the frame are not applied. */
#ifndef TRAPS_H
#define TRAPS_H
#include <stdint.h>

struct hv_trapframe {
    uint32_t gr[32];
    uint32_t iaoq_f, iaoq_b, iasq_f, iasq_b;
    uint32_t ipsw, iir, isr, ior;
};

typedef void (*hv_trap_fn)(int vector, struct hv_trapframe *tf);

void hv_traps_install(hv_trap_fn fn);
/* resume after the interrupted instruction (the queue moves on by one) */
void hv_trap_skip(struct hv_trapframe *tf);
/* enter fn through rfi with the given instruction address space, offset (its low two
 * bits are the privilege level) and PSW; fn's return goes back to the caller */
void hv_rfi_to(void (*fn)(void), uint32_t space, uint32_t psw);
void hv_rfi_to_pc(uint32_t pc, uint32_t space, uint32_t psw);

#define PSW_I 0x00000001u
#define PSW_D 0x00000002u
#define PSW_P 0x00000004u
#define PSW_Q 0x00000008u
#define PSW_R 0x00000010u
#define PSW_C 0x00040000u
#define PSW_V 0x00020000u

#define MFCTL(cr) ({ uint32_t v_; __asm__ volatile("mfctl %%cr" #cr ",%0" : "=r"(v_)); v_; })
#define MTCTL(v, cr) __asm__ volatile("mtctl %0,%%cr" #cr :: "r"((uint32_t)(v)) : "memory")
#endif
