/* setjmp.setjmp.S -- a minimal setjmp/longjmp for bare-metal guests (there is
 * no libc).  The buffer holds %rp, %sp, %dp and the callee-saved %r3..%r18.
 * Callee-saved FP registers (fr12-fr15) are not saved: the guest's integer code
 * never keeps values there.  Stores use the base-modifying forms (stws,ma /
 * ldws,mb) on purpose. */
        .text
        .globl  hv_setjmp
        .type   hv_setjmp,@function
hv_setjmp:                              /* %r26 = buf; returns 0 */
        stw     %rp,0(%r26)
        stw     %sp,4(%r26)
        stw     %dp,8(%r26)
        ldo     12(%r26),%r1
        stws,ma %r3,4(%r1)
        stws,ma %r4,4(%r1)
        stws,ma %r5,4(%r1)
        stws,ma %r6,4(%r1)
        stws,ma %r7,4(%r1)
        stws,ma %r8,4(%r1)
        stws,ma %r9,4(%r1)
        stws,ma %r10,4(%r1)
        stws,ma %r11,4(%r1)
        stws,ma %r12,4(%r1)
        stws,ma %r13,4(%r1)
        stws,ma %r14,4(%r1)
        stws,ma %r15,4(%r1)
        stws,ma %r16,4(%r1)
        stws,ma %r17,4(%r1)
        stws,ma %r18,4(%r1)
        bv      %r0(%rp)
        ldi     0,%ret0

        .globl  hv_longjmp
        .type   hv_longjmp,@function
hv_longjmp:                             /* %r26 = buf, %r25 = value (0 becomes 1) */
        ldw     0(%r26),%rp
        ldw     4(%r26),%sp
        ldw     8(%r26),%dp
        ldo     8(%r26),%r1
        ldws,mb 4(%r1),%r3
        ldws,mb 4(%r1),%r4
        ldws,mb 4(%r1),%r5
        ldws,mb 4(%r1),%r6
        ldws,mb 4(%r1),%r7
        ldws,mb 4(%r1),%r8
        ldws,mb 4(%r1),%r9
        ldws,mb 4(%r1),%r10
        ldws,mb 4(%r1),%r11
        ldws,mb 4(%r1),%r12
        ldws,mb 4(%r1),%r13
        ldws,mb 4(%r1),%r14
        ldws,mb 4(%r1),%r15
        ldws,mb 4(%r1),%r16
        ldws,mb 4(%r1),%r17
        ldws,mb 4(%r1),%r18
        comiclr,<> 0,%r25,%r0           /* value != 0: skip the fix-up */
        ldi     1,%r25
        bv      %r0(%rp)
        copy    %r25,%ret0
