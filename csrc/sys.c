/* sys.c -- system control (major opcode 0x00), memory management (0x01) and
 * diagnose (0x05), as QEMU 7.2 executes them (QEMU is the oracle).
 *
 * Field names follow the manual: bits are numbered from the MSB, BITS(insn, a, b).
 */
#include "internal.h"

/* PSW bits that ssm/rsm/mtsm reach (the system mask): E, O, G, F, R, Q, P, D, I */
#define PSW_O  0x00000080u
#define PSW_SM (PSW_E | PSW_O | PSW_G | PSW_F | PSW_R | PSW_Q | PSW_P | PSW_D | PSW_I)

static inline int privileged(const hv_vm_t *vm) { return core_privilege(vm) == 0; }

/* A write to the PSW: the translation cache depends on P (protection IDs). */
static void psw_write(hv_vm_t *vm, uint32_t psw)
{
    if ((psw ^ vm->s.psw) & PSW_P)
        mmu_flush_cache(vm);
    vm->s.psw = psw;
    core_note_event(vm);
}

/* ---- major opcode 0x00 ---------------------------------------------------------- */

static int mfctl(hv_vm_t *vm, unsigned cr, unsigned t)
{
    uint32_t v;
    switch (cr) {
    case CR_SAR:
        v = vm->s.cr[CR_SAR];
        break;
    case CR_IT: {                                   /* unprivileged, as QEMU (no PSW.S check) */
        int r = core_env_read(vm, HV_ENV_CR16, &v);
        if (r) return r;
        break;
    }
    case 26: case 27:                               /* the unprivileged temporaries */
        v = vm->s.cr[cr];
        break;
    default:
        if (!privileged(vm)) return INT_PRIV_REG;
        v = vm->s.cr[cr];
        break;
    }
    core_set_gr(vm, t, v);
    return EX_OK;
}

static int mtctl(hv_vm_t *vm, unsigned cr, uint32_t v)
{
    if (cr == CR_SAR) {
        vm->s.cr[CR_SAR] = v & 31;
        return EX_OK;
    }
    if (!privileged(vm)) return INT_PRIV_REG;
    switch (cr) {
    case CR_IT:
        return core_env_write(vm, HV_ENV_CR16, v);
    case CR_EIRR:                                   /* writing 1 clears the bit */
        vm->s.cr[CR_EIRR] &= ~v;
        core_note_event(vm);
        break;
    case CR_EIEM:
        vm->s.cr[CR_EIEM] = v;
        core_note_event(vm);
        break;
    case CR_IIASQ:                                  /* the write advances the queue */
        vm->s.cr[CR_IIASQ] = vm->s.iiasq_back;
        vm->s.iiasq_back = v;
        break;
    case CR_IIAOQ:
        vm->s.cr[CR_IIAOQ] = vm->s.iiaoq_back;
        vm->s.iiaoq_back = v;
        break;
    case CR_PID1: case CR_PID2: case CR_PID3: case CR_PID4:
        vm->s.cr[cr] = v;
        mmu_flush_cache(vm);
        break;
    default:
        vm->s.cr[cr] = v;
        break;
    }
    return EX_OK;
}

static int rfi(hv_vm_t *vm, int with_shadows)
{
    if (!privileged(vm)) return INT_PRIV_OP;
    if (with_shadows)
        core_restore_shadows(vm);
    vm->s.iasq_f = vm->s.cr[CR_IIASQ];
    vm->s.iasq_b = vm->s.iiasq_back;
    vm->s.iaoq_f = vm->s.cr[CR_IIAOQ];
    vm->s.iaoq_b = vm->s.iiaoq_back;
    mmu_flush_cache(vm);
    psw_write(vm, vm->s.cr[CR_IPSW]);
    vm->queue_replaced = 1;
    return EX_OK;
}

