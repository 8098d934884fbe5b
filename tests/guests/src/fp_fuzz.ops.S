/* fp_fuzz.ops.S -- the instruction templates fp_fuzz.c drives.
 *
 * fp_run(regs, i) loads fr0..fr31 from regs[0..31] (fr0 last written by fldd, so the
 * FPU status comes from regs[0]), runs template i (one or two instructions), then adds
 * 1 to %r28 unless the second instruction nullified that add, stores fr0..fr31 back and
 * returns %r28.  Every template is exactly 8 words, so template i is at fp_stubs + 32*i.
 * fp_names lists "TYPE NAME" per template (TYPE tells fp_fuzz.c what values to put in
 * the registers), then an empty string. */
        .level  2.0                     /* lets gas spell fneg, fcnv,uw, fmpyfadd; the
                                           guest still runs on the PA 1.1 B160L */
        .text
        .globl  fp_run, fp_stubs, fp_names

        .macro  T type, name, i1, i2=nop
        .pushsection .rodata.fpnames,"a"
        .asciz  "\type \name"
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

        .macro  TW type, name, w1, w2=0x08000240    /* the same with raw words (nop default) */
        T       \type, \name, ".word \w1", ".word \w2"
        .endm

/* raw encodings for forms gas does not produce */
#define F0E(r1,r2,sub,fmt,cls,t) (0x38000000|(r1)<<21|(r2)<<16|(sub)<<13|(fmt)<<11|(cls)<<9|(t))
#define FCMP0C(y,fmt,c)  (0x30000400|4<<21|5<<16|(y)<<13|(fmt)<<11|(c))
#define FTEST(y,c)       (0x30000420|(y)<<13|(c))

fp_run:                                 /* %r26 = regs, %r25 = template index */
        ldil    L%fp_stubs,%r1
        ldo     R%fp_stubs(%r1),%r1
        sh3add  %r25,%r0,%r19
        sh2add  %r19,%r1,%r1
        bv      %r0(%r1)
        nop

fp_load:
        copy    %r26,%r1
        fldds,ma 8(%r1),%fr0
        fldds,ma 8(%r1),%fr1
        fldds,ma 8(%r1),%fr2
        fldds,ma 8(%r1),%fr3
        fldds,ma 8(%r1),%fr4
        fldds,ma 8(%r1),%fr5
        fldds,ma 8(%r1),%fr6
        fldds,ma 8(%r1),%fr7
        fldds,ma 8(%r1),%fr8
        fldds,ma 8(%r1),%fr9
        fldds,ma 8(%r1),%fr10
        fldds,ma 8(%r1),%fr11
        fldds,ma 8(%r1),%fr12
        fldds,ma 8(%r1),%fr13
        fldds,ma 8(%r1),%fr14
        fldds,ma 8(%r1),%fr15
        fldds,ma 8(%r1),%fr16
        fldds,ma 8(%r1),%fr17
        fldds,ma 8(%r1),%fr18
        fldds,ma 8(%r1),%fr19
        fldds,ma 8(%r1),%fr20
        fldds,ma 8(%r1),%fr21
        fldds,ma 8(%r1),%fr22
        fldds,ma 8(%r1),%fr23
        fldds,ma 8(%r1),%fr24
        fldds,ma 8(%r1),%fr25
        fldds,ma 8(%r1),%fr26
        fldds,ma 8(%r1),%fr27
        fldds,ma 8(%r1),%fr28
        fldds,ma 8(%r1),%fr29
        fldds,ma 8(%r1),%fr30
        fldds,ma 8(%r1),%fr31
        fldds   0(%r26),%fr0            /* status last */
        bv      %r0(%r31)
        nop

