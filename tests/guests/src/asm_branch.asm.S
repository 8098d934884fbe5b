/* asm_branch.asm.S -- conditional branches with every condition, with and
 * without ,n, forward and backward: comb/comib/addb/addib/movb/movib/bb/bvb.
 *
 * asm_branch(a, b, out, sar): %r26 = a, %r25 = b, %r24 = out, %r23 = SAR.
 * For each instruction and condition, four cases (forward, forward ,n,
 * backward, backward ,n), each three words: %r28 afterwards (the branch's
 * target register for addb/addib/movb/movib, which starts as b), 1 if the
 * branch was taken or 2 if it fell through, and 1 if the delay-slot
 * instruction ran.  The table at branch_names has per family a count byte
 * and a NUL-terminated title.
 *
 * asm_branch_misc(out, k): blr/bv/ble/bl link values, branches in delay
 * slots, nullified branches; see the comments below. */
        .text

        .macro  FAM title, n
        .pushsection .rodata.branch_names,"a"
        .byte   \n
        .asciz  "\title"
        .popsection
        .endm

        .macro  SAVE
        stws,ma %r28,4(%r24)
        stws,ma %r19,4(%r24)
        stws,ma %r20,4(%r24)
        .endm

        .macro  FWD init, br
        copy    \init,%r28
        ldi     0,%r19
        ldi     0,%r20
        \br,91f
        ldi     1,%r20                  /* delay slot */
        ldi     2,%r19                  /* fell through */
        b,n     92f
91:     ldi     1,%r19                  /* taken */
92:     SAVE
        .endm

        .macro  BWD init, br
        copy    \init,%r28
        ldi     0,%r19
        ldi     0,%r20
        b,n     93f
91:     ldi     1,%r19                  /* taken */
        b,n     92f
93:     \br,91b
        ldi     1,%r20                  /* delay slot */
        ldi     2,%r19                  /* fell through */
92:     SAVE
        .endm

        .macro  FOUR init, br, brn
        FWD     \init, "\br"
        FWD     \init, "\brn"
        BWD     \init, "\br"
        BWD     \init, "\brn"
        .endm

        /* compare conditions (comb, comib) */
        .macro  CMPF init, op, args
        FAM     "\op \args", 16
        FOUR    \init, "\op \args", "\op,n \args"
        .irp    c,=,<,<=,<<,<<=,sv,od,tr,<>,>=,>,>>=,>>,nsv,ev
        FOUR    \init, "\op,\c \args", "\op,\c,n \args"
        .endr
        .endm

        /* add conditions (addb, addib) */
        .macro  ADDF init, op, args
        FAM     "\op \args", 16
        FOUR    \init, "\op \args", "\op,n \args"
        .irp    c,=,<,<=,nuv,znv,sv,od,tr,<>,>=,>,uv,vnz,nsv,ev
        FOUR    \init, "\op,\c \args", "\op,\c,n \args"
        .endr
        .endm

        /* shift/extract conditions (movb, movib) */
        .macro  SEDF init, op, args
        FAM     "\op \args", 8
        FOUR    \init, "\op \args", "\op,n \args"
        .irp    c,=,<,od,tr,<>,>=,ev
        FOUR    \init, "\op,\c \args", "\op,\c,n \args"
        .endr
        .endm

        /* branch on bit: < (bit set) and >= (bit clear) */
        .macro  BBF op, args
        FAM     "\op \args", 2
        FOUR    %r25, "\op,< \args", "\op,<,n \args"
        FOUR    %r25, "\op,>= \args", "\op,>=,n \args"
        .endm

        .pushsection .rodata.branch_names,"a"
        .globl  branch_names
branch_names:
        .popsection

        .globl  asm_branch
        .type   asm_branch,@function
asm_branch:
        mtsar   %r23
        CMPF    %r25, comb, "%r26,%r28"
        CMPF    %r25, comib, "5,%r28"
        CMPF    %r25, comib, "-1,%r28"
        ADDF    %r25, addb, "%r26,%r28"
        ADDF    %r25, addib, "-1,%r28"
        ADDF    %r25, addib, "15,%r28"
        SEDF    %r25, movb, "%r26,%r28"
        SEDF    %r25, movib, "-16,%r28"
        BBF     bb, "%r26,0"
        BBF     bb, "%r26,5"
        BBF     bb, "%r26,31"
        BBF     bvb, "%r26"
        bv,n    %r0(%rp)

        .pushsection .rodata.branch_names,"a"
        .byte   0
        .popsection

/* ---- asm_branch_misc(out = %r26, k = %r25): stores words at out ---- */
        .globl  asm_branch_misc
        .type   asm_branch_misc,@function
asm_branch_misc:
        copy    %rp,%r22                /* our own return address */

        /* 1. blr: index k & 3 into a table of two-instruction entries;
         *    the link register gets the address of the blr + 8 */
        extru   %r25,31,2,%r21
        ldi     0,%r19
        blr     %r21,%r2
        ldi     7,%r20                  /* delay slot of blr: runs */
        ldi     10,%r19                 /* entry 0 */
        b,n     10f
        ldi     11,%r19                 /* entry 1 */
        b,n     10f
        ldi     12,%r19                 /* entry 2 */
        b,n     10f
        ldi     13,%r19                 /* entry 3 */
        b,n     10f
