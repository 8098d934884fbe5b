/* fastpath.h -- the predecoded, threaded fast path of the run loop.
 *
 * Part of core.c (included once, after execute()): its handlers reuse core.c's static
 * instruction semantics (cond_arith, set_carries, execute, ...), so there is one
 * definition of what each instruction does.
 *
 * Each physical code page the fast path runs gets a table of 1024 entries (one per
 * word), filled lazily: handler address (computed goto), register fields, immediate.
 * hv_run enters run_fast() only when nothing needs per-instruction attention (vm->slow
 * clear: no breakpoints, watchpoints, PSW[R], pending I/O) and IASQ front == back.  Between
 * instructions the fast path tests only what the reference loop tests: the instruction
 * count against vm->check_at (every event zeroes it) and that the front of the queue is
 * still on the cached code page with the same privilege.
 *
 * The rule that keeps it exact: a fast handler either completes its instruction exactly
 * as execute() would, or changes nothing and hands the instruction to execute() (the
 * "gen" handler), whose result is then processed as the reference loop does.  Anything
 * the fast path does not finish itself (interruptions, exits, rfi, branches that change
 * space) goes back to hv_run with the result of execute().
 */

#include <float.h>

#define FP_WORDS (PAGE_SIZE / 4)
#define FP_MAX_PAGES 1024            /* 16 MiB of tables; all dropped when full */

typedef struct fp_entry {
    const void *h;                   /* handler (a label in run_fast) */
    int32_t imm;                     /* displacement, immediate, mask */
    uint8_t a, b, c, d;              /* register numbers and small fields, per handler */
} fp_entry_t;

struct fp_page {
    uint32_t index;                  /* page index (as vm->dirty[]) */
    fp_entry_t e[FP_WORDS];
};

/* drop every table (pool full, or the VM goes away) */
static void fp_flush(hv_vm_t *vm)
{
    for (uint32_t i = 0; i < vm->fp_n; i++) {
        struct fp_page *p = vm->fp_pool[i];
        vm->fp_map[p->index] = NULL;
        vm->dirty[p->index] &= (uint8_t)~DIRTY_CODE;
        free(p);
    }
    vm->fp_n = 0;
}

static void fp_free(hv_vm_t *vm)
{
    if (vm->fp_map) fp_flush(vm);
    free(vm->fp_map);
    free(vm->fp_pool);
    vm->fp_map = NULL;
    vm->fp_pool = NULL;
}

/* every entry of a page back to "not decoded" (the debugger wrote the page) */
static void fp_page_reset(hv_vm_t *vm, uint32_t index)
{
    struct fp_page *p = vm->fp_map ? vm->fp_map[index] : NULL;
    if (!p) return;
    for (uint32_t w = 0; w < FP_WORDS; w++)
        p->e[w].h = vm->fp_decode;
}

void core_code_written(hv_vm_t *vm, uint32_t page, uint32_t pa)
{
    struct fp_page *p = vm->fp_map ? vm->fp_map[page] : NULL;
    if (!p) return;
    /* stores are at most 8 bytes and aligned, except stby's bytes within one word:
     * the word at pa and the next one cover every case */
    uint32_t w = (pa >> 2) & (FP_WORDS - 1);
    p->e[w].h = vm->fp_decode;
    if (w + 1 < FP_WORDS)
        p->e[w + 1].h = vm->fp_decode;
}

/* The table for the code page at host address chost (RAM or firmware), or NULL when no
 * memory is left for one (the caller then runs the reference path). */
static struct fp_page *fp_page_get(hv_vm_t *vm, const uint8_t *chost)
{
    uint32_t index;
    if (chost >= vm->ram && chost < vm->ram + vm->ram_size)
        index = (uint32_t)((size_t)(chost - vm->ram) >> PAGE_SHIFT);
    else
        index = (vm->ram_size >> PAGE_SHIFT) + (uint32_t)((size_t)(chost - vm->fw) >> PAGE_SHIFT);
    if (!vm->fp_map) {
        vm->fp_map = calloc(vm->npages, sizeof *vm->fp_map);
        vm->fp_pool = calloc(FP_MAX_PAGES, sizeof *vm->fp_pool);
        if (!vm->fp_map || !vm->fp_pool) {
            fp_free(vm);
            return NULL;
        }
    }
    struct fp_page *p = vm->fp_map[index];
    if (LIKELY(p != NULL)) return p;
    if (vm->fp_n == FP_MAX_PAGES) fp_flush(vm);
    p = malloc(sizeof *p);
    if (!p) return NULL;
    p->index = index;
    for (uint32_t w = 0; w < FP_WORDS; w++)
        p->e[w].h = vm->fp_decode;
    vm->fp_map[index] = p;
    vm->fp_pool[vm->fp_n++] = p;
    vm->dirty[index] |= DIRTY_CODE;
    return p;
}

/* handler numbers; run_fast's label table is indexed by them */
enum {
    H_DECODE, H_GEN, H_NOP,
    H_LDO, H_LDIL, H_ADDIL,
    H_OR, H_AND, H_ANDCM, H_XOR, H_ADD, H_ADDL, H_SUB, H_COMCLR,
    H_COMICLR, H_ADDI, H_SUBI, H_EXTRU, H_EXTRS,
    H_LDW, H_LDH, H_LDB, H_LDWX, H_LDHX, H_LDBX, H_STW, H_STH, H_STB,
    H_BL, H_B, H_BV,
    H_ZDEP, H_DEP, H_DEPI,
    H_FLDW, H_FLDWX, H_FSTW, H_FSTWX, H_FLDD, H_FLDDX, H_FSTD, H_FSTDX,
    H_FADD_D, H_FSUB_D, H_FMPY_D, H_FDIV_D,   /* in fpu.c's B_ADD..B_DIV order */
    H_XMPYU,
    H_MTSAR, H_MTCTL, H_MFCTL_U, H_MFCTL_P, H_MFSP, H_MTSP,
    H_SHIFTX, H_DEPX,                /* the other valid shift/extract/deposit forms */
    H_COMB,                          /* + 16 condition/negation variants each */
    H_COMIB = H_COMB + 16,
    H_ADDB = H_COMIB + 16,
    H_ADDIB = H_ADDB + 16,
    H_COUNT = H_ADDIB + 16
};

