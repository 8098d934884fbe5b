/* funcptr: indirect calls -- gcc calls through a function pointer via libgcc's
 * $$dyncall (bb on the PLABEL bit, then bv with a link in %r31/%rp) --
 * function tables, vtable-style structs, callbacks, function pointers returned
 * from functions and passed through volatile memory, and a tiny closure-less
 * "map/reduce". */
#include "hvlib.h"

#define OPQ(x) ({ __auto_type _o = (x); __asm__ volatile("" : "+r"(_o)); _o; })

typedef uint32_t (*unop)(uint32_t);
typedef uint32_t (*binop)(uint32_t, uint32_t);

static uint32_t __attribute__((noinline)) inc(uint32_t x) { return x + 1; }
static uint32_t __attribute__((noinline)) dbl(uint32_t x) { return x << 1; }
static uint32_t __attribute__((noinline)) inv(uint32_t x) { return ~x; }
static uint32_t __attribute__((noinline)) swp(uint32_t x) { return x << 16 | x >> 16; }
static uint32_t __attribute__((noinline)) add(uint32_t a, uint32_t b) { return a + b; }
static uint32_t __attribute__((noinline)) sub(uint32_t a, uint32_t b) { return a - b; }
static uint32_t __attribute__((noinline)) xr(uint32_t a, uint32_t b) { return a ^ b; }
static uint32_t __attribute__((noinline)) mx(uint32_t a, uint32_t b) { return a > b ? a : b; }

static const unop unops[] = { inc, dbl, inv, swp };
static binop binops[] = { add, sub, xr, mx };       /* writable: lives in .data */

struct shape;
struct shape_ops {
    uint32_t (*area)(const struct shape *);
    uint32_t (*perimeter)(const struct shape *);
    const char *name;
};
struct shape { const struct shape_ops *ops; uint32_t a, b; };

static uint32_t rect_area(const struct shape *s) { return s->a * s->b; }
static uint32_t rect_perim(const struct shape *s) { return 2 * (s->a + s->b); }
static uint32_t sq_area(const struct shape *s) { return s->a * s->a; }
static uint32_t sq_perim(const struct shape *s) { return 4 * s->a; }
static uint32_t tri_area(const struct shape *s) { return s->a * s->b / 2; }
static uint32_t tri_perim(const struct shape *s) { return s->a + s->b + (s->a > s->b ? s->a : s->b); }

static const struct shape_ops rect_ops = { rect_area, rect_perim, "rect" };
static const struct shape_ops sq_ops = { sq_area, sq_perim, "square" };
static const struct shape_ops tri_ops = { tri_area, tri_perim, "tri" };

static uint32_t __attribute__((noinline)) fold(const uint32_t *v, int n, binop f, uint32_t init)
{
    for (int i = 0; i < n; i++) init = f(init, v[i]);
    return init;
}

static void __attribute__((noinline)) map(uint32_t *v, int n, unop f)
{
    for (int i = 0; i < n; i++) v[i] = f(v[i]);
}

static unop __attribute__((noinline)) pick(uint32_t k) { return unops[k & 3]; }

static uint32_t __attribute__((noinline)) compose(uint32_t x, unop const *fs, int n)
{
    for (int i = 0; i < n; i++) x = fs[i](x);
    return x;
}

/* a recursive call through a pointer */
static uint32_t __attribute__((noinline)) rec(uint32_t n, uint32_t (*self)(uint32_t, void *), void *me);
static uint32_t rec_thunk(uint32_t n, void *me) { return rec(n, rec_thunk, me); }
static uint32_t __attribute__((noinline)) rec(uint32_t n, uint32_t (*self)(uint32_t, void *), void *me)
{
    return n == 0 ? 1 : n * 3 + self(n - 1, me);
}

static unop volatile vptr;

int main(void)
{
    uint32_t v[8] = { 1, 2, 3, 0x80000000u, 0xffffffffu, 0x1234u, 77, 0xdeadu };
    for (int i = 0; i < 4; i++)
        hv_printf("unop %d: %08x %08x %08x\n", i, unops[i](0), unops[i](0x12345678u),
                  pick(OPQ((uint32_t)i))(0xffff0000u));
    for (int i = 0; i < 4; i++)
        hv_printf("fold %d: %08x\n", i, fold(v, 8, binops[i], OPQ(5u)));
    binops[1] = mx;
    hv_printf("patched table: %08x\n", fold(v, 8, binops[1], 0));
    for (int i = 0; i < 4; i++) {
        map(v, 8, unops[(i + 1) & 3]);
        hv_printf("map %d: %08x %08x %08x\n", i, v[0], v[3], v[7]);
    }
    const struct shape shapes[] = { { &rect_ops, 3, 4 }, { &sq_ops, 5, 0 }, { &tri_ops, 6, 8 },
                                    { &rect_ops, 1000, 1000 } };
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const struct shape *s = &shapes[OPQ(i)];
        hv_printf("%s: area %u perimeter %u\n", s->ops->name, s->ops->area(s), s->ops->perimeter(s));
    }
    static const unop chain[] = { inc, dbl, dbl, inv, swp, inc, inc, dbl };
    hv_printf("compose: %08x %08x\n", compose(0, chain, 8), compose(0xabcdef01u, chain, 5));
    hv_printf("rec: %u\n", rec(OPQ(50u), rec_thunk, 0));
    uint32_t acc = 0;
    for (uint32_t k = 0; k < 40; k++) {
        vptr = unops[k % 4];
        acc = vptr(acc + k);
    }
    hv_printf("volatile ptr: %08x\n", acc);
    hv_printf("same fn: %d %d\n", unops[0] == inc, (void *)binops[2] == (void *)xr);
    return 0;
}
