/* switch: a large dense `switch` (gcc emits a table of code addresses loaded
 * with ldw,s and jumped to with bv), a sparse switch (compare-and-branch trees), a
 * computed-goto interpreter (bv through label addresses) and a state machine. */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

static uint32_t __attribute__((noinline)) dense(uint32_t x, uint32_t k)
{
    switch (k) {
    case 0: return x + 1;
    case 1: return x - 7;
    case 2: return x ^ 0x55aa55aau;
    case 3: return x << 3;
    case 4: return x >> 5;
    case 5: return (uint32_t)((int32_t)x >> 9);
    case 6: return x | 0x100u;
    case 7: return x & 0xf0f0f0f0u;
    case 8: return ~x;
    case 9: return 0u - x;
    case 10: return x + x + x;
    case 11: return (x << 7) | (x >> 25);
    case 12: return x + 0x12345678u;
    case 13: return x - 0x7fffffffu;
    case 14: return x == 0;
    case 15: return (int32_t)x < 0;
    case 16: return x > 1000u;
    case 17: return x & 0xffffu;
    case 18: return x >> 16;
    case 19: return (uint32_t)(int16_t)x;
    case 20: return (uint32_t)(int8_t)x;
    case 21: return x * 5u;
    case 22: return x + 100000u;
    case 23: return x ^ (x >> 1);
    case 24: return x & (x - 1);
    case 25: return x | (x + 1);
    case 26: return x & (0u - x);
    case 27: return (x & 0xff) << 24 | (x >> 24);
    case 28: return x - (x >> 3);
    case 29: return x + (x << 4);
    case 30: return (uint32_t)((int32_t)x >> 31);
    case 31: return x ? 31 : 0;
    case 32: return 0xdeadbeefu;
    case 33: return x >> 31;
    case 34: return x % 2u;
    case 35: return x / 4u;
    case 36: return (uint32_t)((int32_t)x / 8);
    case 37: return x ^ 0xffffffffu;
    case 38: return x << 31;
    case 39: return x + 1u + (x >> 20);
    default: return 0xffffffffu - k;
    }
}

static int __attribute__((noinline)) sparse(int32_t k)
{
    switch (k) {
    case -1000000: return 1;
    case -5: return 2;
    case 0: return 3;
    case 3: return 4;
    case 17: return 5;
    case 100: return 6;
    case 1023: return 7;
    case 1024: return 8;
    case 65535: return 9;
    case 0x7fffffff: return 10;
    case (int32_t)0x80000000: return 11;
    default: return 0;
    }
}

/* a tiny stack machine dispatched with computed goto */
enum { OP_PUSH, OP_ADD, OP_SUB, OP_DUP, OP_SWAP, OP_JNZ, OP_DEC, OP_HALT, OP_XOR, OP_SHL, OP_ROT };

static uint32_t __attribute__((noinline)) interp(const int32_t *code)
{
    static void *const labels[] = { &&push, &&add, &&sub, &&dup, &&swap, &&jnz, &&dec, &&halt,
                                    &&xr, &&shl, &&rot };
    uint32_t st[16];
    int sp = 0, pc = 0;
#define NEXT goto *labels[code[pc++]]
    NEXT;
push: st[sp++] = (uint32_t)code[pc++]; NEXT;
add:  sp--; st[sp - 1] += st[sp]; NEXT;
sub:  sp--; st[sp - 1] -= st[sp]; NEXT;
dup:  st[sp] = st[sp - 1]; sp++; NEXT;
swap: { uint32_t t = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = t; } NEXT;
jnz:  { int32_t tgt = code[pc++]; if (st[sp - 1]) pc = tgt; } NEXT;
dec:  st[sp - 1] -= 1; NEXT;
xr:   sp--; st[sp - 1] ^= st[sp]; NEXT;
shl:  st[sp - 1] = st[sp - 1] << 1 | st[sp - 1] >> 31; NEXT;
rot:  { uint32_t a = st[sp - 3]; st[sp - 3] = st[sp - 2]; st[sp - 2] = st[sp - 1];
        st[sp - 1] = a; } NEXT;
halt: return st[0] ^ (uint32_t)sp;
#undef NEXT
}

/* a lexer-like state machine over a string */
static uint32_t __attribute__((noinline)) scan(const char *s)
{
    enum { START, NUM, IDENT, SPACE, OTHER } st = START;
    uint32_t nums = 0, idents = 0, val = 0, sum = 0;
    for (;; s++) {
        char c = *s;
        int cls = (c >= '0' && c <= '9') ? 0 : ((c >= 'a' && c <= 'z') || c == '_') ? 1
                  : c == ' ' ? 2 : c == 0 ? 3 : 4;
        switch (st) {
        case START: case SPACE: case OTHER:
            if (cls == 0) { st = NUM; val = (uint32_t)(c - '0'); }
            else if (cls == 1) { st = IDENT; idents++; }
            else if (cls == 2) st = SPACE;
            else if (cls == 3) return nums << 24 | idents << 16 | (sum & 0xffff);
            else st = OTHER;
            break;
        case NUM:
            if (cls == 0) val = val * 10 + (uint32_t)(c - '0');
            else { nums++; sum += val; st = START; s--; }
            break;
        case IDENT:
            if (cls != 0 && cls != 1) { st = START; s--; }
            break;
        }
    }
}

int main(void)
{
    static const uint32_t xs[] = { 0, 1, 0x80000000u, 0xffffffffu, 0x12345678u, 1001 };
    for (uint32_t k = 0; k < 42; k++) {
        hv_printf("case %2u:", k);
        for (unsigned i = 0; i < sizeof xs / sizeof xs[0]; i++)
            hv_printf(" %08x", dense(OPQ(xs[i]), OPQ(k)));
        hv_printf("\n");
    }
    uint32_t big = dense(1, OPQ(0x80000000u));
    hv_printf("out of range: %08x\n", big);
    static const int32_t ks[] = { -1000000, -999999, -5, -4, 0, 1, 3, 17, 18, 100, 1023, 1024,
                                  1025, 65535, 0x7fffffff, (int32_t)0x80000000, 42 };
    for (unsigned i = 0; i < sizeof ks / sizeof ks[0]; i++)
        hv_printf("sparse %d -> %d\n", ks[i], sparse(OPQ(ks[i])));
    /* acc = rotl(acc) ^ n ^ K for n = 300..1; the stack holds [acc, n] */
    static const int32_t prog[] = {
        OP_PUSH, 0, OP_PUSH, 300,
        /* 4: */ OP_SWAP, OP_SHL, OP_SWAP, OP_DUP, OP_PUSH, 0x5bd1e995, OP_XOR,
        OP_ROT, OP_XOR, OP_SWAP, OP_DEC, OP_JNZ, 4, OP_HALT,
    };
    hv_printf("interp: %08x\n", interp(prog));
    hv_printf("scan: %08x\n", scan("let x_1 = 42 + y*17 - 9000;  z = 65535 zz 3"));
    return 0;
}
