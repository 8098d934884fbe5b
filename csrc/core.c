/* core.c -- the PA-RISC 1.1 run loop: fetch, the instruction address queue,
 * nullification, interruption delivery, external interrupts, the interval
 * timer and recovery counter, and every integer instruction (computational,
 * load/store, branch).  System control lives in sys.c, the TLB in mmu.c, the
 * FPU in fpu.c.
 *
 * What counts as a retired instruction (vm->s.icount, the clock of hvdbg):
 *   - an instruction that completes, including rfi, branches and I/O accesses;
 *   - an instruction that is nullified (PSW[N] was set when it reached the
 *     front of the queue): it occupies its slot and is counted;
 *   - NOT an instruction that raises an interruption (trap or fault): the
 *     handler either re-executes it (counted then) or skips it;
 *   - NOT an instruction that exits to the hypervisor before completing (I/O,
 *     environment): it is re-executed, and counted, on the next hv_run.
 * External interrupts are taken between instructions and count nothing.
 */
#include <stdlib.h>
#include <stdio.h>
#include "internal.h"

/* ===================================================================== */
/* physical memory                                                        */
/* ===================================================================== */

/* Host pointer for [pa, pa+len) if it lies wholly in RAM or the firmware
 * region (never crossing into I/O), else NULL.  len <= PAGE_SIZE. */
static inline uint8_t *phys_ptr(hv_vm_t *vm, uint32_t pa, uint32_t len)
{
    if (pa < vm->ram_size && len <= vm->ram_size - pa)
        return vm->ram + pa;
    if (pa >= FW_BASE && pa - FW_BASE < FW_SIZE && len <= FW_SIZE - (pa - FW_BASE))
        return vm->fw + (pa - FW_BASE);
    return NULL;
}

/* the predecoded fast path (fastpath.h, included below) */
static void fp_page_reset(hv_vm_t *vm, uint32_t index);
static void fp_free(hv_vm_t *vm);

static inline void io_clear(hv_vm_t *vm)
{
    vm->io_nlog = 0;
    vm->io_pos = 0;
    vm->io_answered = 0;
}

int hv_phys_read(hv_vm_t *vm, uint32_t pa, uint8_t *buf, uint32_t len)
{
    while (len) {
        uint32_t chunk = PAGE_SIZE - (pa & (PAGE_SIZE - 1));
        if (chunk > len) chunk = len;
        uint8_t *p = phys_ptr(vm, pa, chunk);
        if (!p) return -1;
        memcpy(buf, p, chunk);
        buf += chunk; pa += chunk; len -= chunk;
        if (len && pa == 0) return -1;   /* wrapped around 4 GiB */
    }
    return 0;
}

int hv_phys_write(hv_vm_t *vm, uint32_t pa, const uint8_t *buf, uint32_t len)
{
    /* validate the whole range first, so a failing write changes nothing */
    uint32_t a = pa, n = len;
    while (n) {
        uint32_t chunk = PAGE_SIZE - (a & (PAGE_SIZE - 1));
        if (chunk > n) chunk = n;
        if (!phys_ptr(vm, a, chunk)) return -1;
        a += chunk; n -= chunk;
        if (n && a == 0) return -1;
    }
    while (len) {
        uint32_t chunk = PAGE_SIZE - (pa & (PAGE_SIZE - 1));
        if (chunk > len) chunk = len;
        memcpy(phys_ptr(vm, pa, chunk), buf, chunk);
        core_mark_dirty(vm, pa);
        fp_page_reset(vm, pa < vm->ram_size ? pa >> PAGE_SHIFT
                          : (vm->ram_size >> PAGE_SHIFT) + ((pa - FW_BASE) >> PAGE_SHIFT));
        buf += chunk; pa += chunk; len -= chunk;
    }
    vm->code_host = NULL;   /* the debugger may have patched code */
    return 0;
}

/* ===================================================================== */
/* lifetime                                                               */
/* ===================================================================== */

hv_vm_t *hv_vm_new(uint32_t ram_bytes)
{
    if (ram_bytes == 0 || ram_bytes > 0xC0000000u)
        return NULL;
    ram_bytes = (ram_bytes + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    hv_vm_t *vm = calloc(1, sizeof *vm);
    if (!vm) return NULL;
    vm->ram_size = ram_bytes;
    vm->ram = calloc(1, ram_bytes);
    vm->fw = calloc(1, FW_SIZE);
    vm->npages = (ram_bytes >> PAGE_SHIFT) + (FW_SIZE >> PAGE_SHIFT);
    vm->dirty = calloc(1, vm->npages);
    vm->dirty_list = calloc(vm->npages, sizeof *vm->dirty_list);
    if (!vm->ram || !vm->fw || !vm->dirty || !vm->dirty_list) {
        hv_vm_free(vm);
        return NULL;
    }
    vm->clock_mode = HV_CLOCK_HOST;
    vm->ticks_per_insn = 1;
    hv_reset(vm);
    return vm;
}

void hv_vm_free(hv_vm_t *vm)
{
    if (!vm) return;
    fp_free(vm);                  /* first: it clears marks in vm->dirty */
    free(vm->ram);
    free(vm->fw);
    free(vm->dirty);
    free(vm->dirty_list);
    digest_free(vm);
    free(vm);
}

void hv_reset(hv_vm_t *vm)
{
    memset(&vm->s, 0, sizeof vm->s);
    mmu_reset(vm);
    mmu_flush_cache(vm);
    fpu_reset(vm);
    io_clear(vm);
    vm->wp_pending = 0;
    vm->timer_at = ~0ull;
    vm->code_host = NULL;
    vm->epoch_n = 0;
    vm->epoch_exit_next = 0;
    vm->epoch_end = vm->epoch_len ? vm->epoch_len : ~0ull;
    digest_invalidate(vm, 0);
    core_note_event(vm);
}

hv_cpu_state_t *hv_state(hv_vm_t *vm) { return &vm->s; }

void hv_state_changed(hv_vm_t *vm)
{
    fpu_status_loaded(vm);        /* the FPU acts on fr0 as written (as QEMU's gdbstub does) */
    mmu_flush_cache(vm);
    vm->code_host = NULL;
    io_clear(vm);                 /* a debugger that moved the PC abandons a pending access */
    digest_invalidate(vm, 0);
    core_note_event(vm);
}
uint32_t hv_ram_size(hv_vm_t *vm) { return vm->ram_size; }
uint32_t hv_page_count(hv_vm_t *vm) { return vm->npages; }

uint32_t hv_dirty_take(hv_vm_t *vm, uint32_t *pages_out, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < vm->npages && n < max; i++) {
        if (vm->dirty[i] & DIRTY_TAKE) {
            vm->dirty[i] &= (uint8_t)~DIRTY_TAKE;
            pages_out[n++] = i;
        }
    }
    return n;
}

/* ===================================================================== */
/* clock, interrupts, debugger sets                                       */
/* ===================================================================== */

/* virtual clock: cr16 = icount * ticks_per_insn (mod 2^32) */
static inline uint32_t virt_cr16(const hv_vm_t *vm)
{
    return (uint32_t)(vm->s.icount * vm->ticks_per_insn);
}

static void virt_timer_arm(hv_vm_t *vm)
{
    uint64_t delta = (uint32_t)(vm->s.timer_cmp - virt_cr16(vm));
    if (delta < 250)                  /* as QEMU: a compare "now" means next round */
        delta += 1ull << 32;
    uint64_t tpi = vm->ticks_per_insn ? vm->ticks_per_insn : 1;
    vm->timer_at = vm->s.icount + (delta + tpi - 1) / tpi;
}

void hv_set_clock(hv_vm_t *vm, int mode, uint32_t ticks_per_insn)
{
    vm->clock_mode = mode == HV_CLOCK_VIRTUAL ? HV_CLOCK_VIRTUAL : HV_CLOCK_HOST;
    vm->ticks_per_insn = ticks_per_insn ? ticks_per_insn : 1;
    vm->timer_at = ~0ull;
    core_note_event(vm);
}

void hv_set_eirr(hv_vm_t *vm, uint32_t bits)
{
    vm->s.cr[CR_EIRR] |= bits;
    core_note_event(vm);
}

void hv_request_stop(hv_vm_t *vm)
{
    __atomic_store_n(&vm->stop_requested, 1, __ATOMIC_RELEASE);
}

void hv_io_complete(hv_vm_t *vm, uint32_t value)
{
    if (vm->io_nlog && !vm->io_answered) {
        vm->io_log[vm->io_nlog - 1].value = value;
        vm->io_answered = 1;
    }
}

int hv_bp_add(hv_vm_t *vm, uint32_t offset)
{
    offset &= ~3u;
    for (int i = 0; i < vm->nbp; i++)
        if (vm->bp[i] == offset) return 0;
    if (vm->nbp >= MAX_BP) return -1;
    vm->bp[vm->nbp++] = offset;
    core_note_event(vm);
    return 0;
}

int hv_bp_remove(hv_vm_t *vm, uint32_t offset)
{
    offset &= ~3u;
    for (int i = 0; i < vm->nbp; i++)
        if (vm->bp[i] == offset) {
            vm->bp[i] = vm->bp[--vm->nbp];
            core_note_event(vm);
            return 0;
        }
    return -1;
}

