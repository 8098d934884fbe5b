/* internal.h -- shared between the core's C files (core.c, mmu.c, sys.c, fpu.c).
 * Not seen by cffi.  See hvcore.h for the public contract. */
#ifndef HV_INTERNAL_H
#define HV_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "hvcore.h"

#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- physical memory map (machine.md) ---- */
#define FW_BASE     0xF0000000u
#define FW_SIZE     0x00800000u          /* firmware region is RAM-like VM state */
#define IO_BASE     0xF0800000u          /* everything from here up is I/O space */
#define PAGE_SHIFT  12
#define PAGE_SIZE   (1u << PAGE_SHIFT)

/* ---- PSW bits (architected positions, PA-RISC 1.1) ---- */
#define PSW_I  0x00000001u
#define PSW_D  0x00000002u
#define PSW_P  0x00000004u
#define PSW_Q  0x00000008u
#define PSW_R  0x00000010u
#define PSW_F  0x00000020u
#define PSW_G  0x00000040u
#define PSW_CB 0x0000ff00u
#define PSW_M  0x00010000u
#define PSW_V  0x00020000u
#define PSW_C  0x00040000u
#define PSW_B  0x00080000u
#define PSW_X  0x00100000u
#define PSW_N  0x00200000u
#define PSW_L  0x00400000u
#define PSW_H  0x00800000u
#define PSW_T  0x01000000u
#define PSW_S  0x02000000u
#define PSW_E  0x04000000u
#define PSW_Z  0x40000000u
#define PSW_Y  0x80000000u

/* ---- control register numbers ---- */
enum { CR_RC = 0, CR_PID1 = 8, CR_PID2 = 9, CR_CCR = 10, CR_SAR = 11, CR_PID3 = 12,
       CR_PID4 = 13, CR_IVA = 14, CR_EIEM = 15, CR_IT = 16, CR_IIASQ = 17, CR_IIAOQ = 18,
       CR_IIR = 19, CR_ISR = 20, CR_IOR = 21, CR_IPSW = 22, CR_EIRR = 23 };

/* ---- interruption numbers (architected vector numbers) ---- */
enum {
    INT_HPMC = 1, INT_POWER_FAIL = 2, INT_RECOVERY = 3, INT_EXTERNAL = 4, INT_LPMC = 5,
    INT_ITLB_MISS = 6, INT_IMP = 7, INT_ILLEGAL = 8, INT_BREAK = 9, INT_PRIV_OP = 10,
    INT_PRIV_REG = 11, INT_OVERFLOW = 12, INT_COND = 13, INT_ASSIST_EXC = 14,
    INT_DTLB_MISS = 15, INT_NA_ITLB_MISS = 16, INT_NA_DTLB_MISS = 17, INT_DMP = 18,
    INT_DMB = 19, INT_TLB_DIRTY = 20, INT_PAGE_REF = 21, INT_ASSIST_EMU = 22,
    INT_HPT = 23, INT_LPT = 24, INT_TAKEN_BRANCH = 25, INT_DMAR = 26, INT_DMPI = 27,
    INT_UNALIGNED = 28
};

/* ---- result of executing one instruction (exec functions in every file) ----
 *   EX_OK (0)      the instruction completed; the core advances the queue
 *   > 0            an interruption (INT_*) was raised; state must be unchanged except
 *                  for what the raiser recorded with core_fault_addr()
 *   EX_EXIT (< 0)  the hypervisor must act first (vm->exit filled); state unchanged;
 *                  the instruction is re-executed on the next hv_run
 */
#define EX_OK    0
#define EX_EXIT  (-1)

/* ---- TLB (owned by mmu.c) ---- */
#define TLB_ENTRIES 256                  /* unified I/D, as QEMU 7.2's B160L */
typedef struct tlb_entry {
    uint32_t va_space;       /* space id */
    uint32_t va_page;        /* virtual page number (offset >> 12) */
    uint32_t pa_page;        /* physical page number */
    uint32_t access_id;      /* protection id (access id) */
    uint8_t  valid, ar_type, ar_pl1, ar_pl2;
    uint8_t  t, d, b, u;     /* page-reference trap, dirty, data-break, uncacheable */
    uint8_t  page_size;
    uint8_t  used;           /* the address half was inserted (valid: the protection half too) */
    uint8_t  pad[2];
} tlb_entry_t;

