/* asm_dcor.asm.S -- decimal correction (dcor, idcor) after binary adds and
 * subtracts: the classic packed-BCD sequences. */
        .text
        .globl  bcd_add                 /* BCD a + b (mod 10^8) */
        .type   bcd_add,@function
bcd_add:
        ldil    L%0x66666666,%r1
        ldo     R%0x66666666(%r1),%r1
        add     %r26,%r1,%r28           /* pre-bias every digit by 6 */
        add     %r28,%r25,%r28          /* digit carries now say which digits overflowed */
        bv      %r0(%rp)
        dcor    %r28,%r28               /* take the 6 back where there was no carry */

        .globl  bcd_sub                 /* BCD a - b (mod 10^8) */
        .type   bcd_sub,@function
bcd_sub:
        sub     %r26,%r25,%r28          /* a digit "carry" of 0 means it borrowed */
        bv      %r0(%rp)
        dcor    %r28,%r28

        .globl  add_idcor               /* idcor(a + b): +6 in every digit that carried */
        .type   add_idcor,@function
add_idcor:
        add     %r26,%r25,%r28
        bv      %r0(%rp)
        idcor   %r28,%r28

        .globl  add_dcor_raw            /* dcor(a + b) on arbitrary (non-BCD) values */
        .type   add_dcor_raw,@function
add_dcor_raw:
        add     %r26,%r25,%r28
        bv      %r0(%rp)
        dcor    %r28,%r28