void hv_bp_clear(hv_vm_t *vm) { vm->nbp = 0; core_note_event(vm); }

int hv_wp_add(hv_vm_t *vm, uint32_t offset, uint32_t len, int kinds)
{
    if (len == 0 || !(kinds & (HV_WATCH_READ | HV_WATCH_WRITE))) return -1;
    if (vm->nwp >= MAX_WP) return -1;
    uint32_t hi = offset + len - 1;
    if (hi < offset) hi = 0xFFFFFFFFu;
    vm->wp[vm->nwp].lo = offset;
    vm->wp[vm->nwp].hi = hi;
    vm->wp[vm->nwp].kinds = kinds;
    vm->nwp++;
    return 0;
}

int hv_wp_remove(hv_vm_t *vm, uint32_t offset, uint32_t len, int kinds)
{
    uint32_t hi = offset + len - 1;
    if (hi < offset) hi = 0xFFFFFFFFu;
    for (int i = 0; i < vm->nwp; i++)
        if (vm->wp[i].lo == offset && vm->wp[i].hi == hi && vm->wp[i].kinds == kinds) {
            vm->wp[i] = vm->wp[--vm->nwp];
            return 0;
        }
    return -1;
}

void hv_wp_clear(hv_vm_t *vm) { vm->nwp = 0; }

/* Watchpoints match the virtual (or, with PSW.D off, physical) data offset. */
static void wp_check(hv_vm_t *vm, uint32_t off, unsigned size, int kind)
{
    uint32_t last = off + size - 1;
    for (int i = 0; i < vm->nwp; i++) {
        if ((vm->wp[i].kinds & kind) && off <= vm->wp[i].hi && last >= vm->wp[i].lo) {
            if (!vm->wp_pending) {
                vm->wp_pending = 1;
                vm->wp_hit_addr = off < vm->wp[i].lo ? vm->wp[i].lo : off;
                vm->wp_hit_kind = kind;
            }
            return;
        }
    }
}

/* ===================================================================== */
/* data access as the CPU performs it                                     */
/* ===================================================================== */

int core_privilege(const hv_vm_t *vm) { return vm->s.iaoq_f & 3; }

void core_fault_addr(hv_vm_t *vm, uint32_t space, uint32_t off)
{
    vm->fault_valid = 1;
    vm->fault_space = space;
    vm->fault_off = off;
}

static void exit_io(hv_vm_t *vm, uint32_t reason, uint32_t pa, unsigned size, uint64_t val)
{
    hv_exit_t *e = vm->exit;
    if (size < 8)
        val &= (1ull << (8 * size)) - 1;   /* the bytes actually stored */
    e->reason = reason;
    e->addr = pa;
    e->size = size;
    e->value = (uint32_t)val;
    e->value_hi = (uint32_t)(val >> 32);
    if (vm->io_nlog >= IO_LOG_MAX || vm->io_pos != vm->io_nlog)
        io_clear(vm);                 /* cannot happen: no instruction makes 4 I/O accesses */
    vm->io_log[vm->io_nlog].kind = reason;
    vm->io_log[vm->io_nlog].addr = pa;
    vm->io_log[vm->io_nlog].value = 0;
    vm->io_nlog++;
    vm->io_pc = vm->s.iaoq_f;
    vm->io_answered = 0;
    core_note_event(vm);                    /* the journal is cleared once the instruction completes */
}

/* Replay the next journal entry if this access is the one recorded there. */
static inline int io_take(hv_vm_t *vm, uint32_t reason, uint32_t addr, uint32_t *val)
{
    int k = vm->io_pos;
    if (k >= vm->io_nlog || vm->io_pc != vm->s.iaoq_f)
        return 0;
    if (vm->io_log[k].kind != reason || vm->io_log[k].addr != addr
        || (k == vm->io_nlog - 1 && !vm->io_answered)) {
        io_clear(vm);                 /* the instruction took another path: start afresh */
        return 0;
    }
    vm->io_pos = k + 1;
    if (val) *val = vm->io_log[k].value;
    return 1;
}

static inline int data_translate(hv_vm_t *vm, uint32_t space, uint32_t off, int access,
                                 uint32_t *pa)
{
    if (!(vm->s.psw & PSW_D)) {
        *pa = off;
        return EX_OK;
    }
    int r = mmu_translate(vm, space, off, access, 0, pa);
    if (r > 0)
        core_fault_addr(vm, space, off);
    return r;
}

int core_load(hv_vm_t *vm, uint32_t space, uint32_t off, unsigned size, uint64_t *val)
{
    if (UNLIKELY(off & (size - 1))) {
        core_fault_addr(vm, space, off);
        return INT_UNALIGNED;
    }
    uint32_t pa;
    int r = data_translate(vm, space, off, 0, &pa);
    if (UNLIKELY(r != EX_OK)) return r;
    uint8_t *p = phys_ptr(vm, pa, size);
    if (LIKELY(p != NULL)) {
        *val = core_load_be(p, size);
    } else {
        uint32_t v;
        if (!io_take(vm, HV_EXIT_IO_READ, pa, &v)) {
            exit_io(vm, HV_EXIT_IO_READ, pa, size, 0);
            return EX_EXIT;
        }
        *val = v;
    }
    if (UNLIKELY(vm->nwp)) wp_check(vm, off, size, HV_WATCH_READ);
    return EX_OK;
}

int core_store(hv_vm_t *vm, uint32_t space, uint32_t off, unsigned size, uint64_t val)
{
    if (UNLIKELY(off & (size - 1))) {
        core_fault_addr(vm, space, off);
        return INT_UNALIGNED;
    }
    uint32_t pa;
    int r = data_translate(vm, space, off, 1, &pa);
    if (UNLIKELY(r != EX_OK)) return r;
    uint8_t *p = phys_ptr(vm, pa, size);
    if (LIKELY(p != NULL)) {
        core_store_be(p, size, val);
        core_mark_dirty(vm, pa);
    } else if (!io_take(vm, HV_EXIT_IO_WRITE, pa, NULL)) {
        exit_io(vm, HV_EXIT_IO_WRITE, pa, size, val);
        return EX_EXIT;
    }
    if (UNLIKELY(vm->nwp)) wp_check(vm, off, size, HV_WATCH_WRITE);
    return EX_OK;
}

/* environment door: mfctl/mtctl cr16 */
int core_env_read(hv_vm_t *vm, uint32_t which, uint32_t *val)
{
    if (vm->clock_mode == HV_CLOCK_VIRTUAL && which == HV_ENV_CR16) {
        *val = virt_cr16(vm);
        return EX_OK;
    }
    if (io_take(vm, HV_EXIT_ENV_READ, which, val))
        return EX_OK;
    exit_io(vm, HV_EXIT_ENV_READ, which, 4, 0);
    return EX_EXIT;
}

int core_env_write(hv_vm_t *vm, uint32_t which, uint32_t val)
{
    if (vm->clock_mode == HV_CLOCK_VIRTUAL && which == HV_ENV_CR16) {
        vm->s.timer_cmp = val;
        virt_timer_arm(vm);
        core_note_event(vm);
        return EX_OK;
    }
    if (!io_take(vm, HV_EXIT_ENV_WRITE, which, NULL)) {
        exit_io(vm, HV_EXIT_ENV_WRITE, which, 4, val);
        return EX_EXIT;
    }
    if (which == HV_ENV_CR16)
        vm->s.timer_cmp = val;
    return EX_OK;
}

/* Completion codes of core.c's own exec functions, beyond the shared EX_OK /
 * interruption / EX_EXIT contract: they spare the run loop a store and a load
 * per instruction.  (sys.c and fpu.c keep using vm->nullify_next/next_off.) */
#define EX_NULLIFY  64    /* completed; nullify the following instruction */
#define EX_BRANCH  128    /* completed; the queue's back becomes vm->next_off/next_space */
#define EX_REPLACED 256   /* completed; rfi & co. rewrote the whole queue */
static inline int nullify_if(int cond) { return cond ? EX_NULLIFY : EX_OK; }

/* ===================================================================== */
/* conditions and carries                                                 */
/* ===================================================================== */

/* Arithmetic condition (manual table 5-3): cf = c<<1 | f.  carry is the carry
 * out of bit 0 (the MSB), sv the signed overflow.  Logical operations use
 * carry = 0 and sv = 0 (QEMU treats the undefined cases that way). */
static inline int cond_arith(unsigned cf, uint32_t res, int carry, int sv)
{
    int neg = (int32_t)res < 0, r;
    switch (cf >> 1) {
    case 0: r = 0; break;
    case 1: r = res == 0; break;
    case 2: r = neg ^ sv; break;
    case 3: r = (neg ^ sv) | (res == 0); break;
    case 4: r = !carry; break;
    case 5: r = !carry | (res == 0); break;
    case 6: r = sv; break;
    default: r = res & 1; break;
    }
    return r ^ (int)(cf & 1);
}