fp_store:
        copy    %r26,%r1
        fstds,ma %fr0,8(%r1)
        fstds,ma %fr1,8(%r1)
        fstds,ma %fr2,8(%r1)
        fstds,ma %fr3,8(%r1)
        fstds,ma %fr4,8(%r1)
        fstds,ma %fr5,8(%r1)
        fstds,ma %fr6,8(%r1)
        fstds,ma %fr7,8(%r1)
        fstds,ma %fr8,8(%r1)
        fstds,ma %fr9,8(%r1)
        fstds,ma %fr10,8(%r1)
        fstds,ma %fr11,8(%r1)
        fstds,ma %fr12,8(%r1)
        fstds,ma %fr13,8(%r1)
        fstds,ma %fr14,8(%r1)
        fstds,ma %fr15,8(%r1)
        fstds,ma %fr16,8(%r1)
        fstds,ma %fr17,8(%r1)
        fstds,ma %fr18,8(%r1)
        fstds,ma %fr19,8(%r1)
        fstds,ma %fr20,8(%r1)
        fstds,ma %fr21,8(%r1)
        fstds,ma %fr22,8(%r1)
        fstds,ma %fr23,8(%r1)
        fstds,ma %fr24,8(%r1)
        fstds,ma %fr25,8(%r1)
        fstds,ma %fr26,8(%r1)
        fstds,ma %fr27,8(%r1)
        fstds,ma %fr28,8(%r1)
        fstds,ma %fr29,8(%r1)
        fstds,ma %fr30,8(%r1)
        fstds,ma %fr31,8(%r1)
        bv      %r0(%rp)
        nop

        .pushsection .rodata.fpnames,"a"
fp_names:
        .popsection
        .align  32
fp_stubs:
/* class 0: copy, abs, sqrt, round, negate (single: 0C left halves and 0E halves) */
        T s, fcpy.s,    "fcpy,sgl %fr4,%fr6"
        T s, fabs.s,    "fabs,sgl %fr4,%fr6"
        T s, fsqrt.s,   "fsqrt,sgl %fr4,%fr6"
        T s, frnd.s,    "frnd,sgl %fr4,%fr6"
        T s, fneg.s,    "fneg,sgl %fr4,%fr6"
        T s, fnegabs.s, "fnegabs,sgl %fr4,%fr6"
        T s, fsqrt.sR,  "fsqrt,sgl %fr4R,%fr6R"
        T s, frnd.sR,   "frnd,sgl %fr5R,%fr6"
        T s, fcpy.sRL,  "fcpy,sgl %fr4R,%fr6"
        T s, fneg.sR,   "fneg,sgl %fr5R,%fr6R"
        T s, fabs.fr0R, "fabs,sgl %fr0R,%fr6R"
        T s, fcpy.fr0,  "fcpy,sgl %fr0,%fr6"
        T s, fsqrt.tofr0, "fsqrt,sgl %fr4,%fr0"
        T s, fabs.tofr0R, "fabs,sgl %fr4,%fr0R"
        T s, fid,       "fid"
        T s, fid.fadd,  "fid", "fadd,sgl %fr4,%fr5,%fr6"
        T d, fcpy.d,    "fcpy,dbl %fr4,%fr6"
        T d, fabs.d,    "fabs,dbl %fr4,%fr6"
        T d, fsqrt.d,   "fsqrt,dbl %fr4,%fr6"
        T d, frnd.d,    "frnd,dbl %fr4,%fr6"
        T d, fneg.d,    "fneg,dbl %fr4,%fr6"
        T d, fnegabs.d, "fnegabs,dbl %fr4,%fr6"
        TW d, fsqrt.d0E, F0E(5,0,4,1,0,7)
        TW d, frnd.d0E, F0E(4,0,5,1,0,6)
        T d, fcpy.fr0d, "fcpy,dbl %fr0,%fr6"
        T d, fcpy.tofr0, "fcpy,dbl %fr4,%fr0", "fadd,dbl %fr5,%fr7,%fr6"
        T d, frnd.tofr0, "frnd,dbl %fr4,%fr0", "fcmp,dbl,= %fr5,%fr6"