/* Decode insn into e (fields) and return its handler number.  Anything not listed, and
 * every form a handler below does not cover exactly, is H_GEN (execute()). */
static int fp_decode_insn(fp_entry_t *e, uint32_t insn)
{
    unsigned op = insn >> 26;
    unsigned f6 = BITS(insn, 6, 10), f11 = BITS(insn, 11, 15), t = insn & 31;
    switch (op) {
    case 0x0D:                                        /* ldo */
        if (!f11) return H_NOP;
        e->a = (uint8_t)f6; e->c = (uint8_t)f11;
        e->imm = low_sign_ext(insn & 0x3fff, 14);
        return H_LDO;
    case 0x08: case 0x0A: {                           /* ldil, addil */
        uint32_t imm = ((insn & 1) << 20 | BITS(insn, 20, 30) << 9 | BITS(insn, 16, 17) << 7
                        | BITS(insn, 11, 15) << 2 | BITS(insn, 18, 19)) << 11;
        e->imm = (int32_t)imm;
        e->a = (uint8_t)f6;
        if (op == 0x0A) return H_ADDIL;
        e->c = (uint8_t)f6;
        return f6 ? H_LDIL : H_NOP;
    }
    case 0x02: {                                      /* arith/logical, register operands */
        unsigned cf = BITS(insn, 16, 19), ext = BITS(insn, 20, 25), bit26 = BITS(insn, 26, 26);
        e->a = (uint8_t)f11; e->b = (uint8_t)f6; e->c = (uint8_t)t;   /* a = r1, b = r2 */
        if (ext == 0x22 && !bit26) {                  /* comclr (writes 0 to t: gr0 stays 0) */
            e->d = (uint8_t)cf;
            return H_COMCLR;
        }
        if (!cf && !t && (ext == 0x09 || ext == 0x08 || ext == 0x00 || (ext == 0x0A && !bit26)))
            return H_NOP;                             /* a logical op into gr0: nop, copy */
        if (cf || !t) return H_GEN;                   /* conditions, carries into gr0: rare */
        switch (ext) {
        case 0x09: return H_OR;
        case 0x08: return H_AND;
        case 0x00: return H_ANDCM;
        case 0x0A: return bit26 ? H_GEN : H_XOR;
        case 0x18: case 0x19: case 0x1A: case 0x1B:
            e->d = (uint8_t)(ext & 3);
            return H_ADD;
        case 0x28: case 0x29: case 0x2A: case 0x2B:
            e->d = (uint8_t)(ext & 3);
            return bit26 ? H_GEN : H_ADDL;
        case 0x10: return H_SUB;
        default: return H_GEN;
        }
    }
    case 0x24: case 0x25: case 0x2D: {               /* comiclr, subi, addi */
        unsigned cf = BITS(insn, 16, 19), o = BITS(insn, 20, 20);
        if (o) return H_GEN;
        e->b = (uint8_t)f6; e->c = (uint8_t)f11; e->d = (uint8_t)cf;
        e->imm = low_sign_ext(insn & 0x7ff, 11);
        if (op == 0x24) return H_COMICLR;
        if (cf || !f11) return H_GEN;
        return op == 0x2D ? H_ADDI : H_SUBI;
    }
    case 0x34: {                                      /* extru / extrs (fixed position) */
        unsigned c = BITS(insn, 16, 18), sub = BITS(insn, 19, 20), se = BITS(insn, 21, 21);
        unsigned p = BITS(insn, 22, 26);
        if (sub != 3 || c || !f11) {
            /* everything exec_shift_extract() accepts (it cannot trap or exit then) */
            if ((sub < 2 && se) || ((sub == 0 || sub == 2) && p)) return H_GEN;
            e->imm = (int32_t)insn;
            return H_SHIFTX;
        }
        unsigned pos = 31 - p, len = 32 - t;
        if (len > 32 - pos) len = 32 - pos;
        e->a = (uint8_t)f6; e->c = (uint8_t)f11;
        if (!se) {
            e->b = (uint8_t)pos;
            e->imm = (int32_t)mask_low(len);
            return H_EXTRU;
        }
        e->b = (uint8_t)(32 - pos - len);             /* the field to the top, then down */
        e->d = (uint8_t)(32 - len);
        return H_EXTRS;
    }
    case 0x10: case 0x11: case 0x12:                  /* ldb, ldh, ldw */
        if (!f11) return H_GEN;
        e->a = (uint8_t)f6; e->b = (uint8_t)BITS(insn, 16, 17); e->c = (uint8_t)f11;
        e->imm = low_sign_ext(insn & 0x3fff, 14);
        return op == 0x12 ? H_LDW : op == 0x11 ? H_LDH : H_LDB;
    case 0x18: case 0x19: case 0x1A:                  /* stb, sth, stw */
        e->a = (uint8_t)f6; e->b = (uint8_t)BITS(insn, 16, 17); e->c = (uint8_t)f11;
        e->imm = low_sign_ext(insn & 0x3fff, 14);
        return op == 0x1A ? H_STW : op == 0x19 ? H_STH : H_STB;
    case 0x03: {                                      /* indexed / short, no modify */
        unsigned au = BITS(insn, 18, 18), isshort = BITS(insn, 19, 19);
        unsigned ext4 = BITS(insn, 22, 25), m = BITS(insn, 26, 26);
        if (m) return H_GEN;
        e->a = (uint8_t)f6; e->b = (uint8_t)BITS(insn, 16, 17);
        if (ext4 < 3) {
            if (!t) return H_GEN;
            e->c = (uint8_t)t;
            if (isshort) {
                e->imm = low_sign_ext(f11, 5);
                return ext4 == 2 ? H_LDW : ext4 == 1 ? H_LDH : H_LDB;
            }
            e->d = (uint8_t)f11;
            e->imm = au ? (int32_t)ext4 : 0;          /* index shift */
            return ext4 == 2 ? H_LDWX : ext4 == 1 ? H_LDHX : H_LDBX;
        }
        if (isshort && ext4 >= 8 && ext4 <= 10) {
            e->c = (uint8_t)f11;
            e->imm = low_sign_ext(t, 5);
            return ext4 == 10 ? H_STW : ext4 == 9 ? H_STH : H_STB;
        }
        return H_GEN;
    }
    case 0x20: case 0x21: case 0x22: case 0x23:      /* comb, comib */
    case 0x28: case 0x29: case 0x2A: case 0x2B: {    /* addb, addib */
        unsigned c = BITS(insn, 16, 18), n = BITS(insn, 30, 30), f = (op >> 1) & 1;
        int32_t disp = assemble_12(insn);
        int isadd = op >= 0x28, isimm = op & 1;
        if (isadd && !f6) return H_GEN;               /* the sum would go to gr0 */
        e->b = (uint8_t)f6;
        e->a = isimm ? (uint8_t)(int8_t)low_sign_ext(f11, 5) : (uint8_t)f11;
        e->c = (uint8_t)(n && disp >= 0);             /* nullify the slot when taken */
        e->d = (uint8_t)(n && disp < 0);              /* ... when not taken */
        e->imm = disp;
        return (isadd ? (isimm ? H_ADDIB : H_ADDB) : (isimm ? H_COMIB : H_COMB))
               + (int)(c << 1 | f);
    }
    case 0x35: {                                      /* zdep, dep, zdepi, depi (fixed) */
        unsigned c = BITS(insn, 16, 18), sub = BITS(insn, 19, 20), nz = BITS(insn, 21, 21);
        unsigned pos = BITS(insn, 22, 26), len = 32 - t;
        if (len > 32 - pos) len = 32 - pos;
        uint32_t m = mask_low(len) << pos;
        e->c = (uint8_t)f6;
        if (!(sub & 1) || c || !f6) {               /* SAR forms, conditions, into gr0 */
            if (!(sub & 1) && pos) return H_GEN;      /* exec_deposit()'s only trap */
            e->imm = (int32_t)insn;
            return H_DEPX;
        }
        if (sub & 2) {                                /* immediate: the field is a constant */
            e->imm = (int32_t)(((uint32_t)low_sign_ext(f11, 5) << pos) & m);
            if (!nz) return H_LDIL;
            e->a = (uint8_t)pos; e->b = (uint8_t)len;
            return H_DEPI;
        }
        e->a = (uint8_t)f11; e->b = (uint8_t)pos;
        e->imm = (int32_t)m;
        return nz ? H_DEP : H_ZDEP;
    }
    case 0x09: case 0x0B: {                           /* fldw/fstw, fldd/fstd, no modify */
        unsigned b18 = BITS(insn, 18, 18), uid_hi = BITS(insn, 23, 24), r = BITS(insn, 25, 25);
        unsigned store = BITS(insn, 22, 22), m = BITS(insn, 26, 26), dbl = op == 0x0B;
        unsigned rt = t | (dbl ? 0 : r << 5);
        if (uid_hi || (dbl && r) || m) return H_GEN;
        if (!store && (rt & 31) == 0) return H_GEN;   /* loads into fr0 refresh the status */
        e->a = (uint8_t)f6; e->b = (uint8_t)BITS(insn, 16, 17); e->c = (uint8_t)rt;
        int h;
        if (!BITS(insn, 19, 19)) {                    /* indexed */
            e->d = (uint8_t)f11;
            e->imm = b18 ? (dbl ? 3 : 2) : 0;
            h = dbl ? (store ? H_FSTDX : H_FLDDX) : (store ? H_FSTWX : H_FLDWX);
        } else {
            e->imm = low_sign_ext(f11, 5);
            h = dbl ? (store ? H_FSTD : H_FLDD) : (store ? H_FSTW : H_FLDW);
        }
        return h;
    }
    case 0x00: {
        /* System instructions that change nothing the between-instructions checks look
         * at (control registers other than the timer, EIRR, EIEM and the PIDs; space
         * registers).  sys() notes an event after every system instruction, which on
         * the fast path ends the run of fast instructions; for these that visit of the
         * checks finds nothing to do, so they stay on the fast path. */
        unsigned ext = BITS(insn, 19, 26);
        unsigned s3 = BITS(insn, 18, 18) << 2 | BITS(insn, 16, 17);
        if (ext == 0xC2 && !t) {                      /* mtctl f11 -> cr f6 */
            e->a = (uint8_t)f11; e->c = (uint8_t)f6;
            if (f6 == CR_SAR) return H_MTSAR;
            if (f6 == CR_CCR || f6 == CR_IVA || (f6 >= CR_IIR && f6 <= CR_IPSW) || f6 >= 24)
                return H_MTCTL;
            return H_GEN;
        }
        if (ext == 0x45 && !f11 && t && f6 != CR_IT) {   /* mfctl cr f6 -> t */
            e->a = (uint8_t)f6; e->c = (uint8_t)t;
            return (f6 == CR_SAR || f6 == 26 || f6 == 27) ? H_MFCTL_U : H_MFCTL_P;
        }
        if (ext == 0x25 && !f11 && t) {               /* mfsp */
            e->a = (uint8_t)s3; e->c = (uint8_t)t;
            return H_MFSP;
        }
        if (ext == 0xC1 && !t) {                      /* mtsp */
            e->a = (uint8_t)f11; e->c = (uint8_t)s3;
            return H_MTSP;
        }
        return H_GEN;
    }
    case 0x0C: case 0x0E: {                           /* fadd/fsub/fmpy/fdiv,dbl; xmpyu */
        unsigned sub = BITS(insn, 16, 18), cls = BITS(insn, 21, 22), b26 = BITS(insn, 26, 26);
        if (cls != 3 || b26 || sub > 3) return H_GEN;
        if (op == 0x0E && BITS(insn, 23, 23)) {       /* xmpyu: 32 x 32 -> 64 unsigned */
            if (sub != 2 || BITS(insn, 20, 20) || BITS(insn, 25, 25)) return H_GEN;
            e->a = (uint8_t)(f6 | BITS(insn, 24, 24) << 5);
            e->b = (uint8_t)(f11 | BITS(insn, 19, 19) << 5);
            e->c = (uint8_t)t;
            return H_XMPYU;
        }
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0  /* host doubles must round once */
        return H_GEN;
#endif
        if (op == 0x0C && (BITS(insn, 23, 25) || BITS(insn, 19, 20) != 1)) return H_GEN;
        if (op == 0x0E && (BITS(insn, 23, 23) || !BITS(insn, 20, 20) || BITS(insn, 19, 19)
                           || BITS(insn, 24, 25))) return H_GEN;
        e->a = (uint8_t)f6; e->b = (uint8_t)f11; e->c = (uint8_t)t;
        return H_FADD_D + (int)sub;
    }
    case 0x3A: {                                      /* bl, bv */
        unsigned sub = BITS(insn, 16, 18), n = BITS(insn, 30, 30);
        e->d = (uint8_t)n;
        if (sub == 0 || sub == 4) {
            e->c = (uint8_t)f6;
            e->imm = assemble_17(insn);
            return f6 ? H_BL : H_B;
        }
        if (sub == 6 && !BITS(insn, 19, 19) && !BITS(insn, 20, 29) && !(insn & 1)) {
            e->a = (uint8_t)f6; e->b = (uint8_t)f11;
            return H_BV;
        }
        return H_GEN;
    }
    default:
        return H_GEN;
    }
}