/* shift/extract/deposit and move-branch conditions: 3 bits, never/=/</OD, then negated */
static inline int cond_sed(unsigned c, uint32_t res)
{
    unsigned k = c & 3;
    return cond_arith((k == 3 ? 7u : k) << 1 | (c >> 2), res, 0, 0);
}

/* unit conditions (uxor, uaddcm, dcor) */
static inline int cond_unit(unsigned cf, uint32_t res, uint32_t in1, uint32_t in2)
{
    uint32_t cb = ((in1 | in2) & ~res) | (in1 & in2);   /* carry out of each bit */
    int r;
    switch (cf >> 1) {
    case 2: r = ((res - 0x01010101u) & ~res & 0x80808080u) != 0; break;   /* SBZ */
    case 3: r = ((res - 0x00010001u) & ~res & 0x80008000u) != 0; break;   /* SHZ */
    case 4: r = (cb & 0x88888888u) != 0; break;                           /* SDC */
    case 6: r = (cb & 0x80808080u) != 0; break;                           /* SBC */
    case 7: r = (cb & 0x80008000u) != 0; break;                           /* SHC */
    default: r = 0; break;                                                /* never, undefined */
    }
    return r ^ (int)(cf & 1);
}

/* PSW C/B field: bit 8+i holds the carry out of hex digit i (digit 0 = least
 * significant), bit 15 the carry out of the word.  carry_in has, in bit k, the
 * carry into bit k (a ^ b ^ sum). */
static inline void set_carries(hv_vm_t *vm, uint32_t carry_in, int carry_out)
{
    /* carry out of digit i = carry into bit 4(i+1): move it to bit i */
    uint32_t field = ((carry_in >> 4) & 1u) | ((carry_in >> 7) & 2u) | ((carry_in >> 10) & 4u)
                   | ((carry_in >> 13) & 8u) | ((carry_in >> 16) & 16u) | ((carry_in >> 19) & 32u)
                   | ((carry_in >> 22) & 64u) | ((uint32_t)carry_out << 7);
    vm->s.psw = (vm->s.psw & ~PSW_CB) | field << 8;
}

static inline int psw_carry(const hv_vm_t *vm) { return (vm->s.psw >> 15) & 1; }

static inline int add_sv(uint32_t res, uint32_t a, uint32_t b) { return ((res ^ a) & ~(a ^ b)) >> 31; }
static inline int sub_sv(uint32_t res, uint32_t a, uint32_t b) { return ((res ^ a) & (a ^ b)) >> 31; }

/* ===================================================================== */
/* integer computational: add, sub and friends                            */
/* ===================================================================== */

/* One adder for add/addl/addo/addc/addco/shNadd(l,o)/addi/addio/addit/addito.
 * a is already shifted; cin is the carry in (0 or the PSW carry). */
static inline int do_add(hv_vm_t *vm, unsigned t, uint32_t a, uint32_t b, unsigned cin,
                         unsigned cf, int logical, int tsv, int tc)
{
    uint64_t wide = (uint64_t)a + b + cin;
    uint32_t res = (uint32_t)wide;
    int cout = (int)(wide >> 32);
    int sv = add_sv(res, a, b);
    if (tsv && sv) return INT_OVERFLOW;
    int cond = cf ? cond_arith(cf, res, cout, sv) : 0;
    if (tc && cond) return INT_COND;
    if (!logical) set_carries(vm, a ^ b ^ res, cout);
    core_set_gr(vm, t, res);
    return nullify_if(cond & !tc);
}

/* a - b as a + ~b + cin (cin = 1, or the PSW carry for subtract-with-borrow) */
static inline int do_sub(hv_vm_t *vm, unsigned t, uint32_t a, uint32_t b, unsigned cin,
                         unsigned cf, int tsv, int tc)
{
    uint64_t wide = (uint64_t)a + (uint32_t)~b + cin;
    uint32_t res = (uint32_t)wide;
    int cout = (int)(wide >> 32);
    int sv = sub_sv(res, a, b);
    if (tsv && sv) return INT_OVERFLOW;
    int cond = cf ? cond_arith(cf, res, cout, sv) : 0;
    if (tc && cond) return INT_COND;
    set_carries(vm, a ^ ~b ^ res, cout);
    core_set_gr(vm, t, res);
    return nullify_if(cond & !tc);
}

static int exec_arith(hv_vm_t *vm, uint32_t insn)
{
    unsigned r2 = BITS(insn, 6, 10), r1 = BITS(insn, 11, 15), cf = BITS(insn, 16, 19);
    unsigned ext = BITS(insn, 20, 25), bit26 = BITS(insn, 26, 26), t = insn & 31;
    uint32_t a = vm->s.gr[r1], b = vm->s.gr[r2], res;

    switch (ext) {
    case 0x00: res = a & ~b; goto logical;                  /* andcm */
    case 0x08: res = a & b; goto logical;                   /* and */
    case 0x09: res = a | b; goto logical;                   /* or (also nop/copy) */
    case 0x0A: if (bit26) break; res = a ^ b; goto logical; /* xor */
    case 0x0E:                                              /* uxor */
        if (bit26) break;
        res = a ^ b;
        core_set_gr(vm, t, res);
        return nullify_if(cf ? cond_unit(cf, res, a, b) : 0);
    case 0x11: {                                            /* ds: divide step */
        if (bit26) break;
        int v = (vm->s.psw & PSW_V) != 0;
        uint32_t add1 = a << 1 | (uint32_t)psw_carry(vm);
        uint32_t add2 = v ? ~b : b;
        uint64_t wide = (uint64_t)add1 + add2 + (unsigned)v;
        res = (uint32_t)wide;
        int cout = (int)(wide >> 32);
        set_carries(vm, add1 ^ add2 ^ res, cout);
        if ((unsigned)cout ^ (b >> 31)) vm->s.psw |= PSW_V; else vm->s.psw &= ~PSW_V;
        core_set_gr(vm, t, res);
        return nullify_if(cf ? cond_arith(cf, res, cout, add_sv(res, add1, add2)) : 0);
    }
    case 0x22: {                                            /* comclr */
        if (bit26) break;
        res = a - b;
        int cond = cf ? cond_arith(cf, res, a >= b, sub_sv(res, a, b)) : 0;
        core_set_gr(vm, t, 0);
        return nullify_if(cond);
    }
    case 0x26: case 0x27: {                                 /* uaddcm, uaddcmt */
        if (bit26) break;
        uint32_t nb = ~b;
        res = a + nb;
        int cond = cf ? cond_unit(cf, res, a, nb) : 0;
        if (ext == 0x27 && cond) return INT_COND;
        core_set_gr(vm, t, res);
        return nullify_if(cond & (ext == 0x26));
    }
    case 0x2E: case 0x2F: {                                 /* dcor, idcor */
        if (bit26 || r1 != 0) break;
        /* digit carries from the PSW C/B field: bit 8+i = carry out of digit i */
        uint32_t digits = 0;
        for (int i = 0; i < 8; i++)
            if (vm->s.psw & (1u << (8 + i))) digits |= 1u << (4 * i);
        if (ext == 0x2E) digits = ~digits & 0x11111111u;
        uint32_t adj = digits * 6;
        res = ext == 0x2F ? b + adj : b - adj;
        core_set_gr(vm, t, res);
        return nullify_if(cf ? cond_unit(cf, res, b, adj) : 0);
    }
    case 0x18: case 0x19: case 0x1A: case 0x1B:             /* add, shNadd */
        return do_add(vm, t, a << (ext & 3), b, 0, cf, 0, 0, 0);
    case 0x28: case 0x29: case 0x2A: case 0x2B:             /* addl, shNaddl */
        if (bit26) break;
        return do_add(vm, t, a << (ext & 3), b, 0, cf, 1, 0, 0);
    case 0x38: case 0x39: case 0x3A: case 0x3B:             /* addo, shNaddo */
        if (bit26) break;
        return do_add(vm, t, a << (ext & 3), b, 0, cf, 0, 1, 0);
    case 0x1C:                                              /* addc */
        if (bit26) break;
        return do_add(vm, t, a, b, (unsigned)psw_carry(vm), cf, 0, 0, 0);
    case 0x3C:                                              /* addco */
        if (bit26) break;
        return do_add(vm, t, a, b, (unsigned)psw_carry(vm), cf, 0, 1, 0);
    case 0x10: return do_sub(vm, t, a, b, 1, cf, 0, 0);     /* sub */
    case 0x30: if (bit26) break; return do_sub(vm, t, a, b, 1, cf, 1, 0);   /* subo */
    case 0x13: if (bit26) break; return do_sub(vm, t, a, b, 1, cf, 0, 1);   /* subt */
    case 0x33: if (bit26) break; return do_sub(vm, t, a, b, 1, cf, 1, 1);   /* subto */
    case 0x14: if (bit26) break;                                            /* subb */
        return do_sub(vm, t, a, b, (unsigned)psw_carry(vm), cf, 0, 0);
    case 0x34: if (bit26) break;                                            /* subbo */
        return do_sub(vm, t, a, b, (unsigned)psw_carry(vm), cf, 1, 0);
    default: break;
    }
    return INT_ILLEGAL;

logical:
    core_set_gr(vm, t, res);
    return nullify_if(cf ? cond_arith(cf, res, 0, 0) : 0);
}