/* class 1: conversions */
        T s, fcnvff.sd,  "fcnvff,sgl,dbl %fr4,%fr6"
        T s, fcnvff.sRd, "fcnvff,sgl,dbl %fr4R,%fr6"
        T d, fcnvff.ds,  "fcnvff,dbl,sgl %fr4,%fr6"
        T d, fcnvff.dsR, "fcnvff,dbl,sgl %fr5,%fr6R"
        T d, fcnvff.fr0, "fcnvff,dbl,sgl %fr0,%fr6"
        T s, fcnvff.fr0s, "fcnvff,sgl,dbl %fr0,%fr6"
        T w, fcnvxf.ss,  "fcnvxf,sgl,sgl %fr4,%fr6"
        T w, fcnvxf.sd,  "fcnvxf,sgl,dbl %fr4,%fr6"
        T q, fcnvxf.ds,  "fcnvxf,dbl,sgl %fr4,%fr6"
        T q, fcnvxf.dd,  "fcnvxf,dbl,dbl %fr4,%fr6"
        T w, fcnvxf.sRsL, "fcnvxf,sgl,sgl %fr4R,%fr6L"
        T q, fcnvxf.dsR, "fcnvxf,dbl,sgl %fr5,%fr6R"
        T s, fcnvfx.ss,  "fcnvfx,sgl,sgl %fr4,%fr6"
        T s, fcnvfx.sd,  "fcnvfx,sgl,dbl %fr4,%fr6"
        T d, fcnvfx.ds,  "fcnvfx,dbl,sgl %fr4,%fr6"
        T d, fcnvfx.dd,  "fcnvfx,dbl,dbl %fr4,%fr6"
        T s, fcnvfx.sRsR, "fcnvfx,sgl,sgl %fr4R,%fr6R"
        T s, fcnvfxt.ss, "fcnvfxt,sgl,sgl %fr4,%fr6"
        T s, fcnvfxt.sd, "fcnvfxt,sgl,dbl %fr4,%fr6"
        T d, fcnvfxt.ds, "fcnvfxt,dbl,sgl %fr4,%fr6"
        T d, fcnvfxt.dd, "fcnvfxt,dbl,dbl %fr4,%fr6"
        T d, fcnvfxt.dsR, "fcnvfxt,dbl,sgl %fr5,%fr6R"
        T w, fcnvuxf.ss, "fcnv,uw,sgl %fr4,%fr6"
        T w, fcnvuxf.sd, "fcnv,uw,dbl %fr4,%fr6"
        T q, fcnvuxf.ds, "fcnv,udw,sgl %fr4,%fr6"
        T q, fcnvuxf.dd, "fcnv,udw,dbl %fr4,%fr6"
        T w, fcnvuxf.sRs, "fcnv,uw,sgl %fr4R,%fr6R"
        T s, fcnvfux.ss, "fcnv,sgl,uw %fr4,%fr6"
        T s, fcnvfux.sd, "fcnv,sgl,udw %fr4,%fr6"
        T d, fcnvfux.ds, "fcnv,dbl,uw %fr4,%fr6"
        T d, fcnvfux.dd, "fcnv,dbl,udw %fr4,%fr6"
        T s, fcnvfuxt.ss, "fcnv,t,sgl,uw %fr4,%fr6"
        T s, fcnvfuxt.sd, "fcnv,t,sgl,udw %fr4,%fr6"
        T d, fcnvfuxt.ds, "fcnv,t,dbl,uw %fr4,%fr6"
        T d, fcnvfuxt.dd, "fcnv,t,dbl,udw %fr4,%fr6"
        T s, fcnvfuxt.sRs, "fcnv,t,sgl,uw %fr5R,%fr6"