/* Data access on the fast path: host pointer for an aligned access to RAM or the firmware
 * region whose translation (PSW[D] set) is in the translation cache with the rights this
 * access needs, else NULL (the instruction then goes to execute(), which does the full
 * thing).  Watchpoints never reach here (they make vm->slow). */
static inline __attribute__((always_inline)) uint8_t *
fp_mem(hv_vm_t *vm, uint32_t priv, unsigned sp, uint32_t base, uint32_t off, unsigned size,
       int write, uint32_t *pa_out)
{
    if (off & (size - 1)) return NULL;
    uint32_t pa = off;
    if (vm->s.psw & PSW_D) {
        uint32_t space = core_space(vm, sp, base), page = off >> PAGE_SHIFT;
        const tcache_entry_t *tc = &vm->tcache[0][tc_index(space, page)];
        if (!(tc->gen == vm->tlb_gen && tc->tag_page == page && tc->tag_space == space
              && tc->priv == priv && (write ? tc->ok_write : tc->ok_read)))
            return NULL;
        pa = tc->pa_page << PAGE_SHIFT | (off & (PAGE_SIZE - 1));
    }
    *pa_out = pa;
    if (pa < vm->ram_size) return vm->ram + pa;      /* ram_size is whole pages: fits */
    if (pa - FW_BASE < FW_SIZE) return vm->fw + (pa - FW_BASE);
    return NULL;
}

