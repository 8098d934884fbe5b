/* asm_arith.asm.S -- every arithmetic/logical/unit condition of the PA-RISC 1.1
 * computational instructions, with nullification.
 *
 * asm_arith(a, b, out): %r26 = a, %r25 = b, %r24 = out.  For each instruction
 * and condition it stores three words: the result, 1 if the following
 * instruction was nullified (else 0), and the PSW carry bit afterwards (read
 * with addc).  The table at arith_names describes the records: per family one
 * count byte (how many conditions) and a NUL-terminated title.
 *
 * Avoided on purpose: dcor/idcor (QEMU 7.2 reads the wrong carry bits: see
 * asm_dcor), shNadd/ds with conditions that use the overflow bit when the shift
 * itself overflows (QEMU 7.2 ignores shift overflow), uxor with carry
 * conditions (undefined), and the trapping forms (other guests cover traps). */
        .text

/* carry / V-bit set-up before an instruction */
        .macro  C0                      /* PSW carries all clear */
        add     %r0,%r0,%r0
        .endm
        .macro  C1                      /* PSW carries all set */
        sub     %r0,%r0,%r0
        .endm
        .macro  V0                      /* PSW[V] = 0, whatever it was: ds with 0x7fffffff, C = 0 */
        add     %r0,%r0,%r0
        ldil    L%0x7fffffff,%r1
        ldo     R%0x7fffffff(%r1),%r1
        ds      %r0,%r1,%r0
        .endm
        .macro  V1                      /* PSW[V] = 1: ds with 0x80000000, C = 0 */
        add     %r0,%r0,%r0
        ldil    L%0x80000000,%r1
        ds      %r0,%r1,%r0
        .endm
        .macro  V0C0
        V0
        C0
        .endm
        .macro  V0C1
        V0
        C1
        .endm
        .macro  V1C0
        V1
        C0
        .endm
        .macro  V1C1
        V1
        C1
        .endm

        .macro  FAM title, n
        .pushsection .rodata.arith_names,"a"
        .byte   \n
        .asciz  "\title"
        .popsection
        .endm

        .macro  REC pre, insn
        \pre
        ldi     0x5a,%r28
        ldi     1,%r19
        \insn
        ldi     0,%r19                  /* skipped when nullified */
        addc    %r0,%r0,%r20            /* carry after */
        stws,ma %r28,4(%r24)
        stws,ma %r19,4(%r24)
        stws,ma %r20,4(%r24)
        .endm

        /* add-type conditions: never = < <= nuv znv sv od, and their negations */
        .macro  ADDF pre, op, args
        FAM     "\op \args (\pre)", 16
        REC     \pre, "\op \args"
        .irp    c,=,<,<=,nuv,znv,sv,od,tr,<>,>=,>,uv,vnz,nsv,ev
        REC     \pre, "\op,\c \args"
        .endr
        .endm

        /* add-type conditions that do not use the overflow bit */
        .macro  NOVF pre, op, args
        FAM     "\op \args (\pre)", 10
        REC     \pre, "\op \args"
        .irp    c,=,nuv,znv,od,tr,<>,uv,vnz,ev
        REC     \pre, "\op,\c \args"
        .endr
        .endm

        /* ds: compare-style names, without the overflow-based conditions */
        .macro  DSF pre
        FAM     "ds %r26,%r25,%r28 (\pre)", 10
        REC     \pre, "ds %r26,%r25,%r28"
        .irp    c,=,<<,<<=,od,tr,<>,>>=,>>,ev
        REC     \pre, "ds,\c %r26,%r25,%r28"
        .endr
        .endm

        /* compare/subtract conditions: never = < <= << <<= sv od and negations */
        .macro  SUBF pre, op, args
        FAM     "\op \args (\pre)", 16
        REC     \pre, "\op \args"
        .irp    c,=,<,<=,<<,<<=,sv,od,tr,<>,>=,>,>>=,>>,nsv,ev
        REC     \pre, "\op,\c \args"
        .endr
        .endm

        /* logical conditions */
        .macro  LOGF op, args
        FAM     "\op \args", 10
        REC     C1, "\op \args"
        .irp    c,=,<,<=,od,tr,<>,>=,>,ev
        REC     C1, "\op,\c \args"
        .endr
        .endm

        .pushsection .rodata.arith_names,"a"
        .globl  arith_names