static int exec_00(hv_vm_t *vm, uint32_t insn)
{
    unsigned f6 = BITS(insn, 6, 10), f11 = BITS(insn, 11, 15), ext = BITS(insn, 19, 26);
    unsigned t = insn & 31;
    unsigned s3 = BITS(insn, 18, 18) << 2 | BITS(insn, 16, 17);
    switch (ext) {
    case 0x00:                                      /* break */
        return INT_BREAK;
    case 0x20:                                      /* sync, syncdma */
        if (BITS(insn, 16, 18) || t) break;
        return EX_OK;
    case 0xA5:                                      /* mfia (PA 2.0; QEMU has it) */
        if (f11) break;
        core_set_gr(vm, t, vm->s.iaoq_f);
        return EX_OK;
    case 0x25:                                      /* mfsp */
        if (f11) break;
        core_set_gr(vm, t, vm->s.sr[s3]);
        return EX_OK;
    case 0xC1:                                      /* mtsp */
        if (t) break;
        if (s3 >= 5 && !privileged(vm)) return INT_PRIV_REG;
        vm->s.sr[s3] = vm->s.gr[f11];
        return EX_OK;
    case 0x45:                                      /* mfctl */
        if (f11) break;
        return mfctl(vm, f6, t);
    case 0xC2:                                      /* mtctl */
        if (t) break;
        return mtctl(vm, f6, vm->s.gr[f11]);
    case 0xC6:                                      /* mtsarcm (PA 2.0; QEMU has it) */
        if (t || f6 != 11) break;
        vm->s.cr[CR_SAR] = ~vm->s.gr[f11] & 31;
        return EX_OK;
    case 0x85: {                                    /* ldsid */
        if (BITS(insn, 18, 18)) break;
        core_set_gr(vm, t, core_space(vm, BITS(insn, 16, 17), vm->s.gr[f6]));
        return EX_OK;
    }
    case 0x6B: case 0x73: {                         /* ssm, rsm */
        if (BITS(insn, 16, 18)) break;
        if (!privileged(vm)) return INT_PRIV_OP;
        uint32_t imm = BITS(insn, 6, 15);
        uint32_t old = vm->s.psw;
        uint32_t psw = ext == 0x6B ? old | (imm & PSW_SM) : old & ~(imm & PSW_SM);
        psw_write(vm, psw);
        core_set_gr(vm, t, old & PSW_SM);
        return EX_OK;
    }
    case 0xC3:                                      /* mtsm */
        if (f6 || BITS(insn, 16, 18) || t) break;
        if (!privileged(vm)) return INT_PRIV_OP;
        psw_write(vm, (vm->s.psw & ~PSW_SM) | (vm->s.gr[f11] & PSW_SM));
        return EX_OK;
    case 0x60: case 0x65:                           /* rfi, rfir */
        if (t) break;
        return rfi(vm, ext == 0x65);
    default:
        break;
    }
    return INT_ILLEGAL;
}

/* ---- major opcode 0x01 ---------------------------------------------------------- */

/* Probe: the rights an access at privilege `level` would have (no trap for rights). */
static int probe(hv_vm_t *vm, uint32_t insn)
{
    unsigned b = BITS(insn, 6, 10), ri = BITS(insn, 11, 15), s = BITS(insn, 16, 17);
    unsigned imm = BITS(insn, 18, 18), write = BITS(insn, 25, 25), t = insn & 31;
    uint32_t off = vm->s.gr[b], space = core_space(vm, s, off);
    int level = imm ? (int)(ri & 3) : (int)(vm->s.gr[ri] & 3);
    uint32_t result = 0;
    if (level >= core_privilege(vm)) {
        uint32_t pa;
        int prot;
        int r = mmu_lookup(vm, space, off, level, MMU_NONE, &pa, &prot);
        if (r) {
            core_fault_addr(vm, space, off);
            return r == INT_DTLB_MISS ? INT_NA_DTLB_MISS : r;
        }
        result = (prot & (write ? MMU_W : MMU_R)) != 0;
    }
    core_set_gr(vm, t, result);
    return EX_OK;
}

