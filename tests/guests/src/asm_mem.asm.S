/* asm_mem.asm.S -- every load/store addressing form of PA-RISC 1.1 on a buffer:
 * long and short displacements (positive and negative), indexed and scaled
 * indexed, base modification before and after (,mb ,ma ,m ,sm, ldwm/stwm),
 * store-bytes (stbys,b/e with and without ,m at every byte offset), load and
 * clear (ldcw/ldcws), and address arithmetic (ldil/addil/ldo).
 *
 * asm_mem(buf, out): %r26 = buf (64-byte aligned, 256 bytes, filled by the
 * caller), %r25 = out (moved to %r24).  Each test stores words to out: loaded values and base
 * registers as offsets from buf; the caller also prints buf afterwards. */
        .text

        .macro  OUT reg
        stws,ma \reg,4(%r24)
        .endm
        .macro  REL reg                 /* store reg - buf */
        sub     \reg,%r26,%r1
        stws,ma %r1,4(%r24)
        .endm

        .globl  asm_mem
        .type   asm_mem,@function
asm_mem:
        copy    %r25,%r24
        ldo     32(%r26),%r21           /* a base in the middle of buf[0..63] */

        /* long displacements, signed */
        ldb     -1(%r21),%r19
        OUT     %r19
        ldh     -2(%r21),%r19
        OUT     %r19
        ldw     -4(%r21),%r19
        OUT     %r19
        ldw     28(%r21),%r19
        OUT     %r19
        ldb     31(%r21),%r19
        OUT     %r19
        ldh     30(%r21),%r19
        OUT     %r19
        ldw     -32(%r21),%r19
        OUT     %r19
        ldw     0(%r21),%r0             /* a load into %r0 changes nothing */
        OUT     %r0

        /* indexed, unscaled and scaled, with and without base modification */
        ldi     -3,%r25
        ldbx    %r25(%r21),%r19
        OUT     %r19
        ldi     -2,%r25
        ldhx,s  %r25(%r21),%r19         /* address = base + index*2 */
        OUT     %r19
        ldi     3,%r25
        ldwx,s  %r25(%r21),%r19         /* address = base + index*4 */
        OUT     %r19
        copy    %r21,%r22
        ldi     8,%r25
        ldwx,m  %r25(%r22),%r19         /* load at base, then base += index */
        OUT     %r19
        REL     %r22
        copy    %r21,%r22
        ldi     -2,%r25
        ldwx,sm %r25(%r22),%r19         /* load at base, then base += index*4 */
        OUT     %r19
        REL     %r22
        copy    %r21,%r22
        ldi     5,%r25
        ldhx,sm %r25(%r22),%r19
        OUT     %r19
        REL     %r22
        copy    %r21,%r22
        ldi     -7,%r25
        ldbx,m  %r25(%r22),%r19
        OUT     %r19
        REL     %r22

        /* short displacements with modification before (mb) and after (ma) */
        copy    %r21,%r22
        ldws,mb 4(%r22),%r19            /* base += 4, then load */
        OUT     %r19
        REL     %r22
        ldws,ma -8(%r22),%r19           /* load, then base -= 8 */
        OUT     %r19
        REL     %r22
        ldhs,mb -2(%r22),%r19
        OUT     %r19
        REL     %r22
        ldbs,ma 15(%r22),%r19
        OUT     %r19
        REL     %r22
        ldbs,mb -13(%r22),%r19
        OUT     %r19
        REL     %r22
        ldws    12(%r22),%r19           /* short, no modification */
        OUT     %r19
        REL     %r22

        /* ldwm/stwm: long displacement with modification */
        copy    %r21,%r22
        ldwm    8(%r22),%r19            /* positive: load at base, then base += 8 */
        OUT     %r19
        REL     %r22
        ldwm    -16(%r22),%r19          /* negative: base -= 16, then load there */
        OUT     %r19
        REL     %r22

        /* a load whose target is its own base register: the loaded value wins */
        copy    %r21,%r22
        ldws,ma 4(%r22),%r22
        OUT     %r22

        /* stores into buf[64..127] */
        ldo     64(%r26),%r22
        ldil    L%0x11223344,%r19
        ldo     R%0x11223344(%r19),%r19
        stw     %r19,0(%r22)
        sth     %r19,6(%r22)
        stb     %r19,11(%r22)
        stb     %r19,8(%r22)
        sth     %r19,-2(%r22)           /* buf[62..63] */
        ldi     -2,%r20
        stws,ma %r20,4(%r22)            /* at 64, then base = 68 */
        REL     %r22
        stws,mb %r20,12(%r22)           /* base = 80, store there */
        REL     %r22
        sths,ma %r20,6(%r22)            /* at 80, base = 86 */
        REL     %r22
        stbs,mb %r19,1(%r22)            /* base = 87, store there */
        REL     %r22
        ldo     1(%r22),%r22
        stwm    %r19,8(%r22)            /* positive: store at 88, then base = 96 (stack push) */
        REL     %r22
        stwm    %r20,-4(%r22)           /* negative: base = 92, store there */
        REL     %r22

        /* stbys,b and stbys,e at every byte offset into buf[128..191] (each
         * word pre-filled with 0xaa by the caller) */
        ldil    L%0x01020304,%r19
        ldo     R%0x01020304(%r19),%r19
        ldo     128(%r26),%r22
        stbys,b %r19,0(%r22)
        stbys,b %r19,5(%r22)
        stbys,b %r19,10(%r22)
        stbys,b %r19,15(%r22)
        ldo     144(%r26),%r22
        stbys,e %r19,0(%r22)
        stbys,e %r19,5(%r22)
        stbys,e %r19,10(%r22)
        stbys,e %r19,15(%r22)
        /* with ,m the store uses the base itself and the base then becomes
         * (base + d) & ~3: the memcpy idiom */
        ldo     161(%r26),%r22
        stbys,b,m %r19,3(%r22)          /* bytes 161..163, then base = 164 */
        REL     %r22
        ldo     6(%r22),%r22
        stbys,e,m %r19,4(%r22)          /* bytes 168..169, then base = 172 */
        REL     %r22

        /* load and clear: 16-byte aligned words at buf[192] and buf[208] */
        ldo     192(%r26),%r22
        ldcws   0(%r22),%r19
        OUT     %r19
        ldw     0(%r22),%r19
        OUT     %r19
        ldo     16(%r22),%r20
        ldi     0,%r25
        ldcwx   %r25(%r20),%r19         /* buf[208] */
        OUT     %r19
        ldo     224(%r26),%r22
        ldcws,mb -16(%r22),%r19         /* base = 208, then buf[208] again: now 0 */
        OUT     %r19
        REL     %r22

        /* address arithmetic */
        addil   L%0x12345000,%r26       /* %r1 = buf + 0x12345000 */
        sub     %r1,%r26,%r19
        OUT     %r19
        ldil    L%0xdeadb000,%r19
        ldo     R%0xdeadbeef(%r19),%r19
        OUT     %r19
        ldo     -8192(%r0),%r19
        OUT     %r19
        ldo     8191(%r19),%r19
        OUT     %r19
        ldil    L%0x80000000,%r19
        ldo     -1(%r19),%r19           /* wraps to 0x7fffffff */
        OUT     %r19

        bv      %r0(%rp)
        nop
