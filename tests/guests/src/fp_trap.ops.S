/* fp_trap.ops.S -- templates for fp_trap.c, plus its interruption vector table.
 *
 * fp_trap_run(regs, i) loads fr0..fr31 from regs[0..31] (fr0 last), runs template i
 * (two instruction words, then an add to %r28 that the second may nullify), stores
 * fr0..fr31 back and returns %r28.  Each template is 8 words.  fp_ivt: every vector
 * records (vector, IIR) in fp_trap_log, counts it, and returns to the instruction after
 * the one that trapped.  The handler uses only %r19 and %r20. */
        .level  2.0
        .text
        .globl  fp_trap_run, fp_trap_stubs, fp_trap_names, fp_ivt, fp_set_iva, fp_trap_log

        .macro  T name, i1, i2=nop
        .pushsection .rodata.fptrapnames,"a"
        .asciz  "\name"
        .popsection
        bl      fp_load,%r31
        ldi     0,%r28
        \i1
        \i2
        addi    1,%r28,%r28
        b       fp_store
        nop
        nop
        .endm

        .macro  TW name, w1, w2=0x08000240
        T       \name, ".word \w1", ".word \w2"
        .endm

fp_set_iva:
        bv      %r0(%rp)
        mtctl   %r26,%cr14

fp_trap_run:
        ldil    L%fp_trap_stubs,%r1
        ldo     R%fp_trap_stubs(%r1),%r1
        sh3add  %r25,%r0,%r19
        sh2add  %r19,%r1,%r1
        bv      %r0(%r1)
        nop

fp_load:
        copy    %r26,%r1
        .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        fldds,ma 8(%r1),%fr\n
        .endr
        fldds   0(%r26),%fr0
        bv      %r0(%r31)
        nop

fp_store:
        copy    %r26,%r1
        .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        fstds,ma %fr\n,8(%r1)
        .endr
        bv      %r0(%rp)
        nop

fp_trap_common:                         /* %r20 = vector number */
        ldil    L%fp_trap_log,%r19
        ldo     R%fp_trap_log(%r19),%r19
        stw     %r20,0(%r19)
        mfctl   %cr19,%r20
        stw     %r20,4(%r19)
        ldw     8(%r19),%r20
        addi    1,%r20,%r20
        stw     %r20,8(%r19)
        mfctl   %cr21,%r20              /* IOR: offset from the register buffer */
        sub     %r20,%r26,%r20
        stw     %r20,12(%r19)
        mfctl   %cr17,%r20              /* skip the trapping instruction: the queue */
        mtctl   %r20,%cr17              /* becomes (back, back + 4) */
        mfctl   %cr18,%r20
        ldo     8(%r20),%r20
        mtctl   %r20,%cr18
        rfi
        nop

        .align  2048
fp_ivt:
        .irp    v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .align  32
        b       fp_trap_common
        ldi     \v,%r20
        .endr

        .align  32
        .pushsection .rodata.fptrapnames,"a"
fp_trap_names:
        .popsection
fp_trap_stubs:
/* enabled exceptions (the C table gives each template its status word and operands) */
        T  fdiv.d.0/0,    "fdiv,dbl %fr4,%fr5,%fr6"
        T  fdiv.d.1/0,    "fdiv,dbl %fr4,%fr5,%fr6"
        T  fdiv.d.0/0.Zen, "fdiv,dbl %fr4,%fr5,%fr6"
        T  fmpy.d.ovf,    "fmpy,dbl %fr4,%fr5,%fr6"
        T  fmpy.d.unf,    "fmpy,dbl %fr4,%fr5,%fr6"
        T  fmpy.d.exact-tiny, "fmpy,dbl %fr4,%fr5,%fr6"
        T  fdiv.d.inexact, "fdiv,dbl %fr4,%fr5,%fr6"
        T  fadd.d.exact,  "fadd,dbl %fr4,%fr5,%fr6"
        T  fcnvfx.nan,    "fcnvfx,dbl,sgl %fr4,%fr6R"
        T  fcmp.sig.qnan, "fcmp,dbl,< %fr4,%fr5", "ftest"
        T  fcmp.quiet.qnan, "fcmp,dbl,!?>= %fr4,%fr5", "ftest"
        T  fcmp.quiet.snan, "fcmp,dbl,? %fr4,%fr5", "ftest"
        TW fmpyadd.addovf, 0x188531e8            /* fr8 = fr4*fr5; fr6 += fr7 (QEMU: f=1 is double) */
        TW fmpyadd.mpyinv, 0x188531e8
        T  fsqrt.s.neg,   "fsqrt,sgl %fr4,%fr6"
        T  fcnvff.ds.ovf, "fcnvff,dbl,sgl %fr4,%fr6"
        T  sticky.noraise, "fadd,dbl %fr4,%fr5,%fr6"
        T  sticky.fcpy,   "fcpy,dbl %fr4,%fr6", "fabs,dbl %fr5,%fr7"
        T  fdiv.sR.1/0,   "fdiv,sgl %fr4R,%fr5L,%fr6R"
        T  frnd.inexact,  "frnd,dbl %fr4,%fr6"
        TW fmpysub.d.both, 0x988531e8
        T  fcnv.uw.neg,   "fcnv,dbl,uw %fr4,%fr6"
        T  fmpyfadd.inv,  "fmpyfadd,dbl %fr4,%fr5,%fr7,%fr6"
        T  ok.after.trap, "fdiv,dbl %fr4,%fr5,%fr6", "fadd,dbl %fr5,%fr5,%fr7"
/* encodings QEMU 7.2 rejects: illegal instruction trap with IIR = the word */
        TW ill.0c.sub1,     0x30002000
        TW ill.fcpy.fmt2,   0x30805006
        TW ill.frem,        0x30858606
        TW ill.0c.bit26,    0x30804026
        TW ill.0c.r2,       0x30814006
        TW ill.cnv.sub4,    0x30820206
        TW ill.fcnvff.ss,   0x30800206
        TW ill.cnv.df2,     0x3080c206
        TW ill.ftest.c3,    0x30002423
        TW ill.ftest.r1,    0x30802420
        TW ill.0c.bits23,   0x30850646
        TW ill.xmpyu.sub0,  0x38850786
        TW ill.0e.fcpy.b19, 0x38805006
        TW ill.0e.fadd.d.h, 0x38850e86
        TW ill.fldw.uid2,   0x27481144
        TW ill.fldd.r,      0x2f511045
        TW ill.ldd.0x14,    0x53442000
        TW ill.0x17.b30,    0x5f442006
        TW ill.fmpyfadd.b23, 0xb8852f06
        TW ill.fcmp.d.half, 0x38850c84
        TW ill.fcmp.quad,   0x30851404
        TW ill.0c.sub5,     0x3085a606
        TW ill.0e.cnv.df2,  0x38806286
        TW ok.fid,          0x30000000
/* unaligned FP accesses (unaligned data reference trap; a modifying form leaves the base) */
        T  unaligned.fldd,  "fldds 4(%r26),%fr6"
        T  unaligned.fstw,  "fstws %fr6,2(%r26)"
        T  unaligned.fldw.mb, "fldws,mb 6(%r26),%fr6"
        T  unaligned.fstd.mb, "fstds,mb %fr6,4(%r26)"
        .pushsection .rodata.fptrapnames,"a"
        .byte   0
        .popsection
        .data
        .align  8
fp_trap_log:
        .word   0, 0, 0, 0