/* direct-mapped host-side translation cache in front of the architected TLB
 * (pure acceleration: an entry counts only while its gen equals vm->tlb_gen, so
 * mmu_flush_cache() is O(1)) */
#define TCACHE_BITS 10
#define TCACHE_SIZE (1u << TCACHE_BITS)
typedef struct tcache_entry {
    uint32_t tag_space, tag_page;    /* space and offset >> 12 */
    uint32_t pa_page;
    uint32_t gen;                    /* vm->tlb_gen when filled */
    uint8_t  ok_read, ok_write, ok_exec, priv;  /* permissions precomputed for privilege `priv` */
} tcache_entry_t;

/* the translation-cache slot of space:page (mmu.c fills it; the fast path reads it) */
static inline uint32_t tc_index(uint32_t space, uint32_t page)
{
    return (page ^ (space * 0x9E3779B1u >> 16)) & (TCACHE_SIZE - 1);
}

#define MAX_BP 64
#define MAX_WP 16

struct hv_vm {
    hv_cpu_state_t s;                /* architected state (first: snapshot copies it whole) */
    tlb_entry_t tlb[TLB_ENTRIES];
    uint32_t tlb_next;               /* round-robin replacement index */

    /* memory */
    uint8_t *ram;   uint32_t ram_size;
    uint8_t *fw;                     /* FW_SIZE bytes at FW_BASE */
    uint8_t *dirty; uint32_t npages; /* per page (RAM pages, then firmware pages): DIRTY_* bits */
    uint32_t *dirty_list;            /* pages whose DIRTY_DIGEST bit was set since the last digest */
    uint32_t dirty_n;

    /* translation caches: [0]=data [1]=instruction; rebuilt from tlb[] on miss */
    tcache_entry_t tcache[2][TCACHE_SIZE];
    uint32_t tlb_gen;                /* bumped by mmu_flush_cache(): invalidates tcache entries and
                                        core.c's cached code page */

    /* I/O journal of the instruction that exited to the hypervisor (I/O, environment).
     * It is re-executed on the next hv_run and replays the answered accesses in order, so
     * an instruction with several I/O accesses (stby, ldcw) completes exactly once. */
#define IO_LOG_MAX 4
    struct { uint32_t kind, addr, value; } io_log[IO_LOG_MAX];
    int io_nlog;                     /* accesses in the journal; the last one may be unanswered */
    int io_pos;                      /* next journal entry to replay */
    int io_answered;                 /* hv_io_complete() answered the last entry */
    hv_exit_t *exit;                 /* where the current hv_run writes its exit */

    /* per-instruction scratch the exec functions may set (see core.c) */
    uint32_t next_off, next_space;   /* new back of the queue (preset: iaoq_b+4, iasq_b) */
    int nullify_next;                /* set PSW[N] for the following instruction */
    int queue_replaced;              /* rfi & co. wrote the s.iaoq and s.iasq queues themselves */

    /* clock */
    int clock_mode; uint32_t ticks_per_insn;

    /* debugger sets */
    uint32_t bp[MAX_BP]; int nbp;
    struct { uint32_t lo, hi; int kinds; } wp[MAX_WP]; int nwp;
    uint32_t wp_hit_addr; int wp_hit_kind;

    volatile int stop_requested;     /* written by other threads */
    int event;                       /* something needs checking between instructions */

