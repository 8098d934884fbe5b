/* fp_mem.ops.S -- every FP load/store addressing form, for fp_mem.c.
 *
 * fp_mem_run(data, out): %r26 = data (2 KiB, 8-aligned), %r25 = out (uint64_t[]).
 * Each step appends records to out: GR values as offsets from data (REC_GR), FP
 * registers whole (REC_FR).  Caller-saved registers only. */
        .level  2.0                     /* the PA 2.0 long-displacement forms QEMU 7.2 accepts */
        .text
        .globl  fp_mem_run

        .macro  REC_GR reg
        sub     \reg,%r26,%r20
        stw     %r0,0(%r25)
        stw     %r20,4(%r25)
        ldo     8(%r25),%r25
        .endm
        .macro  REC_FR fr
        fstds,ma \fr,8(%r25)
        .endm

fp_mem_run:
        /* short displacement words: ,ma ,mb and plain, both halves */
        copy    %r26,%r19
        fldws,ma 4(%r19),%fr4
        fldws,mb 4(%r19),%fr4R
        REC_GR  %r19
        REC_FR  %fr4
        fldws   -4(%r19),%fr5
        fldws   12(%r19),%fr5R
        REC_GR  %r19
        REC_FR  %fr5
        /* indexed words: plain, scaled, modify, scaled modify */
        ldi     4,%r20
        fldwx   %r20(%r19),%fr6
        fldwx,s %r20(%r19),%fr6R
        REC_FR  %fr6
        ldi     4,%r20
        fldwx,m %r20(%r19),%fr7
        fldwx,sm %r20(%r19),%fr7R
        REC_GR  %r19
        REC_FR  %fr7
        ldi     -3,%r21
        fldwx,sm %r21(%r19),%fr8R
        REC_GR  %r19
        REC_FR  %fr8
        /* doublewords */
        copy    %r26,%r19
        fldds,ma 8(%r19),%fr9
        fldds,mb 8(%r19),%fr10
        fldds   8(%r19),%fr11
        fldds   -16(%r19),%fr12
        REC_GR  %r19
        REC_FR  %fr9
        REC_FR  %fr10
        REC_FR  %fr11
        REC_FR  %fr12
        ldi     8,%r21
        flddx   %r21(%r19),%fr13
        flddx,s %r21(%r19),%fr14
        flddx,m %r21(%r19),%fr15
        REC_GR  %r19
        ldi     -2,%r21
        flddx,sm %r21(%r19),%fr16
        REC_GR  %r19
        REC_FR  %fr13
        REC_FR  %fr14
        REC_FR  %fr15
        REC_FR  %fr16
        /* PA 2.0 long displacement forms (0x14, 0x16, 0x17) */
        copy    %r26,%r19
        fldw    1024(%r19),%fr17
        fldw    1028(%r19),%fr17R
        fldw,ma 64(%r19),%fr18
        fldw,mb 64(%r19),%fr18R
        REC_GR  %r19
        fldw,mb -96(%r19),%fr19
        REC_GR  %r19
        fldd    1024(%r19),%fr20
        fldd,ma 64(%r19),%fr21
        fldd,mb -32(%r19),%fr22
        REC_GR  %r19
        REC_FR  %fr17
        REC_FR  %fr18
        REC_FR  %fr19
        REC_FR  %fr20
        REC_FR  %fr21
        REC_FR  %fr22
        /* stores, into data + 1536 and up */
        ldo     1536(%r26),%r19
        fstws,ma %fr4,4(%r19)
        fstws,mb %fr4R,4(%r19)
        fstws   %fr5R,4(%r19)
        REC_GR  %r19
        ldi     2,%r20
        fstwx,s %fr6,%r20(%r19)
        ldi     4,%r20
        fstwx,m %fr6R,%r20(%r19)
        ldi     2,%r20
        fstwx,sm %fr7,%r20(%r19)
        REC_GR  %r19
        ldo     1600(%r26),%r19
        fstds,ma %fr9,8(%r19)
        fstds,mb %fr10,8(%r19)
        fstds   %fr11,8(%r19)
        ldi     3,%r20
        fstdx,s %fr12,%r20(%r19)
        fstdx,sm %fr13,%r20(%r19)
        REC_GR  %r19
        ldo     1700(%r26),%r19         /* long forms: 0x1c, 0x1e, 0x1f */
        fstw    %fr17R,100(%r19)
        fstw,ma %fr18,64(%r19)
        fstw,mb %fr18R,-40(%r19)
        REC_GR  %r19
        ldo     1800(%r26),%r19
        fstd    %fr20,104(%r19)
        fstd,ma %fr21,64(%r19)
        fstd,mb %fr22,-32(%r19)
        REC_GR  %r19
        /* base gr0 with index: address = index */
        ldo     8(%r26),%r21
        fldwx   %r21(%r0),%fr23
        REC_FR  %fr23
        /* fr0: fldw fr0L reloads the status the FPU uses, fldw fr0R and fldd do as
         * their halves say; arithmetic then rewrites fr0 = status << 32 */
        ldo     256(%r26),%r19          /* data[64..]: status words and operands */
        fldds   0(%r19),%fr24           /* 1.0 */
        fldds   8(%r19),%fr25           /* 2^-60 */
        ldo     16(%r19),%r19
        fldws   0(%r19),%fr0            /* status: round up */
        fadd,dbl %fr24,%fr25,%fr26
        REC_FR  %fr0
        REC_FR  %fr26
        fldws   4(%r19),%fr0R           /* a word in fr0R: no status change */
        REC_FR  %fr0
        fadd,dbl %fr24,%fr25,%fr26      /* still rounds up; fr0R cleared */
        REC_FR  %fr0
        REC_FR  %fr26
        fldds   8(%r19),%fr0            /* status: round down, fr0R = a pattern */
        fsub,dbl %fr0,%fr25,%fr27       /* fr0 as a double source reads as zero */
        REC_FR  %fr27
        fstws   %fr0,0(%r25)            /* fstw fr0L stores the status word */
        fstws   %fr0R,4(%r25)
        ldo     8(%r25),%r25
        fcmp,dbl,= %fr24,%fr24          /* C := 1 */
        fstds   %fr0,0(%r25)
        ldo     8(%r25),%r25
        ldo     16(%r19),%r19
        fldds   0(%r19),%fr0            /* data[72]: round-to-nearest, flags clear */
        bv      %r0(%rp)
        nop
