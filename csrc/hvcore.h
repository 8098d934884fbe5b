/* hvcore.h -- the public face of the hvdbg PA-RISC 1.1 core.
 *
 * This header is parsed by cffi's cdef() as well as by the C compiler, so it
 * holds only plain declarations: fixed-width types, structs, prototypes and
 * integer #defines.  No #include, no #if, no function-like macros.
 *
 * Determinism contract (architecture section 1): the core's state is a pure
 * function of its initial state plus the values the hypervisor hands it through
 * hv_io_complete() and hv_set_eirr().  The core never reads host time, host
 * addresses or anything else from the host.
 */

/* ---- exits: why hv_run() returned ------------------------------------ */
#define HV_EXIT_BUDGET      1  /* the budget of retired instructions is used up */
#define HV_EXIT_IO_READ     2  /* load from I/O space: addr,size; answer with hv_io_complete(value) */
#define HV_EXIT_IO_WRITE    3  /* store to I/O space: addr,size,value; perform it, then hv_io_complete(0) */
#define HV_EXIT_ENV_READ    4  /* environment read (addr = HV_ENV_*): answer with hv_io_complete(value) */
#define HV_EXIT_ENV_WRITE   5  /* environment write (addr = HV_ENV_*, value); acknowledge with hv_io_complete(0) */
#define HV_EXIT_BREAKPOINT  6  /* pc (addr) is in the breakpoint set; the instruction has not executed */
#define HV_EXIT_WATCHPOINT  7  /* a watched data range was accessed; the instruction has completed */
#define HV_EXIT_STOP        8  /* hv_request_stop() from another thread */
#define HV_EXIT_FAULT       9  /* the core cannot continue; message in hv_exit_t.msg */
#define HV_EXIT_HALT       10  /* the CPU halted (e.g. diag halt); reserved */
#define HV_EXIT_EPOCH      11  /* an epoch ended (addr = its number) and the hypervisor asked to
                                  see it (HV_EPOCH_EXIT_EACH, hv_epoch_exit_next) or the record
                                  buffer is full; records in hv_epoch_take() */

/* environment "addresses" for HV_EXIT_ENV_* */
#define HV_ENV_CR16         16 /* read: mfctl cr16 (interval timer); write: mtctl cr16 (timer compare) */

/* flags for hv_run() */
#define HV_RUN_SKIP_BP      1  /* do not stop on a breakpoint at the first instruction executed */
#define HV_RUN_REFERENCE    2  /* execute every instruction on the reference path (no predecoded
                                  fast path); results are identical, only slower: exactness
                                  tests compare the two */

/* watchpoint kinds (bit set) */
#define HV_WATCH_READ       1
#define HV_WATCH_WRITE      2

/* clock modes (hv_set_clock) */
#define HV_CLOCK_HOST       0  /* cr16 reads and compare writes exit to the hypervisor */
#define HV_CLOCK_VIRTUAL    1  /* cr16 = icount * ticks_per_insn; timer interrupt raised by the core */

typedef struct hv_exit {
    uint32_t reason;     /* HV_EXIT_* */
    uint32_t addr;       /* I/O: physical address; ENV: HV_ENV_*; BREAKPOINT/FAULT: pc offset; WATCHPOINT: data offset */
    uint32_t size;       /* I/O: access size in bytes (1, 2, 4, 8); WATCHPOINT: HV_WATCH_* kind that hit */
    uint32_t value;      /* IO_WRITE / ENV_WRITE: value stored (low 32 bits; size 8 -> value_hi too) */
    uint32_t value_hi;   /* upper 32 bits of an 8-byte I/O store */
    uint32_t pc_space;   /* IASQ front at the exit */
    uint32_t pc;         /* IAOQ front at the exit (low 2 bits = privilege level) */
    uint32_t insn;       /* the instruction word at pc, if it could be fetched (else 0) */
    uint64_t icount;     /* retired-instruction count at the exit */
    char msg[96];        /* FAULT: human-readable reason */
} hv_exit_t;

/* Architected CPU state.  Python reads and writes it directly (registers by
 * name live in hvdbg/cpu/registers.py, the one register table). */
typedef struct hv_cpu_state {
    uint32_t gr[32];       /* gr[0] is always 0 */
    uint32_t sr[8];
    uint32_t cr[32];       /* cr[17]/cr[18] are the FRONT of the IIASQ/IIAOQ queues;
                              cr[16] unused when clock is host (reads exit); cr[23] = EIRR */
    uint32_t iiasq_back;   /* back of the IIASQ queue */
    uint32_t iiaoq_back;   /* back of the IIAOQ queue */
    uint32_t shadow[7];    /* shadow copies of gr1, gr8, gr9, gr16, gr17, gr24, gr25 */
    uint32_t psw;          /* the full architected PSW (N, C/B carry field, V, ...) */
    uint32_t iaoq_f, iaoq_b;   /* instruction address offset queue (low 2 bits = privilege) */
    uint32_t iasq_f, iasq_b;   /* instruction address space queue */
    uint64_t fr[32];       /* FP registers; fr[0] high word = FP status register, rest of fr0..fr3 = exception regs */
    uint32_t timer_cmp;    /* last value written to cr16 (interval timer compare) */
    uint32_t pad0;
    uint64_t icount;       /* retired instructions since reset (see docs/core.md for what counts) */
    uint64_t illegal_count;/* illegal-instruction interruptions raised (unimplemented or invalid encodings) */
} hv_cpu_state_t;