/* The soft-float fast path: a double add, subtract, multiply or divide of two normal
 * operands whose result is normal, with round-to-nearest and no flush-to-zero, has one
 * correctly rounded result, which the host's IEEE double arithmetic gives too; the only
 * flag such an operation can raise is inexact, decided exactly below with integer or
 * error-free arithmetic.  Exponents are kept well inside the range (biased 0x100..0x6FF)
 * so that no overflow, underflow or tininess question arises, and the error terms are
 * exact.  Everything else -- and a host not rounding to nearest -- is fpu.c's business. */
static int fp_host_rounds_to_nearest(void)
{
    volatile double one = 1.0, d = 0x1.8p-53;     /* 1 + 0.75 ulp: nearest is 1 + ulp */
    return one + d == 1.0 + 0x1p-52 && -one - d == -1.0 - 0x1p-52;
}

static inline double fp_bits_to_double(uint64_t v) { double x; memcpy(&x, &v, 8); return x; }
static inline uint64_t fp_double_to_bits(double x) { uint64_t v; memcpy(&v, &x, 8); return v; }
static inline int fp_exp_ok(uint64_t v) { return ((uint32_t)(v >> 52) & 0x7FF) - 0x100u <= 0x5FFu; }

/* the result of a op b (B_ADD..B_DIV) in *out and whether it is inexact; 0 = not here */
static inline int fp_dbl_binary(int op, uint64_t ia, uint64_t ib, uint64_t *out, int *inexact)
{
    if (!fp_exp_ok(ia) || !fp_exp_ok(ib)) return 0;
    double x = fp_bits_to_double(ia), y = fp_bits_to_double(ib), r;
    const uint64_t hidden = 1ull << 52, fmask = hidden - 1;
    switch (op) {
    case 0: case 1: {                                 /* TwoSum: the rounding error exactly */
        if (op) y = -y;
        r = x + y;
        double bb = r - x, err = (x - (r - bb)) + (y - bb);
        *inexact = err != 0;
        break;
    }
    case 2: {                                         /* the 106-bit product's low bits */
        unsigned __int128 p = (unsigned __int128)((ia & fmask) | hidden) * ((ib & fmask) | hidden);
        uint64_t low = (p >> 105) ? (1ull << 53) - 1 : (1ull << 52) - 1;
        r = x * y;
        *inexact = ((uint64_t)p & low) != 0;
        break;
    }
    default: {                                        /* exact iff odd(mb) divides ma */
        uint64_t ma = (ia & fmask) | hidden, mb = (ib & fmask) | hidden;
        r = x / y;
        *inexact = ma % (mb >> __builtin_ctzll(mb)) != 0;
        break;
    }
    }
    *out = fp_double_to_bits(r);
    return fp_exp_ok(*out);
}

