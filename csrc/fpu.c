/* fpu.c -- STUB (to be replaced): every FP instruction is illegal. */
#include "internal.h"

int fpu_exec(hv_vm_t *vm, uint32_t insn) { return INT_ILLEGAL; }
void fpu_reset(hv_vm_t *vm) { }