/* addi, addio, addit, addito, subi, subio, comiclr (major 0x24, 0x25, 0x2C, 0x2D) */
static int exec_arith_imm(hv_vm_t *vm, uint32_t insn, unsigned op)
{
    unsigned r = BITS(insn, 6, 10), t = BITS(insn, 11, 15), cf = BITS(insn, 16, 19);
    unsigned o = BITS(insn, 20, 20);
    uint32_t i = (uint32_t)low_sign_ext(insn & 0x7ff, 11), b = vm->s.gr[r];
    switch (op) {
    case 0x2D: return do_add(vm, t, i, b, 0, cf, 0, (int)o, 0);          /* addi[o] */
    case 0x2C: return do_add(vm, t, i, b, 0, cf, 0, (int)o, 1);          /* addit[o] */
    case 0x25: return do_sub(vm, t, i, b, 1, cf, (int)o, 0);             /* subi[o] */
    default: {                                                            /* comiclr */
        if (o) return INT_ILLEGAL;
        uint32_t res = i - b;
        int cond = cf ? cond_arith(cf, res, i >= b, sub_sv(res, i, b)) : 0;
        core_set_gr(vm, t, 0);
        return nullify_if(cond);
    }
    }
}

/* shifts, extracts (major 0x34) and deposits (0x35) */
static inline uint32_t mask_low(unsigned len) { return len >= 32 ? ~0u : (1u << len) - 1; }

static int exec_shift_extract(hv_vm_t *vm, uint32_t insn)
{
    unsigned c = BITS(insn, 16, 18), sub = BITS(insn, 19, 20), se = BITS(insn, 21, 21);
    unsigned p = BITS(insn, 22, 26), f5 = insn & 31;
    uint32_t res;
    unsigned t;
    if (sub < 2) {                                    /* shd / vshd: r1||r2 shifted right */
        if (se) return INT_ILLEGAL;
        unsigned r2 = BITS(insn, 6, 10), r1 = BITS(insn, 11, 15);
        unsigned sa;
        if (sub == 0) {
            if (p) return INT_ILLEGAL;
            sa = vm->s.cr[CR_SAR] & 31;
        } else {
            sa = 31 - p;
        }
        uint64_t pair = (uint64_t)vm->s.gr[r1] << 32 | vm->s.gr[r2];
        res = (uint32_t)(pair >> sa);
        t = f5;
    } else {                                          /* extru/extrs, vextru/vextrs */
        unsigned r = BITS(insn, 6, 10);
        unsigned len = 32 - f5, pos;
        t = BITS(insn, 11, 15);
        if (sub == 2) {
            if (p) return INT_ILLEGAL;
            pos = 31 - (vm->s.cr[CR_SAR] & 31);       /* SAR numbers bits from the MSB */
        } else {
            pos = 31 - p;
        }
        uint32_t v = vm->s.gr[r] >> pos;
        if (len > 32 - pos) len = 32 - pos;
        res = v & mask_low(len);
        if (se && len < 32 && (res >> (len - 1)) & 1)
            res |= ~mask_low(len);
    }
    core_set_gr(vm, t, res);
    return nullify_if(c ? cond_sed(c, res) : 0);
}

static int exec_deposit(hv_vm_t *vm, uint32_t insn)
{
    unsigned t = BITS(insn, 6, 10), rf = BITS(insn, 11, 15), c = BITS(insn, 16, 18);
    unsigned sub = BITS(insn, 19, 20), nz = BITS(insn, 21, 21), cp = BITS(insn, 22, 26);
    unsigned len = 32 - (insn & 31), pos;
    uint32_t val = (sub & 2) ? (uint32_t)low_sign_ext(rf, 5) : vm->s.gr[rf];
    if (sub & 1) {
        pos = cp;                                     /* field holds 31 - p: LSB position */
    } else {
        if (cp) return INT_ILLEGAL;
        pos = 31 - (vm->s.cr[CR_SAR] & 31);
    }
    if (len > 32 - pos) len = 32 - pos;
    uint32_t m = mask_low(len) << pos;
    uint32_t res = ((val << pos) & m) | (nz ? vm->s.gr[t] & ~m : 0);
    core_set_gr(vm, t, res);
    return nullify_if(c ? cond_sed(c, res) : 0);
}

/* ===================================================================== */
/* loads and stores                                                       */
/* ===================================================================== */

/* Effective address: modify < 0 pre-modify, > 0 post-modify, 0 none.  The
 * space comes from the ORIGINAL base (implicit sr4..sr7 by its top bits). */
typedef struct ea { uint32_t space, addr, newbase; } ea_t;

static inline ea_t form_ea(const hv_vm_t *vm, unsigned sp, unsigned b, uint32_t ofs_add,
                           int modify)
{
    uint32_t base = vm->s.gr[b];
    ea_t e;
    e.newbase = base + ofs_add;
    e.addr = modify > 0 ? base : e.newbase;
    e.space = core_space(vm, sp, base);
    return e;
}

static inline __attribute__((always_inline)) int do_ld(hv_vm_t *vm, unsigned t, unsigned b,
                                                       ea_t e, unsigned size, int modify)
{
    uint64_t v;
    int r = core_load_fast(vm, e.space, e.addr, size, &v);
    if (r) return r;
    if (modify) core_set_gr(vm, b, e.newbase);
    core_set_gr(vm, t, (uint32_t)v);                  /* if t == b the loaded value wins */
    return EX_OK;
}

static inline __attribute__((always_inline)) int do_st(hv_vm_t *vm, unsigned b, ea_t e,
                                                       unsigned size, uint32_t val, int modify)
{
    int r = core_store_fast(vm, e.space, e.addr, size, val);
    if (r) return r;
    if (modify) core_set_gr(vm, b, e.newbase);
    return EX_OK;
}

/* ldb/ldh/ldw/ldwm (0x10-0x13), stb/sth/stw/stwm (0x18-0x1B); op is a constant
 * at every call site, so each instance compiles to its own straight-line code */
static inline __attribute__((always_inline)) int exec_ldst_disp(hv_vm_t *vm, uint32_t insn,
                                                                unsigned op)
{
    unsigned b = BITS(insn, 6, 10), tr = BITS(insn, 11, 15), sp = BITS(insn, 16, 17);
    int32_t disp = low_sign_ext(insn & 0x3fff, 14);
    unsigned size = 1u << (op & 3);
    int modify = 0;
    if ((op & 3) == 3) {                              /* ldwm / stwm */
        size = 4;
        modify = (insn & 1) ? -1 : 1;                 /* negative: modify before */
    }
    ea_t e = form_ea(vm, sp, b, (uint32_t)disp, modify);
    if (op < 0x18)
        return do_ld(vm, tr, b, e, size, modify);
    return do_st(vm, b, e, size, vm->s.gr[tr], modify);
}

