/* asm_shift.asm.S -- shift, extract and deposit (fixed and SAR-variable forms)
 * with every shift/extract/deposit condition and nullification.
 *
 * asm_shift(a, b, out, sar): %r26 = a, %r25 = b, %r24 = out, %r23 = SAR value.
 * For each instruction and condition it stores two words: the result and 1 if
 * the following instruction was nullified.  The table at shift_names holds per
 * family a count byte, a SAR byte (0 for fixed forms; for SAR forms 0x80 plus
 * the smallest SAR for which the family is defined: a variable-position field
 * of length len needs SAR >= len - 1) and a NUL-terminated title.  The last word written is
 * SAR read back with mfctl. */
        .text

        .macro  FAM title, n, minsar=0
        .pushsection .rodata.shift_names,"a"
        .byte   \n, \minsar
        .asciz  "\title"
        .popsection
        .endm

        /* \init: register copied into the target first (deposits merge into it) */
        .macro  REC init, insn
        copy    \init,%r28
        ldi     1,%r19
        \insn
        ldi     0,%r19                  /* skipped when nullified */
        stws,ma %r28,4(%r24)
        stws,ma %r19,4(%r24)
        .endm

        /* conditions: never = < od tr <> >= ev */
        .macro  SED init, op, args, minsar=0
        FAM     "\op \args", 8, \minsar
        REC     \init, "\op \args"
        .irp    c,=,<,od,tr,<>,>=,ev
        REC     \init, "\op,\c \args"
        .endr
        .endm

        .pushsection .rodata.shift_names,"a"
        .globl  shift_names
shift_names:
        .popsection

        .globl  asm_shift
        .type   asm_shift,@function
asm_shift:
        mtsar   %r23
        ldi     0x5a,%r22

        SED     %r22, extru, "%r26,31,1,%r28"
        SED     %r22, extru, "%r26,31,8,%r28"
        SED     %r22, extru, "%r26,15,16,%r28"
        SED     %r22, extru, "%r26,0,1,%r28"
        SED     %r22, extru, "%r26,31,32,%r28"
        SED     %r22, extru, "%r26,20,5,%r28"
        SED     %r22, extrs, "%r26,31,1,%r28"
        SED     %r22, extrs, "%r26,31,8,%r28"
        SED     %r22, extrs, "%r26,15,16,%r28"
        SED     %r22, extrs, "%r26,0,1,%r28"
        SED     %r22, extrs, "%r26,31,32,%r28"
        SED     %r22, extrs, "%r26,20,5,%r28"
        SED     %r22, zdep, "%r26,31,1,%r28"
        SED     %r22, zdep, "%r26,31,8,%r28"
        SED     %r22, zdep, "%r26,15,16,%r28"
        SED     %r22, zdep, "%r26,0,1,%r28"
        SED     %r22, zdep, "%r26,23,24,%r28"
        SED     %r22, zdep, "%r26,4,3,%r28"
        SED     %r25, dep, "%r26,31,1,%r28"
        SED     %r25, dep, "%r26,31,8,%r28"
        SED     %r25, dep, "%r26,15,16,%r28"
        SED     %r25, dep, "%r26,0,1,%r28"
        SED     %r25, dep, "%r26,31,32,%r28"
        SED     %r25, dep, "%r26,10,7,%r28"
        SED     %r25, depi, "-1,7,4,%r28"
        SED     %r25, depi, "5,31,5,%r28"
        SED     %r25, depi, "-16,0,1,%r28"
        SED     %r25, depi, "0,31,32,%r28"
        SED     %r22, zdepi, "-1,31,8,%r28"
        SED     %r22, zdepi, "-7,15,16,%r28"
        SED     %r22, zdepi, "9,4,5,%r28"
        SED     %r22, shd, "%r26,%r25,0,%r28"
        SED     %r22, shd, "%r26,%r25,1,%r28"
        SED     %r22, shd, "%r26,%r25,16,%r28"
        SED     %r22, shd, "%r26,%r25,31,%r28"
        SED     %r22, shd, "%r0,%r26,7,%r28"
        SED     %r22, shd, "%r26,%r26,13,%r28"

        /* the SAR-variable forms */
        SED     %r22, vshd, "%r26,%r25,%r28", 0x80
        SED     %r22, vshd, "%r0,%r26,%r28", 0x80
        SED     %r22, vshd, "%r26,%r0,%r28", 0x80
        SED     %r22, vextru, "%r26,1,%r28", 0x80
        SED     %r22, vextru, "%r26,8,%r28", 0x87
        SED     %r22, vextru, "%r26,32,%r28", 0x9f
        SED     %r22, vextrs, "%r26,1,%r28", 0x80
        SED     %r22, vextrs, "%r26,8,%r28", 0x87
        SED     %r22, vextrs, "%r26,32,%r28", 0x9f
        SED     %r22, zvdep, "%r26,1,%r28", 0x80
        SED     %r22, zvdep, "%r26,8,%r28", 0x87
        SED     %r22, zvdep, "%r26,32,%r28", 0x9f
        SED     %r25, vdep, "%r26,1,%r28", 0x80
        SED     %r25, vdep, "%r26,8,%r28", 0x87
        SED     %r25, vdep, "%r26,32,%r28", 0x9f
        SED     %r25, vdepi, "-1,4,%r28", 0x83
        SED     %r25, vdepi, "6,32,%r28", 0x9f
        SED     %r22, zvdepi, "-1,8,%r28", 0x87
        SED     %r22, zvdepi, "-3,32,%r28", 0x9f

        /* the same register as source and target */
        FAM     "extrs %r28,27,4,%r28 (r28=a)", 1
        REC     %r26, "extrs %r28,27,4,%r28"
        FAM     "dep %r28,15,8,%r28 (r28=a)", 1
        REC     %r26, "dep %r28,15,8,%r28"
        FAM     "vshd %r28,%r28,%r28 (r28=a)", 1, 0x80
        REC     %r26, "vshd %r28,%r28,%r28"

        mfctl   %sar,%r28
        bv      %r0(%rp)
        stw     %r28,0(%r24)

        .pushsection .rodata.shift_names,"a"
        .byte   0
        .popsection