    /* ---- core.c private ---- */
    int slow;                        /* per-instruction slow checks needed (bp, PSW.R, wp) */
    uint32_t bp_page;                /* with the fast path allowed, breakpoints make `slow` only
                                        on their own pages: the page `slow` was computed for */
    uint64_t timer_at;               /* virtual clock: icount at which EIRR bit 0 rises (~0 = never) */
    uint32_t io_pc;                  /* iaoq_f of the instruction that exited */
    int wp_pending;                  /* a watchpoint hit during the current instruction */
    int fault_valid;                 /* core_fault_addr() was called for the current instruction */
    uint32_t fault_space, fault_off;
    /* the code page the run loop is fetching from (a pure cache, keyed by tlb_gen) */
    const uint8_t *code_host;        /* host address of the page, NULL = invalid */
    uint32_t code_space, code_page, code_gen, code_psw;
    uint64_t check_at, run_end;      /* hv_run: next slow-path visit, end of the budget */
    uint64_t last_deliver_icount;    /* interruption-loop detection */
    uint32_t deliver_streak;

    /* ---- the predecoded fast path (fastpath.h, part of core.c) ----
     * A pure host-side cache: each physical code page the fast path runs gets a table of
     * decoded entries, filled lazily.  Keyed by physical page, so TLB and PSW changes never
     * make an entry wrong (they only change which page the run loop fetches from); stores
     * to a decoded page drop the entries of the words written (DIRTY_CODE below). */
    struct fp_page **fp_map;         /* per page index (as dirty[]): its table or NULL */
    struct fp_page **fp_pool;        /* the tables allocated, for eviction and freeing */
    uint32_t fp_n;                   /* tables in fp_pool */
    const void *fp_decode;           /* the "not decoded yet" handler an entry is reset to */

    /* ---- epochs (core.c) and digests (digest.c): architecture sections 2 and 5 ---- */
    uint32_t epoch_len;              /* instructions per epoch; 0 = no epochs */
    uint32_t epoch_flags;            /* HV_EPOCH_* */
    int epoch_exit_next;             /* exit (HV_EXIT_EPOCH) at the next epoch end, once */
    uint64_t epoch_end;              /* icount at which the current epoch ends */
#define EPOCH_BUF 1024
    hv_epoch_rec_t epoch_buf[EPOCH_BUF];
    uint32_t epoch_n;
    uint64_t *page_hash;             /* digest.c: per-page content hash (NULL = not yet built) */
    uint64_t mem_sum;                /* sum of the per-page contributions */
    uint64_t tlb_hash; uint32_t tlb_hash_gen; int tlb_hash_valid;

    /* ---- fpu.c ---- */
    /* The FP status word the FPU acts on (QEMU's fr0_shadow): loaded from fr0's high word
     * only by fldw/fldd into fr0 and by fpu_status_loaded(); may differ from fr0 after an
     * FP operation writes fr0.  Architected-visible state: snapshots/digests must keep it. */
    uint32_t fpu_shadow;
};

/* ---- services of core.c used by the other files ---- */
/* Data access as the CPU performs it: translation (PSW.D), access rights, alignment,
 * I/O-space exits, dirty tracking, watchpoints.  size is 1, 2, 4 or 8.  Returns EX_OK,
 * an INT_* number (IOR/ISR already recorded) or EX_EXIT. */
int core_load(hv_vm_t *vm, uint32_t space, uint32_t off, unsigned size, uint64_t *val);
int core_store(hv_vm_t *vm, uint32_t space, uint32_t off, unsigned size, uint64_t val);
/* Inline fast paths for aligned accesses to RAM or the firmware region with data
 * translation off and no watchpoints; anything else takes core_load/core_store, which
 * give the same result.  size is 1, 2, 4 or 8. */
static inline uint8_t *core_fast_ptr(hv_vm_t *vm, uint32_t off, unsigned size)
{
    if ((off & (size - 1)) || (vm->s.psw & PSW_D) || vm->nwp)
        return NULL;
    if (off < vm->ram_size)
        return vm->ram + off;
    if (off - FW_BASE < FW_SIZE)
        return vm->fw + (off - FW_BASE);
    return NULL;
}

/* Mark the page of physical address pa (RAM or the firmware region) written: once for
 * hv_dirty_take() (snapshots) and once for the next digest, which rehashes only the pages
 * on dirty_list. */