enum { FAST_TOP, FAST_RESULT };

/* Run from the front of the queue (state in vm->s, already synced by hv_run) on the code
 * page at chost (key ckey, as hv_run's code cache).  Returns FAST_TOP with vm->s up to
 * date (hv_run goes on at the top of its loop: budget, events, next page), or
 * FAST_RESULT: execute() returned *r_out for *insn_out with vm->s as it was when the
 * instruction started, for hv_run to process as the reference loop does. */
__attribute__((noinline)) static int
run_fast(hv_vm_t *vm, const uint8_t *chost, uint32_t ckey, uint32_t *insn_out, int *r_out)
{
#define CB16(x) &&x##0, &&x##1, &&x##2, &&x##3, &&x##4, &&x##5, &&x##6, &&x##7, \
                &&x##8, &&x##9, &&x##10, &&x##11, &&x##12, &&x##13, &&x##14, &&x##15
    static const void *const H[H_COUNT] = {
        [H_DECODE] = &&L_decode, [H_GEN] = &&L_gen, [H_NOP] = &&L_nop,
        [H_LDO] = &&L_ldo, [H_LDIL] = &&L_ldil, [H_ADDIL] = &&L_addil,
        [H_OR] = &&L_or, [H_AND] = &&L_and, [H_ANDCM] = &&L_andcm, [H_XOR] = &&L_xor,
        [H_ADD] = &&L_add, [H_ADDL] = &&L_addl, [H_SUB] = &&L_sub, [H_COMCLR] = &&L_comclr,
        [H_COMICLR] = &&L_comiclr, [H_ADDI] = &&L_addi, [H_SUBI] = &&L_subi,
        [H_EXTRU] = &&L_extru, [H_EXTRS] = &&L_extrs,
        [H_LDW] = &&L_ldw, [H_LDH] = &&L_ldh, [H_LDB] = &&L_ldb,
        [H_LDWX] = &&L_ldwx, [H_LDHX] = &&L_ldhx, [H_LDBX] = &&L_ldbx,
        [H_STW] = &&L_stw, [H_STH] = &&L_sth, [H_STB] = &&L_stb,
        [H_BL] = &&L_bl, [H_B] = &&L_b, [H_BV] = &&L_bv,
        [H_ZDEP] = &&L_zdep, [H_DEP] = &&L_dep, [H_DEPI] = &&L_depi,
        [H_FLDW] = &&L_fldw, [H_FLDWX] = &&L_fldwx, [H_FSTW] = &&L_fstw, [H_FSTWX] = &&L_fstwx,
        [H_FLDD] = &&L_fldd, [H_FLDDX] = &&L_flddx, [H_FSTD] = &&L_fstd, [H_FSTDX] = &&L_fstdx,
        [H_FADD_D] = &&L_fadd_d, [H_FSUB_D] = &&L_fsub_d, [H_FMPY_D] = &&L_fmpy_d,
        [H_FDIV_D] = &&L_fdiv_d, [H_XMPYU] = &&L_xmpyu,
        [H_MTSAR] = &&L_mtsar, [H_MTCTL] = &&L_mtctl, [H_MFCTL_U] = &&L_mfctl_u,
        [H_MFCTL_P] = &&L_mfctl_p, [H_MFSP] = &&L_mfsp, [H_MTSP] = &&L_mtsp,
        [H_SHIFTX] = &&L_shiftx, [H_DEPX] = &&L_depx,
        CB16(L_comb), CB16(L_comib), CB16(L_addb), CB16(L_addib),
    };
#undef CB16
    hv_cpu_state_t *s = &vm->s;
    uint32_t *gr = s->gr;
    vm->fp_decode = H[H_DECODE];
    struct fp_page *page = fp_page_get(vm, chost);
    if (!page) {                                      /* no memory: run it the reference way */
        *insn_out = core_load_be32(chost + (s->iaoq_f & 0xFFCu));
        *r_out = execute(vm, *insn_out);
        return FAST_RESULT;
    }
    fp_entry_t *ents = page->e;
    const int host_fp_ok = fp_host_rounds_to_nearest();
    uint32_t qf = s->iaoq_f, qb = s->iaoq_b;
    uint64_t ic = s->icount, limit = vm->check_at;
    fp_entry_t *d;
    uint32_t insn;
    int r;

/* to the next instruction, if it is on this page and nothing is due */
#define DISPATCH() do {                                                             \
        if (UNLIKELY(ic >= limit)) goto out;                                        \
        if (UNLIKELY((qf & 0xFFFFF003u) != ckey)) goto new_page;                    \
        d = &ents[(qf >> 2) & (FP_WORDS - 1)];                                      \
        goto *d->h;                                                                 \
    } while (0)
/* the instruction completed: advance the queue, count it */
#define STEP() do { qf = qb; qb += 4; ic++; DISPATCH(); } while (0)
/* the queue already advanced and the instruction counted; it nullifies the next one,
 * which retires doing nothing (after the checks the reference loop makes before it) */
