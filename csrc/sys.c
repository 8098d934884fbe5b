/* sys.c -- STUB (to be replaced): every system instruction is illegal. */
#include "internal.h"

int sys_exec(hv_vm_t *vm, uint32_t insn) { return INT_ILLEGAL; }