/* major 0x03: indexed and short-displacement loads/stores, ldcw, stby, ldwa/stwa */
static int exec_ldst_index(hv_vm_t *vm, uint32_t insn)
{
    unsigned b = BITS(insn, 6, 10), xr = BITS(insn, 11, 15), sp = BITS(insn, 16, 17);
    unsigned au = BITS(insn, 18, 18), isshort = BITS(insn, 19, 19);
    unsigned ext4 = BITS(insn, 22, 25), m = BITS(insn, 26, 26), t = insn & 31;
    int modify;
    ea_t e;

    if (isshort) {
        /* short displacement: modify-before when a (bit 18) is set and m */
        modify = m ? (au ? -1 : 1) : 0;
    } else {
        modify = m ? 1 : 0;                            /* indexed,m: post-modify */
    }

    if (LIKELY(ext4 < 3)) {                            /* ldb/ldh/ldw: the hot forms */
        uint32_t ofs;
        if (isshort) {
            ofs = (uint32_t)low_sign_ext(xr, 5);
        } else {
            ofs = vm->s.gr[xr];
            if (au) ofs <<= ext4;                      /* ,s: scale by the access size */
        }
        e = form_ea(vm, sp, b, ofs, modify);
        switch (ext4) {                                /* constant sizes: straight-line code */
        case 0: return do_ld(vm, t, b, e, 1, modify);
        case 1: return do_ld(vm, t, b, e, 2, modify);
        default: return do_ld(vm, t, b, e, 4, modify);
        }
    }
    if (ext4 < 4 || ext4 == 6 || ext4 == 7) {          /* (ldd), ldwa, ldcw */
        unsigned size = ext4 < 4 ? 1u << ext4 : 4;
        if (ext4 == 3) return INT_ILLEGAL;             /* ldd is PA 2.0 */
        if (isshort) {
            e = form_ea(vm, sp, b, (uint32_t)low_sign_ext(xr, 5), modify);
        } else {
            uint32_t x = vm->s.gr[xr];
            if (au) x <<= (ext4 < 4 ? ext4 : 2);       /* ,s: scale by the access size */
            e = form_ea(vm, sp, b, x, modify);
        }
        if (ext4 == 6) {                               /* ldwa: absolute (physical) */
            if (core_privilege(vm)) return INT_PRIV_OP;
            uint32_t save = vm->s.psw;
            vm->s.psw &= ~PSW_D;
            int r = do_ld(vm, t, b, e, 4, modify);
            vm->s.psw = save;
            return r;
        }
        if (ext4 == 7) {                               /* ldcw: load and clear */
            uint64_t v;
            int r = core_load(vm, e.space, e.addr, 4, &v);
            if (r) return r;
            r = core_store(vm, e.space, e.addr, 4, 0);
            if (r) return r;
            if (modify) core_set_gr(vm, b, e.newbase);
            core_set_gr(vm, t, (uint32_t)v);
            return EX_OK;
        }
        return do_ld(vm, t, b, e, size, modify);
    }
    if (!isshort) return INT_ILLEGAL;
    int32_t disp = low_sign_ext(t, 5);
    uint32_t val = vm->s.gr[xr];
    switch (ext4) {
    case 8:                                            /* stbs/sths/stws */
        return do_st(vm, b, form_ea(vm, sp, b, (uint32_t)disp, modify), 1, val, modify);
    case 9:
        return do_st(vm, b, form_ea(vm, sp, b, (uint32_t)disp, modify), 2, val, modify);
    case 10:
        return do_st(vm, b, form_ea(vm, sp, b, (uint32_t)disp, modify), 4, val, modify);
    case 14: {                                         /* stwa: absolute */
        if (core_privilege(vm)) return INT_PRIV_OP;
        e = form_ea(vm, sp, b, (uint32_t)disp, modify);
        uint32_t save = vm->s.psw;
        vm->s.psw &= ~PSW_D;
        int r = do_st(vm, b, e, 4, val, modify);
        vm->s.psw = save;
        return r;
    }
    case 12: {                                         /* stbys: begin (a=0) / end (a=1) */
        e = form_ea(vm, sp, b, (uint32_t)disp, m ? 1 : 0);
        uint32_t addr = e.addr, word = addr & ~3u;
        unsigned k = addr & 3;
        int r = EX_OK;
        /* check the word's translation and rights once, then store the bytes */
        uint32_t pa;
        if (!au) {
            if (k == 0) r = core_store(vm, e.space, addr, 4, val);
            else if (k == 1) {
                r = data_translate(vm, e.space, word, 1, &pa);
                if (!r) r = core_store(vm, e.space, addr, 1, val >> 16);
                if (!r) r = core_store(vm, e.space, addr + 1, 2, val);
            } else if (k == 2) r = core_store(vm, e.space, addr, 2, val);
            else r = core_store(vm, e.space, addr, 1, val);
        } else {
            if (k == 3) {
                r = data_translate(vm, e.space, word, 1, &pa);
                if (!r) r = core_store(vm, e.space, word, 2, val >> 16);
                if (!r) r = core_store(vm, e.space, word + 2, 1, val >> 8);
            } else if (k == 2) r = core_store(vm, e.space, word, 2, val >> 16);
            else if (k == 1) r = core_store(vm, e.space, word, 1, val >> 24);
            else r = data_translate(vm, e.space, word, 1, &pa);   /* probe only */
        }
        if (r) return r;
        if (m) core_set_gr(vm, b, e.newbase & ~3u);
        return EX_OK;
    }
    default:
        return INT_ILLEGAL;
    }
}

/* ===================================================================== */
/* branches                                                               */
/* ===================================================================== */

static inline int32_t assemble_12(uint32_t insn)
{
    uint32_t v = (insn & 1) << 11 | BITS(insn, 29, 29) << 10 | BITS(insn, 19, 28);
    return sext(v, 12) * 4;
}

static inline int32_t assemble_17(uint32_t insn)
{
    uint32_t v = (insn & 1) << 16 | BITS(insn, 11, 15) << 11 | BITS(insn, 29, 29) << 10
               | BITS(insn, 19, 28);
    return sext(v, 17) * 4;
}

static inline int32_t assemble_22(uint32_t insn)
{
    uint32_t v = (insn & 1) << 21 | BITS(insn, 6, 15) << 11 | BITS(insn, 29, 29) << 10
               | BITS(insn, 19, 28);
    return sext(v, 22) * 4;
}

/* Conditional branch: taken goes to iaoq_f + 8 + disp.  With ,n the delay slot is
 * nullified when a forward branch is taken or a backward branch is not. */
static inline int cbranch(hv_vm_t *vm, int taken, int32_t disp, unsigned n)
{
    if (taken) {
        vm->next_off = vm->s.iaoq_f + 8 + (uint32_t)disp;
        vm->next_space = vm->s.iasq_b;
        return EX_BRANCH | nullify_if(n && disp >= 0);
    }
    return nullify_if(n && disp < 0);
}

/* the target of an indirect branch may lower the privilege, never raise it */
static inline uint32_t branch_priv(const hv_vm_t *vm, uint32_t dest)
{
    uint32_t priv = vm->s.iaoq_f & 3;
    if (priv == 0) return dest;
    if (priv == 3) return dest | 3;
    uint32_t d = (dest & ~3u) | priv;
    return d > dest ? d : dest;
}

static inline int ubranch(hv_vm_t *vm, uint32_t dest, unsigned n)
{
    vm->next_off = dest;
    vm->next_space = vm->s.iasq_b;
    return EX_BRANCH | nullify_if((int)n);
}

static int exec_branch_group(hv_vm_t *vm, uint32_t insn)   /* major 0x3A */
{
    unsigned t = BITS(insn, 6, 10), x = BITS(insn, 11, 15), sub = BITS(insn, 16, 18);
    unsigned n = BITS(insn, 30, 30);
    uint32_t link = vm->s.iaoq_b + 4;
    switch (sub) {
    case 0: case 4:                                   /* bl */
        core_set_gr(vm, t, link);
        return ubranch(vm, vm->s.iaoq_f + 8 + (uint32_t)assemble_17(insn), n);
    case 5:                                           /* bl,l (22-bit displacement, link r2) */
        core_set_gr(vm, 2, link);
        return ubranch(vm, vm->s.iaoq_f + 8 + (uint32_t)assemble_22(insn), n);
    case 1: {                                         /* gate */
        uint32_t dest = vm->s.iaoq_f + 8 + (uint32_t)assemble_17(insn);
        uint32_t priv = vm->s.iaoq_f & 3;
        if (vm->s.iaoq_b != vm->s.iaoq_f + 4)
            return INT_ILLEGAL;                       /* gate in a taken branch's delay slot */
        if (vm->s.psw & PSW_C) {
            int type = mmu_page_artype(vm, vm->s.iasq_f, vm->s.iaoq_f & ~3u);
            if (type < 0) {
                core_fault_addr(vm, vm->s.iasq_f, vm->s.iaoq_f & ~3u);
                return INT_ITLB_MISS;
            }
            if (type >= 4 && (uint32_t)(type - 4) < priv)
                dest = (dest & ~3u) | (uint32_t)(type - 4);
        } else {
            dest &= ~3u;
        }
        if (t) {
            uint32_t v = vm->s.gr[t];
            if (priv < 3) v &= ~3u;
            core_set_gr(vm, t, v | priv);
        }
        return ubranch(vm, dest, n);
    }
    case 2:                                           /* blr */
        if (BITS(insn, 19, 29) != 0 || (insn & 1)) return INT_ILLEGAL;
    {
        uint32_t dest = vm->s.iaoq_f + 8 + (vm->s.gr[x] << 3);   /* before the link: x may be t */
        core_set_gr(vm, t, link);
        return ubranch(vm, dest, n);
    }
    case 6: case 7:
        if (BITS(insn, 19, 19) == 0) {                /* bv */
            if (sub != 6 || BITS(insn, 20, 29) != 0 || (insn & 1)) return INT_ILLEGAL;
            uint32_t dest = vm->s.gr[t] + (vm->s.gr[x] << 3);
            return ubranch(vm, branch_priv(vm, dest), n);
        } else {                                      /* bve (PA 2.0) */
            if (x || BITS(insn, 20, 29) != 0) return INT_ILLEGAL;
            uint32_t dest = branch_priv(vm, vm->s.gr[t]);
            if (sub == 7) core_set_gr(vm, 2, link);
            int r = ubranch(vm, dest, n);
            vm->next_space = vm->s.sr[4 + (dest >> 30)];
            return r;
        }
    default:
        return INT_ILLEGAL;
    }
}

static int exec_be(hv_vm_t *vm, uint32_t insn, int is_ble)
{
    unsigned b = BITS(insn, 6, 10), n = BITS(insn, 30, 30);
    unsigned sp = BITS(insn, 18, 18) << 2 | BITS(insn, 16, 17);
    uint32_t dest = branch_priv(vm, vm->s.gr[b] + (uint32_t)assemble_17(insn));
    uint32_t space = vm->s.sr[sp];
    if (is_ble) {
        core_set_gr(vm, 31, vm->s.iaoq_b + 4);
        vm->s.sr[0] = vm->s.iasq_f;
    }
    int r = ubranch(vm, dest, n);
    vm->next_space = space;
    return r;
}