static int exec_01(hv_vm_t *vm, uint32_t insn)
{
    unsigned b = BITS(insn, 6, 10), r = BITS(insn, 11, 15), s2 = BITS(insn, 16, 17);
    unsigned s3 = BITS(insn, 18, 18) << 2 | s2;
    unsigned e8 = BITS(insn, 18, 25), e7 = BITS(insn, 19, 25), m = BITS(insn, 26, 26);
    unsigned t = insn & 31;
    uint32_t base = vm->s.gr[b];

    /* probe[i] r/w: bits 19..24 = 100011, bit 26 = 0 */
    if (BITS(insn, 19, 24) == 0x23 && !m)
        return probe(vm, insn);

    /* TLB inserts (PA 1.1): data with a 2-bit s field, instruction with a 3-bit one */
    if (BITS(insn, 18, 24) == 0x20 && !m && t == 0) {            /* idtlba / idtlbp */
        if (!privileged(vm)) return INT_PRIV_OP;
        uint32_t space = core_space(vm, s2, base);
        if (BITS(insn, 25, 25)) mmu_insert_addr(vm, space, base, vm->s.gr[r]);
        else mmu_insert_prot(vm, space, base, vm->s.gr[r]);
        return EX_OK;
    }
    if (BITS(insn, 19, 24) == 0x00 && !m && t == 0) {            /* iitlba / iitlbp */
        if (!privileged(vm)) return INT_PRIV_OP;
        uint32_t space = vm->s.sr[s3];
        if (BITS(insn, 25, 25)) mmu_insert_addr(vm, space, base, vm->s.gr[r]);
        else mmu_insert_prot(vm, space, base, vm->s.gr[r]);
        return EX_OK;
    }
    if (b == 0 && s2 == 0 && BITS(insn, 18, 18) == 0 && BITS(insn, 20, 24) == 0x08
        && !m && t == 0) {                                        /* i/d tlba/p, fast (PCX-L) */
        if (!privileged(vm)) return INT_PRIV_OP;
        int data = BITS(insn, 19, 19);
        uint32_t space = data ? vm->s.cr[CR_ISR] : vm->s.cr[CR_IIASQ];
        uint32_t off = data ? vm->s.cr[CR_IOR] : vm->s.cr[CR_IIAOQ];
        if (BITS(insn, 25, 25)) mmu_insert_addr(vm, space, off, vm->s.gr[r]);
        else mmu_insert_prot(vm, space, off, vm->s.gr[r]);
        return EX_OK;
    }
    /* TLB purges: pdtlb[e] (2-bit s, bits 18..24 = 0100100), pitlb[e] (3-bit s, 19..24 = 000100) */
    if (BITS(insn, 18, 24) == 0x24 || BITS(insn, 19, 24) == 0x04) {
        if (!privileged(vm)) return INT_PRIV_OP;
        int data = BITS(insn, 18, 24) == 0x24;
        int entry = BITS(insn, 25, 25);
        uint32_t newbase = base + vm->s.gr[r];
        uint32_t addr = m ? base : newbase;
        uint32_t space = data ? core_space(vm, s2, base) : vm->s.sr[s3];
        if (r == 0) addr = base;
        if (m) core_set_gr(vm, b, newbase);
        if (entry) mmu_purge_all(vm);
        else mmu_purge(vm, space, addr);
        return EX_OK;
    }
    switch (e8) {
    case 0x4D: {                                                  /* lpa */
        if (!privileged(vm)) return INT_PRIV_OP;
        uint32_t newbase = base + vm->s.gr[r];
        uint32_t addr = m ? base : newbase;
        uint32_t space = core_space(vm, s2, base), pa;
        int prot;
        int rr = mmu_lookup(vm, space, addr, 0, MMU_NONE, &pa, &prot);
        if (rr) {
            core_fault_addr(vm, space, addr);
            return rr == INT_DTLB_MISS ? INT_NA_DTLB_MISS : rr;
        }
        if (m) core_set_gr(vm, b, newbase);
        core_set_gr(vm, t, pa);                                   /* overrides the base */
        return EX_OK;
    }
    case 0x4C:                                                    /* lci */
        if (m) break;
        if (!privileged(vm)) return INT_PRIV_OP;
        core_set_gr(vm, t, 0);                                    /* one coherence class */
        return EX_OK;
    case 0xCA:                                                    /* fdc, displacement form */
        if (m) break;
        return EX_OK;
    case 0x4A: case 0x4B:                                         /* fdc, fdce (indexed) */
        if (m) core_set_gr(vm, b, base + vm->s.gr[r]);
        return EX_OK;
    case 0x4E: case 0x4F:                                         /* pdc, fic (0x4f form) */
        if (t) break;
        if (m) core_set_gr(vm, b, base + vm->s.gr[r]);
        return EX_OK;
    default:
        break;
    }
    if (e7 == 0x0A || e7 == 0x0B) {                               /* fic, fice (3-bit s) */
        if (m) core_set_gr(vm, b, base + vm->s.gr[r]);
        return EX_OK;
    }
    return INT_ILLEGAL;
}

int sys_exec(hv_vm_t *vm, uint32_t insn)
{
    switch (insn >> 26) {
    case 0x00: return exec_00(vm, insn);
    case 0x01: return exec_01(vm, insn);
    default:   return EX_OK;                                      /* 0x05 diag: ignored, as QEMU */
    }
}