/* class 3: arithmetic */
        T s, fadd.s,    "fadd,sgl %fr4,%fr5,%fr6"
        T s, fsub.s,    "fsub,sgl %fr4,%fr5,%fr6"
        T s, fmpy.s,    "fmpy,sgl %fr4,%fr5,%fr6"
        T s, fdiv.s,    "fdiv,sgl %fr4,%fr5,%fr6"
        T s, fadd.sR,   "fadd,sgl %fr4R,%fr5L,%fr6R"
        T s, fsub.sR,   "fsub,sgl %fr4L,%fr4R,%fr6L"
        T s, fmpy.sR,   "fmpy,sgl %fr5R,%fr4R,%fr6R"
        T s, fdiv.sR,   "fdiv,sgl %fr4R,%fr5R,%fr4L"
        T d, fadd.d,    "fadd,dbl %fr4,%fr5,%fr6"
        T d, fsub.d,    "fsub,dbl %fr4,%fr5,%fr6"
        T d, fmpy.d,    "fmpy,dbl %fr4,%fr5,%fr6"
        T d, fdiv.d,    "fdiv,dbl %fr4,%fr5,%fr6"
        TW d, fadd.d0E, F0E(4,5,0,1,3,6)
        TW d, fdiv.d0E, F0E(5,4,3,1,3,6)
        T s, fadd.fr0,  "fadd,sgl %fr0,%fr5,%fr6"
        T s, fmpy.fr0R, "fmpy,sgl %fr0R,%fr5,%fr6"
        T d, fsub.fr0,  "fsub,dbl %fr4,%fr0,%fr6"
        T d, fmpy.tofr0, "fmpy,dbl %fr4,%fr5,%fr0"
        T s, fadd.tofr0R, "fadd,sgl %fr4R,%fr5R,%fr0R"
        T s, xmpyu,     "xmpyu %fr4R,%fr5L,%fr6"
        T s, xmpyu.fr0, "xmpyu %fr0,%fr5R,%fr6"
        T s, xmpyu.fr0R, "xmpyu %fr0R,%fr5R,%fr0"
        T s, fmpyadd.s, "fmpyadd,sgl %fr16,%fr17,%fr18,%fr19,%fr20"
        T s, fmpyadd.sR, "fmpyadd,sgl %fr16R,%fr17R,%fr18R,%fr19R,%fr20R"
        T s, fmpysub.s, "fmpysub,sgl %fr21,%fr22R,%fr23,%fr24R,%fr25"
/* QEMU 7.2 decodes the fmpyadd/fmpysub f bit reversed (f=1 double, f=0 single, while
 * gas and the architecture use f=0 for double): ",dbl" as gas writes it runs as single
 * there, so the double forms QEMU executes are written as raw words */
        T d, fmpyadd.dbl-as-sgl, "fmpyadd,dbl %fr4,%fr5,%fr6,%fr7,%fr8"
        T d, fmpysub.dbl-as-sgl, "fmpysub,dbl %fr4,%fr5,%fr6,%fr7,%fr8"
        TW d, fmpyadd.d, 0x188541e6
        TW d, fmpysub.d, 0x988541e6
        TW d, fmpyadd.tmta, 0x188531e6
        TW d, fmpysub.tmra, 0x988539a6
        TW d, fmpyadd.d.fr0, 0x180541e0
        T s, fmpyfadd.s, "fmpyfadd,sgl %fr4,%fr5,%fr7,%fr6"
        T s, fmpyfadd.sR, "fmpyfadd,sgl %fr4R,%fr5,%fr7R,%fr6R"
        T s, fmpynfadd.s, "fmpynfadd,sgl %fr4R,%fr5R,%fr6,%fr6L"
        T d, fmpyfadd.d, "fmpyfadd,dbl %fr4,%fr5,%fr7,%fr6"
        T d, fmpynfadd.d, "fmpynfadd,dbl %fr4,%fr5,%fr7,%fr6"
/* class 2: compare (all conditions, queued), then ftest */
        .irp    c, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        TW s, fcmp.s\c, FCMP0C(0,0,\c), 0x30002420
        .endr
        .irp    c, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        TW d, fcmp.d\c, FCMP0C(0,1,\c), 0x30002420
        .endr
        T s, fcmp.sR,   "fcmp,sgl,!<= %fr4R,%fr5R", "ftest"
        T s, fcmp.sRL,  "fcmp,sgl,?= %fr5R,%fr4L", "ftest"
        TW d, fcmp.d0E, F0E(4,5,0,1,2,0x13), 0x30002420
        T s, fcmp.fr0,  "fcmp,sgl,= %fr0,%fr5", "ftest"
        T d, fcmp.fr0d, "fcmp,dbl,<= %fr4,%fr0", "ftest"
        .irp    y, 1,2,3,4,5,6,7
        TW s, fcmp.y\y, FCMP0C(\y,0,0x0b), FTEST(\y,0)
        .endr
        .irp    y, 0,2,3,4,5,6,7
        TW s, ftest.y\y, FCMP0C(0,0,0x15), FTEST(\y,0)
        .endr
        .irp    c, 1,2,5,6,9,13,17
        TW s, ftest.c\c, FCMP0C(0,0,0x09), FTEST(1,\c)
        .endr
        .pushsection .rodata.fpnames,"a"
        .byte   0
        .popsection