arith_names:
        .popsection

        .globl  asm_arith
        .type   asm_arith,@function
asm_arith:
        copy    %r24,%r22                /* start of the output */
        extrs   %r26,28,29,%r21         /* a >> 3: shNadd on it cannot overflow in the shift */

        ADDF    C0, add, "%r26,%r25,%r28"
        ADDF    C1, addl, "%r26,%r25,%r28"
        ADDF    C0, addc, "%r26,%r25,%r28"
        ADDF    C1, addc, "%r26,%r25,%r28"
        ADDF    C0, addi, "1023,%r26,%r28"
        ADDF    C0, addi, "-1024,%r26,%r28"
        ADDF    C1, addi, "1,%r25,%r28"
        ADDF    C0, sh1add, "%r21,%r25,%r28"
        ADDF    C0, sh2add, "%r21,%r25,%r28"
        ADDF    C1, sh3add, "%r21,%r25,%r28"
        ADDF    C0, sh2addl, "%r21,%r25,%r28"
        NOVF    C0, sh3add, "%r26,%r25,%r28"
        NOVF    C1, sh1addl, "%r26,%r25,%r28"
        DSF     V0C0
        DSF     V0C1
        DSF     V1C0
        DSF     V1C1

        SUBF    C1, sub, "%r26,%r25,%r28"
        SUBF    C0, subb, "%r26,%r25,%r28"
        SUBF    C1, subb, "%r26,%r25,%r28"
        SUBF    C0, comclr, "%r26,%r25,%r28"
        SUBF    C0, comiclr, "5,%r25,%r28"
        SUBF    C0, comiclr, "-1,%r25,%r28"
        SUBF    C1, comiclr, "-1024,%r26,%r28"
        SUBF    C0, subi, "5,%r25,%r28"
        SUBF    C0, subi, "-1024,%r26,%r28"
        SUBF    C0, subi, "1023,%r26,%r28"

        LOGF    or, "%r26,%r25,%r28"
        LOGF    and, "%r26,%r25,%r28"
        LOGF    xor, "%r26,%r25,%r28"
        LOGF    andcm, "%r26,%r25,%r28"

        FAM     "uaddcm %r26,%r25,%r28", 12
        REC     C0, "uaddcm %r26,%r25,%r28"
        .irp    c,sbz,shz,sdc,sbc,shc,tr,nbz,nhz,ndc,nbc,nhc
        REC     C0, "uaddcm,\c %r26,%r25,%r28"
        .endr
        FAM     "uxor %r26,%r25,%r28", 6
        REC     C1, "uxor %r26,%r25,%r28"
        .irp    c,sbz,shz,tr,nbz,nhz
        REC     C1, "uxor,\c %r26,%r25,%r28"
        .endr

        /* a family with the condition applied to a value already in the target:
         * the source and target registers are the same */
        FAM     "add %r28,%r28,%r28 (C0, r28=a)", 4
        .irp    c,<,sv,uv,ev
        C0
        copy    %r26,%r28
        ldi     1,%r19
        add,\c  %r28,%r28,%r28
        ldi     0,%r19
        addc    %r0,%r0,%r20
        stws,ma %r28,4(%r24)
        stws,ma %r19,4(%r24)
        stws,ma %r20,4(%r24)
        .endr

        sub     %r24,%r22,%r28          /* bytes written */
        bv      %r0(%rp)
        extru   %r28,29,30,%r28         /* / 4 = words */

        .pushsection .rodata.arith_names,"a"
        .byte   0                       /* end of table */
        .popsection