#define NULLIFY_NEXT() do {                                                         \
        if (UNLIKELY(ic >= limit) || UNLIKELY((qf & 0xFFFFF003u) != ckey)) {        \
            s->psw |= PSW_N;  /* on another page it may hold a breakpoint */        \
            goto out;                                                               \
        }                                                                           \
        qf = qb; qb += 4; ic++;                                                     \
        DISPATCH();                                                                 \
    } while (0)
#define STEP_NULLIFY(cond) do {                                                     \
        qf = qb; qb += 4; ic++;                                                     \
        if (cond) NULLIFY_NEXT();                                                   \
        DISPATCH();                                                                 \
    } while (0)
/* a taken branch to target (same space) */
#define BRANCH(target, nul) do {                                                    \
        uint32_t to_ = (target);                                                    \
        qf = qb; qb = to_; ic++;                                                    \
        if (nul) NULLIFY_NEXT();                                                    \
        DISPATCH();                                                                 \
    } while (0)
#define PRIV (qf & 3u)

    d = &ents[(qf >> 2) & (FP_WORDS - 1)];
    goto *d->h;

/* The front of the queue left the code page.  Follow it here when hv_run's fetch()
 * would find it at once -- translation off, or the instruction translation cache
 * holds the page with execute rights at this privilege -- and the page is decoded
 * already; anything else (a miss, a fault, a page to allocate, breakpoints to look for)
 * goes back to hv_run. */
new_page: {
        uint32_t off = qf & ~(PAGE_SIZE - 1), pa = off;
        if (vm->nbp) goto out;
        if (s->psw & PSW_C) {
            uint32_t space = s->iasq_f, vpage = off >> PAGE_SHIFT;
            const tcache_entry_t *tc = &vm->tcache[1][tc_index(space, vpage)];
            if (!(tc->gen == vm->tlb_gen && tc->tag_page == vpage && tc->tag_space == space
                  && tc->priv == (qf & 3) && tc->ok_exec))
                goto out;
            pa = tc->pa_page << PAGE_SHIFT;
        }
        uint32_t index;
        if (pa < vm->ram_size) {
            index = pa >> PAGE_SHIFT;
            chost = vm->ram + pa;
        } else if (pa - FW_BASE < FW_SIZE) {
            index = (vm->ram_size >> PAGE_SHIFT) + ((pa - FW_BASE) >> PAGE_SHIFT);
            chost = vm->fw + (pa - FW_BASE);
        } else {
            goto out;
        }
        struct fp_page *np = vm->fp_map[index];
        if (!np) goto out;
        ents = np->e;
        ckey = qf & 0xFFFFF003u;
        d = &ents[(qf >> 2) & (FP_WORDS - 1)];
        goto *d->h;
    }

L_decode: {
        fp_entry_t e = { 0 };
        int h = fp_decode_insn(&e, core_load_be32(chost + (qf & 0xFFCu)));
        e.h = H[h];
        *d = e;
        goto *d->h;
    }

L_gen:
    insn = core_load_be32(chost + (qf & 0xFFCu));
    s->iaoq_f = qf; s->iaoq_b = qb; s->icount = ic;
    r = execute(vm, insn);
    limit = vm->check_at;                             /* system ops note events */
    if (LIKELY(r == EX_OK)) STEP();
    if (r == EX_NULLIFY) STEP_NULLIFY(1);
    if ((r & ~EX_NULLIFY) == EX_BRANCH && vm->next_space == s->iasq_b) {
        BRANCH(vm->next_off, r & EX_NULLIFY);
    }
    *insn_out = insn;
    *r_out = r;
    return FAST_RESULT;

L_nop:
    STEP();
L_ldo:
    gr[d->c] = gr[d->a] + (uint32_t)d->imm;
    STEP();
L_ldil:
    gr[d->c] = (uint32_t)d->imm;
    STEP();
L_addil:
    gr[1] = gr[d->a] + (uint32_t)d->imm;
    STEP();
L_or:
    gr[d->c] = gr[d->a] | gr[d->b];
    STEP();
L_and:
    gr[d->c] = gr[d->a] & gr[d->b];
    STEP();
L_andcm:
    gr[d->c] = gr[d->a] & ~gr[d->b];
    STEP();
L_xor:
    gr[d->c] = gr[d->a] ^ gr[d->b];
    STEP();
L_add: {
        uint32_t a = gr[d->a] << d->d, b = gr[d->b];
        uint64_t wide = (uint64_t)a + b;
        uint32_t res = (uint32_t)wide;
        set_carries(vm, a ^ b ^ res, (int)(wide >> 32));
        gr[d->c] = res;
        STEP();
    }
L_addl:
    gr[d->c] = (gr[d->a] << d->d) + gr[d->b];
    STEP();
L_sub: {
        uint32_t a = gr[d->a], b = gr[d->b];
        uint64_t wide = (uint64_t)a + (uint32_t)~b + 1;
        uint32_t res = (uint32_t)wide;
        set_carries(vm, a ^ ~b ^ res, (int)(wide >> 32));
        gr[d->c] = res;
        STEP();
    }
L_comclr: {
        uint32_t a = gr[d->a], b = gr[d->b], res = a - b;
        int cond = d->d ? cond_arith(d->d, res, a >= b, sub_sv(res, a, b)) : 0;
        gr[d->c] = 0;                                 /* t may be 0: gr0 stays 0 */
        STEP_NULLIFY(cond);
    }
L_comiclr: {
        uint32_t a = (uint32_t)d->imm, b = gr[d->b], res = a - b;
        int cond = d->d ? cond_arith(d->d, res, a >= b, sub_sv(res, a, b)) : 0;
        gr[d->c] = 0;
        STEP_NULLIFY(cond);
    }