10:     ldil    L%asm_branch_misc,%r1
        ldo     R%asm_branch_misc(%r1),%r1
        sub     %r2,%r1,%r2             /* link, relative to this function */
        stws,ma %r19,4(%r26)
        stws,ma %r20,4(%r26)
        stws,ma %r2,4(%r26)

        /* 2. blr,n: the delay slot is nullified */
        ldi     0,%r20
        blr,n   %r21,%r0
        ldi     1,%r20
        b       11f
        ldi     20,%r19
        b       11f
        ldi     21,%r19
        b       11f
        ldi     22,%r19
        b       11f
        ldi     23,%r19
11:     stws,ma %r19,4(%r26)
        stws,ma %r20,4(%r26)

        /* 3. bv with an index register: target = base + (index << 3) */
        ldil    L%12f,%r1
        ldo     R%12f(%r1),%r1
        bv      %r21(%r1)
        ldi     3,%r20
12:     b       13f
        ldi     30,%r19
        b       13f
        ldi     31,%r19
        b       13f
        ldi     32,%r19
        b       13f
        ldi     33,%r19
13:     stws,ma %r19,4(%r26)
        stws,ma %r20,4(%r26)

        /* 4. ble through %sr4 (0 here): link in %r31, space in %sr0 */
        ldil    L%14f,%r1
        ble     R%14f(%sr4,%r1)
        ldi     4,%r20
        ldi     99,%r20                 /* skipped: ble went to 14 */
14:     ldil    L%asm_branch_misc,%r1
        ldo     R%asm_branch_misc(%r1),%r1
        sub     %r31,%r1,%r31
        mfsp    %sr0,%r19
        stws,ma %r31,4(%r26)
        stws,ma %r19,4(%r26)
        stws,ma %r20,4(%r26)

        /* 5. be,n: no link, delay slot nullified */
        ldi     0,%r20
        ldil    L%15f,%r1
        be,n    R%15f(%sr4,%r1)
        ldi     5,%r20
        ldi     98,%r20
15:     stws,ma %r20,4(%r26)

        /* 6. a taken branch in the delay slot of a taken branch: one
         *    instruction runs at the first target, then control goes to the
         *    second target.  %r19 collects a bit per instruction run. */
        ldi     0,%r19
        b       16f
        b       17f                     /* delay slot: also a branch */
        depi    -1,31,1,%r19            /* not run */
16:     depi    -1,30,1,%r19            /* runs: the first target, one instruction */
        depi    -1,29,1,%r19            /* not run */
17:     depi    -1,28,1,%r19            /* runs: the second target */
        stws,ma %r19,4(%r26)

        /* 7. a conditional branch in a delay slot, not taken: execution
         *    continues at the first branch's target */
        ldi     0,%r19
        b       18f
        comb,=  %r0,%r25,19f            /* taken only when k == 0 */
        depi    -1,31,1,%r19
18:     depi    -1,30,1,%r19
        depi    -1,29,1,%r19
19:     depi    -1,28,1,%r19
        stws,ma %r19,4(%r26)

        /* 8. a nullified branch does not branch (comclr,= with equal inputs) */
        ldi     0,%r19
        comclr,= %r0,%r0,%r0
        b       20f
        depi    -1,31,1,%r19            /* runs: the b was nullified */
        depi    -1,30,1,%r19
20:     depi    -1,29,1,%r19
        stws,ma %r19,4(%r26)

        /* 9. bl with link in %r31 and b,n backwards (the delay slot is
         *    nullified for unconditional branches in either direction) */
        ldi     0,%r19
        b,n     22f
21:     depi    -1,31,1,%r19
        b       23f
        depi    -1,30,1,%r19            /* delay slot of b: runs */
22:     bl      24f,%r31
        depi    -1,29,1,%r19            /* delay slot of bl: runs */
24:     ldil    L%asm_branch_misc,%r1
        ldo     R%asm_branch_misc(%r1),%r1
        sub     %r31,%r1,%r31
        b,n     21b
        depi    -1,28,1,%r19            /* nullified */
23:     stws,ma %r19,4(%r26)
        stws,ma %r31,4(%r26)

        /* 10. addib loop: count down k+5 times with a backward addib,> */
        ldo     5(%r25),%r21
        ldi     0,%r19
25:     addib,> -1,%r21,25b
        addi    1,%r19,%r19             /* delay slot: runs on every iteration */
        stws,ma %r19,4(%r26)
        stws,ma %r21,4(%r26)

        /* 11. the same loop with ,n: the delay slot runs only when the
         *     backward branch is taken */
        ldo     5(%r25),%r21
        ldi     0,%r19
26:     addib,>,n -1,%r21,26b
        addi    1,%r19,%r19
        stws,ma %r19,4(%r26)
        stws,ma %r21,4(%r26)

        bv      %r0(%r22)
        nop
