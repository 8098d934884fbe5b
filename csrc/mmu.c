/* mmu.c -- the TLB of QEMU 7.2's B160L (PA-RISC 1.1, 256 unified entries, 4 KiB
 * pages), address translation with access rights and protection IDs, and a
 * host-side translation cache in front of it.
 *
 * Behaviour follows QEMU 7.2 where a guest can see it (QEMU is the oracle):
 *  - an insert of the address half (iitlba/idtlba) reuses an entry that already
 *    covers the page, else takes the next slot round-robin;
 *  - a protection ID that matches with the write-disable bit set removes write
 *    permission (a write then raises the data memory protection ID trap); QEMU
 *    does not trap on a protection ID that matches nothing, and neither do we;
 *  - fault priority (lowest first, the last one found wins): rights, then D, B, T.
 */
#include "internal.h"

static const tlb_entry_t *find(const hv_vm_t *vm, uint32_t space, uint32_t page)
{
    for (int i = 0; i < TLB_ENTRIES; i++) {
        const tlb_entry_t *e = &vm->tlb[i];
        if (e->used && e->va_page == page && e->va_space == space)
            return e;
    }
    return NULL;
}

static int rights(const tlb_entry_t *e, int priv)
{
    int r = priv <= e->ar_pl1 ? MMU_R : 0;
    int w = priv <= e->ar_pl2 ? MMU_W : 0;
    int x = (e->ar_pl2 <= priv && priv <= e->ar_pl1) ? MMU_X : 0;
    switch (e->ar_type) {
    case 0: return r;              /* read-only data */
    case 1: return r | w;          /* read/write data */
    case 2: return r | x;          /* normal code */
    case 3: return r | w | x;      /* dynamic code */
    default: return x;             /* 4..7: execute-only gateway (promotes to type & 3) */
    }
}

int mmu_lookup(hv_vm_t *vm, uint32_t space, uint32_t off, int priv, int type,
               uint32_t *pa, int *prot)
{
    const tlb_entry_t *e = find(vm, space, off >> PAGE_SHIFT);
    *pa = 0;
    *prot = 0;
    if (!e || !e->valid)
        return type == MMU_X ? INT_ITLB_MISS : INT_DTLB_MISS;
    *pa = e->pa_page << PAGE_SHIFT | (off & (PAGE_SIZE - 1));
    int p = rights(e, priv);
    if ((vm->s.psw & PSW_P) && e->access_id) {
        uint32_t match = e->access_id * 2 + 1;     /* PID with the write-disable bit */
        if (match == vm->s.cr[CR_PID1] || match == vm->s.cr[CR_PID2] ||
            match == vm->s.cr[CR_PID3] || match == vm->s.cr[CR_PID4]) {
            p &= MMU_R | MMU_X;
            if (type == MMU_W) {
                *prot = p;
                return INT_DMPI;
            }
        }
    }
    *prot = p;
    if (type == MMU_NONE)
        return EX_OK;
    if (!(p & type))
        return type == MMU_X ? INT_IMP : INT_DMAR;
    int r = EX_OK;
    if (!e->d && type == MMU_W) r = INT_TLB_DIRTY;
    if (e->b && type == MMU_W) r = INT_DMB;
    if (e->t && type != MMU_X) r = INT_PAGE_REF;
    return r;
}

int mmu_translate(hv_vm_t *vm, uint32_t space, uint32_t off, int access, int is_code, uint32_t *pa)
{
    uint32_t page = off >> PAGE_SHIFT;
    int priv = (int)(vm->s.iaoq_f & 3);
    if (access == 3) {
        int prot;
        int r = mmu_lookup(vm, space, off, priv, MMU_NONE, pa, &prot);
        return r;
    }
    tcache_entry_t *tc = &vm->tcache[is_code][tc_index(space, page)];
    if (LIKELY(tc->gen == vm->tlb_gen && tc->tag_page == page && tc->tag_space == space
               && tc->priv == priv)) {
        int ok = access == 0 ? tc->ok_read : access == 1 ? tc->ok_write : tc->ok_exec;
        if (LIKELY(ok)) {
            *pa = tc->pa_page << PAGE_SHIFT | (off & (PAGE_SIZE - 1));
            return EX_OK;
        }
    }
    int type = access == 0 ? MMU_R : access == 1 ? MMU_W : MMU_X;
    int prot;
    int r = mmu_lookup(vm, space, off, priv, type, pa, &prot);
    if (r != EX_OK)
        return r;
    /* cache what can be done on this page without any trap condition */
    const tlb_entry_t *e = find(vm, space, page);
    tc->gen = vm->tlb_gen;
    tc->tag_space = space;
    tc->tag_page = page;
    tc->priv = (uint8_t)priv;
    tc->pa_page = *pa >> PAGE_SHIFT;
    tc->ok_read = (prot & MMU_R) && !e->t;
    tc->ok_write = (prot & MMU_W) && e->d && !e->b && !e->t;
    tc->ok_exec = (prot & MMU_X) != 0;
    return EX_OK;
}