L_addi: {
        uint32_t a = (uint32_t)d->imm, b = gr[d->b];
        uint64_t wide = (uint64_t)a + b;
        uint32_t res = (uint32_t)wide;
        set_carries(vm, a ^ b ^ res, (int)(wide >> 32));
        gr[d->c] = res;
        STEP();
    }
L_subi: {
        uint32_t a = (uint32_t)d->imm, b = gr[d->b];
        uint64_t wide = (uint64_t)a + (uint32_t)~b + 1;
        uint32_t res = (uint32_t)wide;
        set_carries(vm, a ^ ~b ^ res, (int)(wide >> 32));
        gr[d->c] = res;
        STEP();
    }
L_extru:
    gr[d->c] = (gr[d->a] >> d->b) & (uint32_t)d->imm;
    STEP();
L_extrs:
    gr[d->c] = (uint32_t)((int32_t)(gr[d->a] << d->b) >> d->d);
    STEP();

/* loads: t != 0 (decoder); on anything unusual, execute() does the whole instruction */
#define LOAD(size, conv, ea_expr) do {                                              \
        uint32_t base_ = gr[d->a], pa_;                                             \
        const uint8_t *p_ = fp_mem(vm, PRIV, d->b, base_, (ea_expr), size, 0, &pa_); \
        if (UNLIKELY(!p_)) goto L_gen;                                              \
        gr[d->c] = conv(p_);                                                        \
        STEP();                                                                     \
    } while (0)
#define BE8(p) ((uint32_t)(p)[0])
#define BE16(p) ((uint32_t)(p)[0] << 8 | (p)[1])
L_ldw: LOAD(4, core_load_be32, base_ + (uint32_t)d->imm);
L_ldh: LOAD(2, BE16, base_ + (uint32_t)d->imm);
L_ldb: LOAD(1, BE8, base_ + (uint32_t)d->imm);
L_ldwx: LOAD(4, core_load_be32, base_ + (gr[d->d] << d->imm));
L_ldhx: LOAD(2, BE16, base_ + (gr[d->d] << d->imm));
L_ldbx: LOAD(1, BE8, base_ + (gr[d->d] << d->imm));
#define STORE(size) do {                                                            \
        uint32_t base_ = gr[d->a], pa_;                                             \
        uint8_t *p_ = fp_mem(vm, PRIV, d->b, base_, base_ + (uint32_t)d->imm, size, 1, &pa_); \
        if (UNLIKELY(!p_)) goto L_gen;                                              \
        core_store_be(p_, size, gr[d->c]);                                          \
        core_mark_dirty(vm, pa_);     /* drops decoded entries of the words written */ \
        STEP();                                                                     \
    } while (0)
L_stw: STORE(4);
L_sth: STORE(2);
L_stb: STORE(1);

/* core.c's own functions, for the forms the decoder found valid: they only write a
 * register and may nullify the next instruction */
L_shiftx:
    STEP_NULLIFY(exec_shift_extract(vm, (uint32_t)d->imm) == EX_NULLIFY);
L_depx:
    STEP_NULLIFY(exec_deposit(vm, (uint32_t)d->imm) == EX_NULLIFY);
L_zdep:
    gr[d->c] = (gr[d->a] << d->b) & (uint32_t)d->imm;
    STEP();
L_dep: {
        uint32_t m = (uint32_t)d->imm;
        gr[d->c] = ((gr[d->a] << d->b) & m) | (gr[d->c] & ~m);
        STEP();
    }
L_depi: {
        uint32_t m = mask_low(d->b) << d->a;
        gr[d->c] = (uint32_t)d->imm | (gr[d->c] & ~m);
        STEP();
    }

/* FP loads and stores (fpu.c's fp_mem without modify; fr0 loads go to execute()) */
#define FMEM(size, write, ea_expr, body) do {                                       \
        uint32_t base_ = gr[d->a], pa_;                                             \
        uint8_t *p_ = fp_mem(vm, PRIV, d->b, base_, (ea_expr), size, write, &pa_);  \
        if (UNLIKELY(!p_)) goto L_gen;                                              \
        body;                                                                       \
        STEP();                                                                     \
    } while (0)
#define EA_D (base_ + (uint32_t)d->imm)
#define EA_X ((gr[d->d] << d->imm) + base_)
#define FR_SETW(v) do {                                                             \
        uint64_t *f_ = &s->fr[d->c & 31];                                           \
        *f_ = d->c & 32 ? (*f_ & 0xffffffff00000000ull) | (v)                       \
                        : (*f_ & 0xffffffffull) | (uint64_t)(v) << 32;              \
    } while (0)
#define FR_W (d->c & 32 ? (uint32_t)s->fr[d->c & 31] : (uint32_t)(s->fr[d->c & 31] >> 32))
L_fldw: FMEM(4, 0, EA_D, FR_SETW(core_load_be32(p_)));
L_fldwx: FMEM(4, 0, EA_X, FR_SETW(core_load_be32(p_)));
L_fstw: FMEM(4, 1, EA_D, (core_store_be(p_, 4, FR_W), core_mark_dirty(vm, pa_)));
L_fstwx: FMEM(4, 1, EA_X, (core_store_be(p_, 4, FR_W), core_mark_dirty(vm, pa_)));
L_fldd: FMEM(8, 0, EA_D, s->fr[d->c] = core_load_be(p_, 8));
L_flddx: FMEM(8, 0, EA_X, s->fr[d->c] = core_load_be(p_, 8));
L_fstd: FMEM(8, 1, EA_D, (core_store_be(p_, 8, s->fr[d->c]), core_mark_dirty(vm, pa_)));
L_fstdx: FMEM(8, 1, EA_X, (core_store_be(p_, 8, s->fr[d->c]), core_mark_dirty(vm, pa_)));