/* compare/add/move-and-branch, branch on bit (majors 0x20-0x23, 0x28-0x2B, 0x30-0x33) */
static int exec_cond_branch(hv_vm_t *vm, uint32_t insn, unsigned op)
{
    unsigned r2 = BITS(insn, 6, 10), r1 = BITS(insn, 11, 15), c = BITS(insn, 16, 18);
    unsigned n = BITS(insn, 30, 30);
    int32_t disp = assemble_12(insn);
    uint32_t in1, in2, res;
    int taken;

    switch (op) {
    case 0x20: case 0x22: case 0x21: case 0x23: {    /* comb, comib */
        unsigned f = (op >> 1) & 1;
        in1 = (op & 1) ? (uint32_t)low_sign_ext(r1, 5) : vm->s.gr[r1];
        in2 = vm->s.gr[r2];
        res = in1 - in2;
        taken = cond_arith(c << 1 | f, res, in1 >= in2, sub_sv(res, in1, in2));
        break;
    }
    case 0x28: case 0x2A: case 0x29: case 0x2B: {    /* addb, addib */
        unsigned f = (op >> 1) & 1;
        in1 = (op & 1) ? (uint32_t)low_sign_ext(r1, 5) : vm->s.gr[r1];
        in2 = vm->s.gr[r2];
        uint64_t wide = (uint64_t)in1 + in2;
        res = (uint32_t)wide;
        taken = cond_arith(c << 1 | f, res, (int)(wide >> 32), add_sv(res, in1, in2));
        core_set_gr(vm, r2, res);
        break;
    }
    case 0x30:                                        /* bvb: bit SAR */
        if (r2 != 0 || BITS(insn, 17, 18) != 2) return INT_ILLEGAL;
        res = vm->s.gr[r1] << (vm->s.cr[CR_SAR] & 31);
        taken = ((int32_t)res < 0) ^ (int)BITS(insn, 16, 16);
        break;
    case 0x31:                                        /* bb: bit p */
        if (BITS(insn, 17, 18) != 2) return INT_ILLEGAL;
        res = vm->s.gr[r1] << r2;
        taken = ((int32_t)res < 0) ^ (int)BITS(insn, 16, 16);
        break;
    case 0x32:                                        /* movb */
        res = vm->s.gr[r1];
        core_set_gr(vm, r2, res);
        taken = cond_sed(c, res);
        break;
    default:                                          /* 0x33 movib */
        res = (uint32_t)low_sign_ext(r1, 5);
        core_set_gr(vm, r2, res);
        taken = cond_sed(c, res);
        break;
    }
    return cbranch(vm, taken, disp, n);
}

/* ===================================================================== */
/* QEMU's emulator-only instructions (major 0x3F)                         */
/* ===================================================================== */

static int exec_qemu_special(hv_vm_t *vm, uint32_t insn)
{
    if (insn < 0xFFFDEAD0u || insn > 0xFFFDEAD2u) return INT_ILLEGAL;
    if (core_privilege(vm)) return INT_PRIV_OP;
    if (insn == 0xFFFDEAD2u) {                        /* getshadowregs */
        core_restore_shadows(vm);
        return EX_OK;
    }
    hv_exit_t *e = vm->exit;                          /* halt (0) / reset (1) */
    e->reason = HV_EXIT_HALT;
    e->addr = insn & 1;
    return EX_EXIT;
}

/* ===================================================================== */
/* dispatch                                                               */
/* ===================================================================== */

/* sys.c and fpu.c report nullification, branches and rfi through vm fields */
static int sys(hv_vm_t *vm, uint32_t insn)
{
    vm->next_off = vm->s.iaoq_b + 4;
    vm->next_space = vm->s.iasq_b;
    vm->nullify_next = 0;
    vm->queue_replaced = 0;
    int r = sys_exec(vm, insn);
    core_note_event(vm);                                    /* PSW, EIEM, TLB ... may have changed */
    if (r != EX_OK) return r;
    if (vm->queue_replaced) return EX_REPLACED;
    return EX_BRANCH | nullify_if(vm->nullify_next);
}

static int fpu(hv_vm_t *vm, uint32_t insn)
{
    vm->nullify_next = 0;
    int r = fpu_exec(vm, insn);
    return r == EX_OK ? nullify_if(vm->nullify_next) : r;
}

static inline int execute(hv_vm_t *vm, uint32_t insn)
{
    unsigned op = insn >> 26;
    switch (op) {
    case 0x00: case 0x01: case 0x05:
        return sys(vm, insn);
    case 0x02: return exec_arith(vm, insn);
    case 0x03: return exec_ldst_index(vm, insn);
    case 0x06: case 0x09: case 0x0B: case 0x0C: case 0x0E: case 0x26: case 0x2E:
    case 0x14: case 0x16: case 0x1C: case 0x1E:
        return fpu(vm, insn);
    case 0x17: case 0x1F:                             /* PA 2.0 fldw/fstw (bit 30 clear) */
        if (BITS(insn, 29, 30) == 2) return INT_ILLEGAL;   /* PA 2.0 ldw/stw,m */
        return fpu(vm, insn);
    case 0x08:                                        /* ldil */
        core_set_gr(vm, BITS(insn, 6, 10), ((insn & 1) << 20 | BITS(insn, 20, 30) << 9
                    | BITS(insn, 16, 17) << 7 | BITS(insn, 11, 15) << 2 | BITS(insn, 18, 19)) << 11);
        return EX_OK;
    case 0x0A:                                        /* addil */
        core_set_gr(vm, 1, vm->s.gr[BITS(insn, 6, 10)] +
                    (((insn & 1) << 20 | BITS(insn, 20, 30) << 9 | BITS(insn, 16, 17) << 7
                      | BITS(insn, 11, 15) << 2 | BITS(insn, 18, 19)) << 11));
        return EX_OK;
    case 0x0D:                                        /* ldo */
        core_set_gr(vm, BITS(insn, 11, 15),
                    vm->s.gr[BITS(insn, 6, 10)] + (uint32_t)low_sign_ext(insn & 0x3fff, 14));
        return EX_OK;
    case 0x10: return exec_ldst_disp(vm, insn, 0x10);
    case 0x11: return exec_ldst_disp(vm, insn, 0x11);
    case 0x12: return exec_ldst_disp(vm, insn, 0x12);
    case 0x13: return exec_ldst_disp(vm, insn, 0x13);
    case 0x18: return exec_ldst_disp(vm, insn, 0x18);
    case 0x19: return exec_ldst_disp(vm, insn, 0x19);
    case 0x1A: return exec_ldst_disp(vm, insn, 0x1A);
    case 0x1B: return exec_ldst_disp(vm, insn, 0x1B);
    case 0x20: case 0x21: case 0x22: case 0x23:
    case 0x28: case 0x29: case 0x2A: case 0x2B:
    case 0x30: case 0x31: case 0x32: case 0x33:
        return exec_cond_branch(vm, insn, op);
    case 0x24: case 0x25: case 0x2C: case 0x2D:
        return exec_arith_imm(vm, insn, op);
    case 0x34: return exec_shift_extract(vm, insn);
    case 0x35: return exec_deposit(vm, insn);
    case 0x38: return exec_be(vm, insn, 0);
    case 0x39: return exec_be(vm, insn, 1);
    case 0x3A: return exec_branch_group(vm, insn);
    case 0x3F: return exec_qemu_special(vm, insn);
    default: return INT_ILLEGAL;
    }
}

#include "fastpath.h"

/* ===================================================================== */
/* interruptions                                                          */
/* ===================================================================== */

static void deliver(hv_vm_t *vm, int i, uint32_t insn)
{
    hv_cpu_state_t *s = &vm->s;
    uint32_t old = s->psw;

    if (i == INT_ILLEGAL)
        s->illegal_count++;
    s->cr[CR_IPSW] = old;
    s->psw = i == INT_HPMC ? PSW_M : 0;
    s->cr[CR_IIASQ] = s->iasq_f;
    s->iiasq_back = s->iasq_b;
    s->cr[CR_IIAOQ] = s->iaoq_f;
    s->iiaoq_back = s->iaoq_b;

    switch (i) {                  /* IIR: the instruction, for the traps that name one */
    case INT_ILLEGAL: case INT_BREAK: case INT_PRIV_REG: case INT_PRIV_OP:
        s->cr[CR_IIR] = insn;
        break;
    case INT_OVERFLOW: case INT_COND: case INT_ASSIST_EXC: case INT_DTLB_MISS:
    case INT_NA_ITLB_MISS: case INT_NA_DTLB_MISS: case INT_DMAR: case INT_DMPI:
    case INT_UNALIGNED: case INT_DMP: case INT_DMB: case INT_TLB_DIRTY: case INT_PAGE_REF:
    case INT_ASSIST_EMU:
        if (old & PSW_Q) s->cr[CR_IIR] = insn;
        break;
    default:
        break;
    }
    if (old & PSW_Q) {
        if (vm->fault_valid) {
            s->cr[CR_ISR] = vm->fault_space;
            s->cr[CR_IOR] = vm->fault_off;
        }
        for (int k = 0; k < 7; k++)
            s->shadow[k] = s->gr[SHADOW_GR[k]];
    }
    vm->fault_valid = 0;
    s->iaoq_f = s->cr[CR_IVA] + 32u * (uint32_t)i;
    s->iaoq_b = s->iaoq_f + 4;
    s->iasq_f = s->iasq_b = 0;
    mmu_flush_cache(vm);
    core_note_event(vm);
}