void mmu_insert_addr(hv_vm_t *vm, uint32_t space, uint32_t off, uint32_t reg)
{
    uint32_t page = off >> PAGE_SHIFT;
    tlb_entry_t *slot = NULL;
    for (int i = 0; i < TLB_ENTRIES; i++) {
        tlb_entry_t *e = &vm->tlb[i];
        if (e->used && e->va_page == page && e->va_space == space) {
            if (!slot) slot = e;
            memset(e, 0, sizeof *e);
        }
    }
    if (!slot) {
        slot = &vm->tlb[vm->tlb_next];
        vm->tlb_next = (vm->tlb_next + 1) % TLB_ENTRIES;
        memset(slot, 0, sizeof *slot);
    }
    slot->used = 1;
    slot->va_space = space;
    slot->va_page = page;
    slot->pa_page = (reg >> 5) & 0xFFFFFu;         /* bits 5..24 of the register */
    mmu_flush_cache(vm);
}

void mmu_insert_prot(hv_vm_t *vm, uint32_t space, uint32_t off, uint32_t reg)
{
    tlb_entry_t *e = (tlb_entry_t *)find(vm, space, off >> PAGE_SHIFT);
    if (!e)
        return;                                     /* no address half: ignored, as QEMU */
    e->access_id = (reg >> 1) & 0x3FFFFu;
    e->u = (reg >> 19) & 1;
    e->ar_pl2 = (reg >> 20) & 3;
    e->ar_pl1 = (reg >> 22) & 3;
    e->ar_type = (reg >> 24) & 7;
    e->b = (reg >> 27) & 1;
    e->d = (reg >> 28) & 1;
    e->t = (reg >> 29) & 1;
    e->valid = 1;
    mmu_flush_cache(vm);
}

void mmu_purge(hv_vm_t *vm, uint32_t space, uint32_t off)
{
    tlb_entry_t *e = (tlb_entry_t *)find(vm, space, off >> PAGE_SHIFT);
    if (e && e->valid)
        memset(e, 0, sizeof *e);
    mmu_flush_cache(vm);
}

void mmu_purge_all(hv_vm_t *vm)
{
    memset(vm->tlb, 0, sizeof vm->tlb);
    mmu_flush_cache(vm);
}

void mmu_flush_cache(hv_vm_t *vm)
{
    vm->tlb_gen++;
    if (vm->tlb_gen == 0) {                         /* wrapped: really clear */
        memset(vm->tcache, 0, sizeof vm->tcache);
        vm->tlb_gen = 1;
    }
}

void mmu_reset(hv_vm_t *vm)
{
    memset(vm->tlb, 0, sizeof vm->tlb);
    vm->tlb_next = 0;
    memset(vm->tcache, 0, sizeof vm->tcache);
    vm->tlb_gen = 1;
}

int mmu_page_artype(hv_vm_t *vm, uint32_t space, uint32_t off)
{
    const tlb_entry_t *e = find(vm, space, off >> PAGE_SHIFT);
    return e ? e->ar_type : -1;
}

int hv_translate(hv_vm_t *vm, uint32_t space, uint32_t offset, int is_code, uint32_t *pa_out)
{
    if (!(vm->s.psw & (is_code ? PSW_C : PSW_D))) {
        *pa_out = offset;
        return 0;
    }
    int prot;
    int r = mmu_lookup(vm, space, offset, 0, MMU_NONE, pa_out, &prot);
    if (r == INT_DTLB_MISS && is_code)
        r = INT_ITLB_MISS;
    return r;
}
