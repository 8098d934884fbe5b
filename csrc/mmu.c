/* mmu.c -- STUB (to be replaced): physical addressing only. */
#include "internal.h"

int mmu_translate(hv_vm_t *vm, uint32_t space, uint32_t off, int access, int is_code, uint32_t *pa)
{
    *pa = off;
    return EX_OK;
}
void mmu_flush_cache(hv_vm_t *vm) { }
void mmu_reset(hv_vm_t *vm) { memset(vm->tlb, 0, sizeof vm->tlb); vm->tlb_next = 0; }