/* ===================================================================== */
/* fetch                                                                  */
/* ===================================================================== */

/* Fetch the instruction at the front of the queue.  Returns EX_OK, an
 * interruption, or EX_EXIT (fetch from I/O space: a FAULT exit). */
static inline int fetch(hv_vm_t *vm, uint32_t *insn)
{
    hv_cpu_state_t *s = &vm->s;
    uint32_t off = s->iaoq_f & ~3u;
    /* code_page holds the page bits and the privilege of iaoq_f; the slow path
     * drops the cache when the TLB generation or PSW.C changed */
    if (LIKELY((s->iaoq_f & 0xFFFFF003u) == vm->code_page && vm->code_space == s->iasq_f
               && vm->code_host)) {
        const uint8_t *p = vm->code_host + (off & (PAGE_SIZE - 1));
        *insn = core_load_be32(p);
        return EX_OK;
    }
    uint32_t pa = off;
    if (s->psw & PSW_C) {
        int r = mmu_translate(vm, s->iasq_f, off, 2, 1, &pa);
        if (r) {
            core_fault_addr(vm, s->iasq_f, off);
            return r;
        }
    }
    uint8_t *page = phys_ptr(vm, pa & ~(PAGE_SIZE - 1), PAGE_SIZE);
    if (!page) {
        hv_exit_t *e = vm->exit;
        e->reason = HV_EXIT_FAULT;
        e->addr = s->iaoq_f;
        snprintf(e->msg, sizeof e->msg, "instruction fetch from non-memory address 0x%08x",
                 (unsigned)pa);
        return EX_EXIT;
    }
    vm->code_host = page;
    vm->code_page = s->iaoq_f & 0xFFFFF003u;
    vm->code_space = s->iasq_f;
    vm->code_gen = vm->tlb_gen;
    vm->code_psw = s->psw & PSW_C;
    const uint8_t *p = page + (off & (PAGE_SIZE - 1));
    *insn = core_load_be32(p);
    return EX_OK;
}

/* ===================================================================== */
/* the run loop                                                           */
/* ===================================================================== */

static void fill_exit(hv_vm_t *vm, hv_exit_t *out, uint32_t reason)
{
    out->reason = reason;
    out->pc_space = vm->s.iasq_f;
    out->pc = vm->s.iaoq_f;
    out->icount = vm->s.icount;
    uint32_t insn = 0, pa = vm->s.iaoq_f & ~3u;
    if (!(vm->s.psw & PSW_C) || mmu_translate(vm, vm->s.iasq_f, pa, 3, 1, &pa) == EX_OK) {
        uint8_t *p = phys_ptr(vm, pa, 4);
        if (p) insn = core_load_be32(p);
    }
    out->insn = insn;
}

/* ---- epochs ---- */

int hv_epoch_config(hv_vm_t *vm, uint32_t length, uint32_t flags)
{
    if (length == 0) {
        vm->epoch_len = 0;
        vm->epoch_end = ~0ull;
    } else {
        vm->epoch_len = length;
        vm->epoch_end = (vm->s.icount / length + 1) * length;
    }
    vm->epoch_flags = flags;
    vm->epoch_exit_next = 0;
    vm->epoch_n = 0;
    core_note_event(vm);
    return 0;
}

void hv_epoch_exit_next(hv_vm_t *vm) { vm->epoch_exit_next = 1; }

uint32_t hv_epoch_take(hv_vm_t *vm, hv_epoch_rec_t *out, uint32_t max)
{
    uint32_t n = vm->epoch_n < max ? vm->epoch_n : max;
    memcpy(out, vm->epoch_buf, n * sizeof *out);
    memmove(vm->epoch_buf, vm->epoch_buf + n, (vm->epoch_n - n) * sizeof *out);
    vm->epoch_n -= n;
    return n;
}

/* The end of an epoch, before the next instruction and any interrupt delivery: append
 * its record; tell the caller to exit if the hypervisor wants to see it.  This is the
 * whole per-epoch cost when there is nothing to deliver (architecture section 2). */
static int epoch_boundary(hv_vm_t *vm, hv_exit_t *out)
{
    uint64_t e = vm->epoch_end / vm->epoch_len - 1;
    if (vm->epoch_n == EPOCH_BUF) {       /* not drained: no room; ask again until it is */
        fill_exit(vm, out, HV_EXIT_EPOCH);
        out->addr = (uint32_t)e;
        return 1;
    }
    hv_epoch_rec_t *r = &vm->epoch_buf[vm->epoch_n++];
    r->epoch = e;
    r->digest = (vm->epoch_flags & HV_EPOCH_DIGEST) ? hv_digest(vm) : 0;
    vm->epoch_end += vm->epoch_len;
    if ((vm->epoch_flags & HV_EPOCH_EXIT_EACH) || vm->epoch_exit_next
        || vm->epoch_n == EPOCH_BUF) {
        vm->epoch_exit_next = 0;
        fill_exit(vm, out, HV_EXIT_EPOCH);
        out->addr = (uint32_t)e;
        return 1;
    }
    return 0;
}

/* Recompute the persistent slow-path conditions.  When the fast path may run, a
 * breakpoint is a mark on its page: only instructions on a page holding a breakpoint
 * are checked one by one (hv_run comes back here whenever the front of the queue
 * reaches another page); on the reference path every instruction is. */
static inline void update_slow(hv_vm_t *vm, int fast)
{
    int bp = vm->nbp > 0;
    if (bp && fast) {
        uint32_t page = vm->s.iaoq_f & ~(PAGE_SIZE - 1);
        bp = 0;
        for (int k = 0; k < vm->nbp; k++)
            if ((vm->bp[k] & ~(PAGE_SIZE - 1)) == page) {
                bp = 1;
                break;
            }
        vm->bp_page = page;
    }
    vm->slow = bp || vm->nwp > 0 || (vm->s.psw & PSW_R) != 0 || vm->io_nlog > 0;
}