typedef struct hv_vm hv_vm_t;

/* lifetime */
hv_vm_t *hv_vm_new(uint32_t ram_bytes);          /* NULL if ram_bytes is 0, > 3 GiB, or allocation fails */
void hv_vm_free(hv_vm_t *vm);
void hv_reset(hv_vm_t *vm);                      /* CPU + TLB to power-on state; memory untouched */
hv_cpu_state_t *hv_state(hv_vm_t *vm);
void hv_state_changed(hv_vm_t *vm);              /* call after writing hv_state() fields (PSW, PIDs, ...):
                                                    drops the host-side translation caches */
uint32_t hv_ram_size(hv_vm_t *vm);

/* physical memory (RAM and the firmware region only; never I/O).  0 = ok, -1 = range not all memory */
int hv_phys_read(hv_vm_t *vm, uint32_t pa, uint8_t *buf, uint32_t len);
int hv_phys_write(hv_vm_t *vm, uint32_t pa, const uint8_t *buf, uint32_t len);
/* debugger view: translate space:offset as the CPU would for data (is_code=0) or
 * instruction fetch (is_code=1) under the current PSW; 0 = ok, else interruption number */
int hv_translate(hv_vm_t *vm, uint32_t space, uint32_t offset, int is_code, uint32_t *pa_out);

/* execution */
void hv_run(hv_vm_t *vm, uint64_t budget, uint32_t flags, hv_exit_t *out);
void hv_io_complete(hv_vm_t *vm, uint32_t value);   /* answer the pending IO/ENV exit; next hv_run re-executes and completes it */
void hv_request_stop(hv_vm_t *vm);                  /* thread-safe; the running hv_run returns HV_EXIT_STOP soon */
void hv_set_eirr(hv_vm_t *vm, uint32_t bits);       /* OR bits into EIRR (bit 0 = MSB, as the architecture numbers them) */
void hv_set_clock(hv_vm_t *vm, int mode, uint32_t ticks_per_insn);

/* debugger aids: host-side sets, never written into guest memory */
int hv_bp_add(hv_vm_t *vm, uint32_t offset);        /* 0 ok, -1 full */
int hv_bp_remove(hv_vm_t *vm, uint32_t offset);     /* 0 ok, -1 not found */
void hv_bp_clear(hv_vm_t *vm);
int hv_wp_add(hv_vm_t *vm, uint32_t offset, uint32_t len, int kinds);
int hv_wp_remove(hv_vm_t *vm, uint32_t offset, uint32_t len, int kinds);
void hv_wp_clear(hv_vm_t *vm);

/* dirty-page tracking (4 KiB pages of RAM, then the 2048 pages of the firmware region) */
uint32_t hv_page_count(hv_vm_t *vm);
uint32_t hv_dirty_take(hv_vm_t *vm, uint32_t *pages_out, uint32_t max);  /* returns count, clears those bits */

/* Epochs (architecture section 2): epoch e holds the instructions with retired count
 * e*length .. (e+1)*length-1.  At each epoch end, before the next instruction and before
 * any interrupt is delivered, the core appends {e, digest} to its record buffer and goes
 * on, unless the hypervisor asked to see that epoch end (HV_EXIT_EPOCH). */
#define HV_EPOCH_DIGEST     1  /* compute a state digest at every epoch end (else digest = 0) */
#define HV_EPOCH_EXIT_EACH  2  /* exit at every epoch end */
typedef struct hv_epoch_rec {
    uint64_t epoch;      /* the epoch that ended */
    uint64_t digest;     /* hv_digest() at its end */
} hv_epoch_rec_t;
int hv_epoch_config(hv_vm_t *vm, uint32_t length, uint32_t flags);  /* 0 ok, -1 bad length; length 0 = off */
void hv_epoch_exit_next(hv_vm_t *vm);               /* exit at the next epoch end (once) */
uint32_t hv_epoch_take(hv_vm_t *vm, hv_epoch_rec_t *out, uint32_t max);  /* oldest first */
/* State digest (architecture section 5): registers, TLB, core internals and all memory
 * (RAM and firmware region); memory is hashed incrementally from the pages written since
 * the last digest.  Equal states give equal digests on every host. */
uint64_t hv_digest(hv_vm_t *vm);

/* CPU state snapshot (registers + TLB + core internals; not memory) */
uint32_t hv_core_snapshot_size(void);
void hv_core_save(hv_vm_t *vm, uint8_t *buf);
int hv_core_restore(hv_vm_t *vm, const uint8_t *buf);   /* 0 ok, -1 bad buffer */