#define DIRTY_TAKE   1u
#define DIRTY_DIGEST 2u
#define DIRTY_CODE   4u   /* the fast path holds decoded entries of this page (not "dirty":
                             it rides in the same byte so that the common store pays nothing) */
/* a store hit a page with decoded entries: drop those of the word(s) at pa (core.c) */
void core_code_written(hv_vm_t *vm, uint32_t page, uint32_t pa);
static inline void core_mark_dirty(hv_vm_t *vm, uint32_t pa)
{
    uint32_t page = pa < vm->ram_size ? pa >> PAGE_SHIFT
                  : (vm->ram_size >> PAGE_SHIFT) + ((pa - FW_BASE) >> PAGE_SHIFT);
    uint8_t d = vm->dirty[page];
    if (LIKELY(d == (DIRTY_TAKE | DIRTY_DIGEST)))
        return;
    if (d & DIRTY_CODE)
        core_code_written(vm, page, pa);
    if (!(d & DIRTY_DIGEST))
        vm->dirty_list[vm->dirty_n++] = page;
    vm->dirty[page] = (uint8_t)(d | DIRTY_TAKE | DIRTY_DIGEST);
}

/* guest memory is big-endian: the one codec for host-side accesses */
static inline uint32_t core_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t core_load_be(const uint8_t *p, unsigned size)
{
    switch (size) {
    case 1: return p[0];
    case 2: return (uint32_t)p[0] << 8 | p[1];
    case 4: return core_load_be32(p);
    default: return (uint64_t)core_load_be32(p) << 32 | core_load_be32(p + 4);
    }
}

static inline void core_store_be(uint8_t *p, unsigned size, uint64_t v)
{
    switch (size) {
    case 1: p[0] = (uint8_t)v; break;
    case 2: p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; break;
    case 4: p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
            p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; break;
    default: core_store_be(p, 4, v >> 32); core_store_be(p + 4, 4, v); break;
    }
}

static inline int core_load_fast(hv_vm_t *vm, uint32_t space, uint32_t off, unsigned size,
                                 uint64_t *v)
{
    const uint8_t *p = core_fast_ptr(vm, off, size);
    if (LIKELY(p != NULL)) {
        *v = core_load_be(p, size);
        return EX_OK;
    }
    return core_load(vm, space, off, size, v);
}

static inline int core_store_fast(hv_vm_t *vm, uint32_t space, uint32_t off, unsigned size,
                                  uint64_t v)
{
    uint8_t *p = core_fast_ptr(vm, off, size);
    if (LIKELY(p != NULL)) {
        core_store_be(p, size, v);
        core_mark_dirty(vm, off);
        return EX_OK;
    }
    return core_store(vm, space, off, size, v);
}

/* space for a memory reference: s != 0 -> sr[s]; s == 0 -> sr[4 + (base >> 30)] */
static inline uint32_t core_space(const hv_vm_t *vm, unsigned s, uint32_t base) {
    return s ? vm->s.sr[s] : vm->s.sr[4 + (base >> 30)];
}
/* record the faulting address for an interruption (ISR/IOR are written on delivery) */
void core_fault_addr(hv_vm_t *vm, uint32_t space, uint32_t off);
/* something that affects interrupt delivery or translation changed (PSW, EIEM, EIRR, ...) */
static inline void core_note_event(hv_vm_t *vm) { vm->event = 1; vm->check_at = 0; }
/* digest.c: drop the digest caches (the TLB or all of memory changed behind its back) */
void digest_invalidate(hv_vm_t *vm, int memory_too);
void digest_free(hv_vm_t *vm);
int core_privilege(const hv_vm_t *vm);   /* current privilege level 0..3 (iaoq_f & 3) */
/* environment door (architecture section 1): mfctl cr16 / mtctl cr16.  With the host
 * clock these exit to the hypervisor (EX_EXIT) until it answers; with the virtual clock
 * the core computes them from icount.  Return EX_OK (value in *val) or EX_EXIT. */