/* fpu.c's do_binary for doubles: fr0 reads as zero; commit_flags rewrites fr0 from the
 * status word (also without flags) before the destination is written */
#define FBIN(op) do {                                                               \
        uint32_t sr_ = vm->fpu_shadow;                                              \
        uint64_t out_;                                                              \
        int inexact_;                                                               \
        if (UNLIKELY(!host_fp_ok || (sr_ & (3u << 9 | 1u << 5)))) goto L_gen;  /* RM, D */ \
        if (!fp_dbl_binary(op, d->a ? s->fr[d->a] : 0, d->b ? s->fr[d->b] : 0,     \
                           &out_, &inexact_)) goto L_gen;                           \
        if (inexact_) {                                                             \
            if (sr_ & 1u) goto L_gen;                 /* inexact trap enabled */   \
            sr_ |= 1u << 27;                          /* the inexact flag */       \
        }                                                                           \
        vm->fpu_shadow = sr_;                                                       \
        s->fr[0] = (uint64_t)sr_ << 32;                                             \
        s->fr[d->c] = out_;                                                         \
        STEP();                                                                     \
    } while (0)
L_fadd_d: FBIN(0);
L_fsub_d: FBIN(1);
L_fmpy_d: FBIN(2);
L_fdiv_d: FBIN(3);
L_xmpyu: {                                            /* fpu.c: single fr0L reads as zero */
        uint64_t a = d->a ? (d->a & 32 ? (uint32_t)s->fr[d->a & 31]
                                       : (uint32_t)(s->fr[d->a & 31] >> 32)) : 0;
        uint64_t b = d->b ? (d->b & 32 ? (uint32_t)s->fr[d->b & 31]
                                       : (uint32_t)(s->fr[d->b & 31] >> 32)) : 0;
        s->fr[d->c] = a * b;
        STEP();
    }

/* sys.c's mtctl/mfctl/mtsp/mfsp for the registers the decoder lets through; without
 * privilege they trap, which execute() does */
L_mtsar:
    s->cr[CR_SAR] = gr[d->a] & 31;
    STEP();
L_mtctl:
    if (qf & 3) goto L_gen;
    s->cr[d->c] = gr[d->a];
    STEP();
L_mfctl_u:
    gr[d->c] = s->cr[d->a];
    STEP();
L_mfctl_p:
    if (qf & 3) goto L_gen;
    gr[d->c] = s->cr[d->a];
    STEP();
L_mfsp:
    gr[d->c] = s->sr[d->a];
    STEP();
L_mtsp:
    if (d->c >= 5 && (qf & 3)) goto L_gen;
    s->sr[d->c] = gr[d->a];
    STEP();

L_bl:
    gr[d->c] = qb + 4;
    BRANCH(qf + 8 + (uint32_t)d->imm, d->d);
L_b:
    BRANCH(qf + 8 + (uint32_t)d->imm, d->d);
L_bv: {
        uint32_t dest = gr[d->a] + (gr[d->b] << 3);
        uint32_t priv = qf & 3;                       /* branch_priv(): never raise privilege */
        if (priv == 3) dest |= 3;
        else if (priv) { uint32_t x = (dest & ~3u) | priv; if (x > dest) dest = x; }
        BRANCH(dest, d->d);
    }

/* compare/add and branch, one handler per condition (cf constant: cond_arith folds) */
#define CMPB(cf, in1) do {                                                          \
        uint32_t i1_ = (in1), i2_ = gr[d->b], res_ = i1_ - i2_;                     \
        if (cond_arith(cf, res_, i1_ >= i2_, sub_sv(res_, i1_, i2_)))              \
            BRANCH(qf + 8 + (uint32_t)d->imm, d->c);                                \
        STEP_NULLIFY(d->d);                                                         \
    } while (0)
#define ADDB(cf, in1) do {                                                          \
        uint32_t i1_ = (in1), i2_ = gr[d->b];                                       \
        uint64_t w_ = (uint64_t)i1_ + i2_;                                          \
        uint32_t res_ = (uint32_t)w_;                                               \
        gr[d->b] = res_;                                                            \
        if (cond_arith(cf, res_, (int)(w_ >> 32), add_sv(res_, i1_, i2_)))         \
            BRANCH(qf + 8 + (uint32_t)d->imm, d->c);                                \
        STEP_NULLIFY(d->d);                                                         \
    } while (0)
#define IMM5 ((uint32_t)(int32_t)(int8_t)d->a)
#define CB_CASE(n)                                                                  \
    L_comb##n: CMPB(n, gr[d->a]);                                                   \
    L_comib##n: CMPB(n, IMM5);                                                      \
    L_addb##n: ADDB(n, gr[d->a]);                                                   \
    L_addib##n: ADDB(n, IMM5);
    CB_CASE(0) CB_CASE(1) CB_CASE(2) CB_CASE(3) CB_CASE(4) CB_CASE(5) CB_CASE(6) CB_CASE(7)
    CB_CASE(8) CB_CASE(9) CB_CASE(10) CB_CASE(11) CB_CASE(12) CB_CASE(13) CB_CASE(14)
    CB_CASE(15)

out:
    s->iaoq_f = qf; s->iaoq_b = qb; s->icount = ic;
    return FAST_TOP;

#undef DISPATCH
#undef STEP
#undef NULLIFY_NEXT
#undef STEP_NULLIFY
#undef BRANCH
#undef PRIV
#undef LOAD
#undef BE8
#undef BE16
#undef STORE
#undef FMEM
#undef EA_D
#undef EA_X
#undef FR_SETW
#undef FR_W
#undef FBIN
#undef CMPB
#undef ADDB
#undef IMM5
#undef CB_CASE
}