void hv_run(hv_vm_t *vm, uint64_t budget, uint32_t flags, hv_exit_t *out)
{
    hv_cpu_state_t *s = &vm->s;
    memset(out, 0, sizeof *out);
    vm->exit = out;
    uint64_t end = s->icount + budget;
    if (end < s->icount) end = ~0ull;
    int skip_bp = (flags & HV_RUN_SKIP_BP) != 0;
    int fast = (flags & HV_RUN_REFERENCE) == 0;
    int bp_pages = fast && vm->nbp > 0;      /* breakpoints as per-page marks (update_slow) */
    core_note_event(vm);
    vm->queue_replaced = 0;
    vm->io_pos = 0;                          /* replay the I/O journal from its start */

    /* The hot state lives in locals; s->... is brought up to date before anything
     * that may read it (every instruction stores the queue front/back, so exec
     * functions see them; icount is synced before system ops and on the slow path). */
    uint64_t ic = s->icount;
    uint32_t qf = s->iaoq_f, qb = s->iaoq_b;
    uint32_t ckey = 0xFFCu;                  /* code cache key: impossible value = empty */
    const uint8_t *chost = NULL;
    vm->check_at = 0;
    vm->run_end = end;
#define SYNC()   (s->iaoq_f = qf, s->iaoq_b = qb, s->icount = ic)
#define RELOAD() (qf = s->iaoq_f, qb = s->iaoq_b, ic = s->icount, ckey = 0xFFCu)

    for (;;) {
        /* ---- between instructions: everything that is not the common case ---- */
        if (UNLIKELY(ic >= vm->check_at)) {      /* core_note_event() zeroes check_at */
            SYNC();
            ckey = 0xFFCu;
            int pending_io = vm->io_nlog > 0;     /* an exited instruction must complete first */
            if (vm->stop_requested) {
                __atomic_store_n(&vm->stop_requested, 0, __ATOMIC_RELAXED);
                fill_exit(vm, out, HV_EXIT_STOP);
                return;
            }
            if (vm->wp_pending) {
                vm->wp_pending = 0;
                fill_exit(vm, out, HV_EXIT_WATCHPOINT);
                out->addr = vm->wp_hit_addr;
                out->size = (uint32_t)vm->wp_hit_kind;
                return;
            }
            if (ic >= vm->epoch_end && epoch_boundary(vm, out))
                return;
            if (ic >= vm->run_end) {
                fill_exit(vm, out, HV_EXIT_BUDGET);
                return;
            }
            if (ic >= vm->timer_at) {
                vm->timer_at = ~0ull;
                s->cr[CR_EIRR] |= 0x80000000u;    /* interval timer: EIRR bit 0 */
            }
            /* come back here at least every 64K instructions to see stop requests */
            uint64_t at = vm->run_end < vm->timer_at ? vm->run_end : vm->timer_at;
            if (vm->epoch_end < at) at = vm->epoch_end;
            vm->check_at = at - ic > 65536 ? ic + 65536 : at;
            if (vm->code_gen != vm->tlb_gen || vm->code_psw != (s->psw & PSW_C))
                vm->code_host = NULL;
            update_slow(vm, fast);
            vm->event = 0;
            if (vm->slow)                         /* slow conditions keep us coming back */
                vm->check_at = ic + 1;
            if (!pending_io && (s->psw & PSW_I) && (s->cr[CR_EIRR] & s->cr[CR_EIEM])) {
                deliver(vm, INT_EXTERNAL, 0);
                RELOAD();
                continue;
            }
            if (vm->nbp && !skip_bp && !pending_io) {
                uint32_t pc = qf & ~3u;
                for (int k = 0; k < vm->nbp; k++)
                    if (vm->bp[k] == pc) {
                        fill_exit(vm, out, HV_EXIT_BREAKPOINT);
                        out->addr = pc;
                        return;
                    }
            }
            /* recovery counter: trap before an instruction once CR0 went negative */
            if ((s->psw & PSW_R) && !(s->psw & PSW_N) && (int32_t)s->cr[CR_RC] < 0
                && !pending_io) {
                deliver(vm, INT_RECOVERY, 0);
                RELOAD();
                continue;
            }
        }
        skip_bp = 0;
        if (UNLIKELY(bp_pages) && (qf & ~(PAGE_SIZE - 1)) != vm->bp_page) {
            vm->check_at = 0;                     /* a new page: does it hold a breakpoint? */
            continue;
        }

        /* ---- nullified instruction: occupies its slot, does nothing ---- */
        if (UNLIKELY(s->psw & PSW_N)) {
            s->psw &= ~PSW_N;
            qf = qb;
            s->iasq_f = s->iasq_b;
            qb += 4;
            ic++;
            continue;
        }

        /* ---- fetch ---- */
        uint32_t insn = 0;
        int r;
        if (LIKELY((qf & 0xFFFFF003u) == ckey && s->iasq_f == vm->code_space)) {
            const uint8_t *p = chost + (qf & 0xFFCu);
            insn = core_load_be32(p);
            r = EX_OK;
        } else {
            SYNC();
            r = fetch(vm, &insn);
            if (r == EX_OK) {
                ckey = vm->code_page;
                chost = vm->code_host;
            }
        }

        /* ---- execute ---- */
        if (LIKELY(r == EX_OK)) {
            s->iaoq_f = qf;
            s->iaoq_b = qb;
            uint32_t psw_before = s->psw;
            s->icount = ic;                       /* system ops may read the clock */
            if (fast && !vm->slow && s->iasq_f == s->iasq_b) {
                /* the predecoded fast path runs from here until something is due,
                 * the code page changes, or an instruction needs the code below */
                int fr = run_fast(vm, chost, ckey, &insn, &r);
                qf = s->iaoq_f; qb = s->iaoq_b; ic = s->icount;
                if (fr == FAST_TOP)
                    continue;
                goto have_result;
            }
            r = execute(vm, insn);
        have_result:
            if (LIKELY(r == EX_OK)) {
                qf = qb;
                s->iasq_f = s->iasq_b;
                qb += 4;
            } else if (r >= EX_NULLIFY) {
                if (UNLIKELY(r == EX_REPLACED)) {
                    RELOAD();
                } else {
                    qf = qb;
                    s->iasq_f = s->iasq_b;
                    if (r & EX_BRANCH) {
                        qb = vm->next_off;
                        s->iasq_b = vm->next_space;
                    } else {
                        qb += 4;
                    }
                    if (r & EX_NULLIFY) s->psw |= PSW_N;
                }
            }
            if (LIKELY(r >= 0 && (r == EX_OK || r >= EX_NULLIFY))) {
                ic++;
                if (UNLIKELY(vm->slow)) {
                    if (psw_before & PSW_R) s->cr[CR_RC]--;
                    if (vm->wp_pending) core_note_event(vm);
                    if (vm->io_nlog) {            /* the exited instruction completed */
                        io_clear(vm);
                        core_note_event(vm);
                    }
                }
                continue;
            }
        }
        SYNC();
        if (r > 0) {
            vm->wp_pending = 0;
            io_clear(vm);
            deliver(vm, r, insn);
            RELOAD();
            /* a guest whose handler faults again at once never retires anything:
             * give control back rather than spin forever */
            if (vm->last_deliver_icount == ic) {
                if (++vm->deliver_streak >= 100000) {
                    vm->deliver_streak = 0;
                    fill_exit(vm, out, HV_EXIT_FAULT);
                    snprintf(out->msg, sizeof out->msg,
                             "interruption loop: trap %d repeats without progress", r);
                    return;
                }
            } else {
                vm->last_deliver_icount = ic;
                vm->deliver_streak = 0;
            }
            continue;
        }
        /* EX_EXIT: the exit record was filled by whoever exited */
        vm->fault_valid = 0;
        vm->wp_pending = 0;
        uint32_t reason = out->reason;
        uint32_t addr = out->addr, size = out->size, value = out->value, hi = out->value_hi;
        char msg[sizeof out->msg];
        memcpy(msg, out->msg, sizeof msg);
        fill_exit(vm, out, reason);
        out->addr = addr; out->size = size; out->value = value; out->value_hi = hi;
        memcpy(out->msg, msg, sizeof msg);
        return;
    }
#undef SYNC
#undef RELOAD
}

/* ===================================================================== */
/* core snapshot (architected state, TLB, clock; not memory)             */
/* ===================================================================== */

typedef struct core_snap {
    uint32_t magic, version;
    hv_cpu_state_t s;
    tlb_entry_t tlb[TLB_ENTRIES];
    uint32_t tlb_next;
    int32_t clock_mode;
    uint32_t ticks_per_insn;
    uint32_t fpu_shadow;      /* the FP status word the FPU acts on (fpu.c) */
    uint64_t timer_at;
    /* the I/O journal: a snapshot taken between an I/O exit and the re-execution of the
     * instruction restores to the same point */
    uint32_t io_log[IO_LOG_MAX][3];
    int32_t io_nlog, io_answered;
    uint32_t io_pc, pad;
} core_snap_t;

#define SNAP_MAGIC 0x68764353u   /* "hvCS" */
#define SNAP_VERSION 1u

uint32_t hv_core_snapshot_size(void) { return (uint32_t)sizeof(core_snap_t); }

void hv_core_save(hv_vm_t *vm, uint8_t *buf)
{
    core_snap_t snap;
    memset(&snap, 0, sizeof snap);
    snap.magic = SNAP_MAGIC;
    snap.version = SNAP_VERSION;
    snap.s = vm->s;
    memcpy(snap.tlb, vm->tlb, sizeof snap.tlb);
    snap.tlb_next = vm->tlb_next;
    snap.clock_mode = vm->clock_mode;
    snap.ticks_per_insn = vm->ticks_per_insn;
    snap.timer_at = vm->timer_at;
    snap.fpu_shadow = vm->fpu_shadow;
    for (int i = 0; i < IO_LOG_MAX; i++) {
        snap.io_log[i][0] = vm->io_log[i].kind;
        snap.io_log[i][1] = vm->io_log[i].addr;
        snap.io_log[i][2] = vm->io_log[i].value;
    }
    snap.io_nlog = vm->io_nlog;
    snap.io_answered = vm->io_answered;
    snap.io_pc = vm->io_pc;
    memcpy(buf, &snap, sizeof snap);
}

int hv_core_restore(hv_vm_t *vm, const uint8_t *buf)
{
    core_snap_t snap;
    memcpy(&snap, buf, sizeof snap);
    if (snap.magic != SNAP_MAGIC || snap.version != SNAP_VERSION || snap.tlb_next >= TLB_ENTRIES
        || snap.io_nlog < 0 || snap.io_nlog > IO_LOG_MAX)
        return -1;
    vm->s = snap.s;
    memcpy(vm->tlb, snap.tlb, sizeof vm->tlb);
    vm->tlb_next = snap.tlb_next;
    vm->clock_mode = snap.clock_mode == HV_CLOCK_VIRTUAL ? HV_CLOCK_VIRTUAL : HV_CLOCK_HOST;
    vm->ticks_per_insn = snap.ticks_per_insn ? snap.ticks_per_insn : 1;
    vm->timer_at = snap.timer_at;
    vm->fpu_shadow = snap.fpu_shadow;
    io_clear(vm);
    for (int i = 0; i < IO_LOG_MAX; i++) {
        vm->io_log[i].kind = snap.io_log[i][0];
        vm->io_log[i].addr = snap.io_log[i][1];
        vm->io_log[i].value = snap.io_log[i][2];
    }
    vm->io_nlog = snap.io_nlog;
    vm->io_answered = snap.io_answered != 0;
    vm->io_pc = snap.io_pc;
    vm->wp_pending = 0;
    vm->fault_valid = 0;
    vm->code_host = NULL;
    mmu_flush_cache(vm);
    digest_invalidate(vm, 0);
    vm->epoch_n = 0;
    vm->epoch_exit_next = 0;
    vm->epoch_end = vm->epoch_len ? (vm->s.icount / vm->epoch_len + 1) * vm->epoch_len : ~0ull;
    core_note_event(vm);
    return 0;
}