int core_env_read(hv_vm_t *vm, uint32_t which, uint32_t *val);
int core_env_write(hv_vm_t *vm, uint32_t which, uint32_t val);
/* the general registers an interruption copies into the shadow registers (in shadow
 * order); rfir and QEMU's getshadowregs copy them back */
static const uint8_t SHADOW_GR[7] = {1, 8, 9, 16, 17, 24, 25};
static inline void core_restore_shadows(hv_vm_t *vm)
{
    for (int i = 0; i < 7; i++)
        vm->s.gr[SHADOW_GR[i]] = vm->s.shadow[i];
}
/* GR write that keeps gr0 == 0 */
static inline void core_set_gr(hv_vm_t *vm, unsigned r, uint32_t v) { if (r) vm->s.gr[r] = v; }

/* AR type (0..7) of the TLB entry that maps space:off for instruction fetch, or -1 when
 * none does (used by GATE).  Defined in mmu.c. */
int mmu_page_artype(hv_vm_t *vm, uint32_t space, uint32_t off);

/* ---- mmu.c ---- */
/* translate for a data (is_code=0) or instruction (is_code=1) reference with the given
 * access (0 read, 1 write, 2 execute, 3 probe: no rights checks, no side effects) at the
 * current privilege.  Callers check PSW.D / PSW.C first (this always translates).
 * Returns EX_OK with *pa, or an INT_* number. */
int mmu_translate(hv_vm_t *vm, uint32_t space, uint32_t off, int access, int is_code, uint32_t *pa);
/* The architected lookup, as QEMU 7.2's hppa_get_physical_address: at privilege `priv`
 * for access type `type` (MMU_NONE: no checks, or one of MMU_R/W/X).  Returns EX_OK or
 * an INT_*; *prot receives the MMU_R/W/X rights the entry grants. */
enum { MMU_NONE = 0, MMU_R = 1, MMU_W = 2, MMU_X = 4 };
int mmu_lookup(hv_vm_t *vm, uint32_t space, uint32_t off, int priv, int type,
               uint32_t *pa, int *prot);
void mmu_insert_addr(hv_vm_t *vm, uint32_t space, uint32_t off, uint32_t reg);   /* iitlba/idtlba */
void mmu_insert_prot(hv_vm_t *vm, uint32_t space, uint32_t off, uint32_t reg);   /* iitlbp/idtlbp */
void mmu_purge(hv_vm_t *vm, uint32_t space, uint32_t off);                       /* pitlb/pdtlb */
void mmu_purge_all(hv_vm_t *vm);                                                 /* pitlbe/pdtlbe */
void mmu_flush_cache(hv_vm_t *vm);       /* drop the host-side translation cache (O(1)) */
void mmu_reset(hv_vm_t *vm);

/* ---- sys.c: major opcodes 0x00 (system control), 0x01 (memory management), 0x05 (diag) ---- */
int sys_exec(hv_vm_t *vm, uint32_t insn);

/* ---- fpu.c: FP coprocessor opcodes 0x06, 0x09, 0x0B, 0x0C, 0x0E, 0x26 ---- */
int fpu_exec(hv_vm_t *vm, uint32_t insn);
void fpu_reset(hv_vm_t *vm);
/* fr0's high word was written from outside (debugger, snapshot restore): make the FPU act
 * on it, as QEMU does when gdb writes fr0 */
void fpu_status_loaded(hv_vm_t *vm);

/* ---- helpers for field extraction (PA-RISC numbers bits from the MSB: bit 0 = 1<<31) ---- */
#define BITS(insn, from, to)  (((insn) >> (31 - (to))) & ((1u << ((to) - (from) + 1)) - 1u))
static inline int32_t sext(uint32_t v, int width) {
    return (int32_t)(v << (32 - width)) >> (32 - width);
}
/* PA-RISC "low_sign_ext": the sign is the LOWEST bit of the field */
static inline int32_t low_sign_ext(uint32_t v, int width) {
    return (int32_t)((v >> 1) | ((v & 1) ? ~0u << (width - 1) : 0));
}

#endif
