/* fpu.c -- the PA-RISC floating-point coprocessor, bit-identical to QEMU 7.2's hppa target.
 *
 * Arithmetic is an exact software implementation of IEEE 754 binary32/binary64 (no host
 * FP, so results never depend on the host's FP environment), with the behaviour QEMU's
 * softfloat shows for hppa:
 *   - signalling NaNs have the fraction MSB set (snan_bit_is_one); quieting clears it and
 *     sets the next bit; the default NaN is 0x7FA00000 / 0x7FF4000000000000;
 *   - NaN propagation takes the first of: a if sNaN, b if sNaN, a if NaN, b;
 *     fused multiply-add (PA 2.0 fmpyfadd) takes the first NaN of a, b, c;
 *   - tininess is detected after rounding; underflow is flagged only when also inexact;
 *   - status D bit: denormal inputs read as zero and results whose exponent (before
 *     rounding) is below the normal range become zero, both without any flag;
 *   - float->int saturates (NaN -> largest positive) with only the invalid flag.
 * The status word the FPU acts on is a separate copy (QEMU's fr0_shadow, here
 * vm->fpu_shadow): it is reloaded from fr0 only by fldw/fldd into fr0 (and fpu_reset),
 * and every computational operation writes fr0 = shadow << 32 (which also clears fr0R).
 * The CCR (cr10) coprocessor enable bits are ignored, as QEMU 7.2 ignores them.
 * Enabled exceptions raise INT_ASSIST_EXC after the flags were recorded in fr0 and
 * before the destination is written (as QEMU).
 */
#include "internal.h"

/* ---- status register (bit numbers from the LSB) ---- */
#define SR_FLAG_SHIFT 27           /* V Z O U I flags at 31..27 */
#define SR_C          (1u << 26)   /* compare result */
#define SR_RM_SHIFT   9            /* rounding mode, 2 bits */
#define SR_D          (1u << 5)    /* denormals as zero */
#define SR_ENABLES    0x1fu        /* V Z O U I enables at 4..0 */

enum { FX_I = 1, FX_U = 2, FX_O = 4, FX_Z = 8, FX_V = 16 };   /* same order as enables */
enum { RM_NEAR = 0, RM_ZERO = 1, RM_UP = 2, RM_DOWN = 3 };

typedef struct {
    int rm;              /* RM_* */
    int ftz;             /* status D bit */
    unsigned flags;      /* FX_* raised by the operation */
} fctx_t;

enum { CL_ZERO, CL_NORMAL, CL_INF, CL_QNAN, CL_SNAN };

/* Unpacked value.  NORMAL: value = frac * 2^(exp - 63), bit 63 of frac set.
 * NaN: frac holds the stored fraction aligned so that its MSB is bit 62. */
typedef struct {
    int cls, sign;
    int32_t exp;
    uint64_t frac;
} fp_t;

typedef struct {
    int frac_bits, exp_bits, bias, exp_max, shift;   /* shift = 63 - frac_bits */
} fmt_t;

static const fmt_t F32 = { 23, 8, 127, 255, 40 };
static const fmt_t F64 = { 52, 11, 1023, 2047, 11 };

#define BIT63 (1ull << 63)

static inline int is_nan(const fp_t *p) { return p->cls >= CL_QNAN; }

static inline uint64_t shrjam64(uint64_t x, int n)
{
    if (n <= 0) return x;
    if (n >= 64) return x != 0;
    return (x >> n) | ((x << (64 - n)) != 0);
}

typedef unsigned __int128 u128;

static inline u128 shrjam128(u128 x, int n)
{
    if (n <= 0) return x;
    if (n >= 128) return x != 0;
    return (x >> n) | ((x << (128 - n)) != 0);
}

static inline int clz128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? __builtin_clzll(hi) : 64 + __builtin_clzll((uint64_t)x);
}

static fp_t unpack(uint64_t bits, const fmt_t *f, const fctx_t *c)
{
    fp_t p;
    uint64_t fmask = (1ull << f->frac_bits) - 1;
    int e = (int)((bits >> f->frac_bits) & (uint64_t)f->exp_max);
    uint64_t fr = bits & fmask;
    p.sign = (int)((bits >> (f->frac_bits + f->exp_bits)) & 1);
    p.exp = 0;
    p.frac = 0;
    if (e == 0) {
        if (fr == 0 || c->ftz) {
            p.cls = CL_ZERO;
        } else {
            int s = __builtin_clzll(fr);
            p.cls = CL_NORMAL;
            p.frac = fr << s;
            p.exp = f->shift - f->bias - s + 1;
        }
    } else if (e < f->exp_max) {
        p.cls = CL_NORMAL;
        p.exp = e - f->bias;
        p.frac = (fr << f->shift) | BIT63;
    } else if (fr == 0) {
        p.cls = CL_INF;
    } else {
        p.frac = fr << f->shift;
        p.cls = (p.frac >> 62) & 1 ? CL_SNAN : CL_QNAN;
    }
    return p;
}

/* Round and pack.  NaN fractions are truncated to the target width (as QEMU does:
 * a NaN whose kept bits are all zero becomes an infinity). */
static uint64_t pack(const fp_t *p, const fmt_t *f, fctx_t *c)
{
    const uint64_t fmask = (1ull << f->frac_bits) - 1;
    const uint64_t sign = (uint64_t)p->sign << (f->frac_bits + f->exp_bits);
    const uint64_t inf = (uint64_t)f->exp_max << f->frac_bits;

    switch (p->cls) {
    case CL_ZERO: return sign;
    case CL_INF:  return sign | inf;
    case CL_QNAN: case CL_SNAN: return sign | inf | ((p->frac >> f->shift) & fmask);
    default: break;
    }

    const uint64_t rmask = (1ull << f->shift) - 1, lsb = rmask + 1, half = lsb >> 1;
    uint64_t frac = p->frac, inc;
    int max_on_overflow = 0, inexact = 0;
    switch (c->rm) {
    case RM_NEAR: inc = (frac & (rmask | lsb)) != half ? half : 0; break;
    case RM_ZERO: inc = 0; max_on_overflow = 1; break;
    case RM_UP:   inc = p->sign ? 0 : rmask; max_on_overflow = p->sign; break;
    default:      inc = p->sign ? rmask : 0; max_on_overflow = !p->sign; break;
    }

    int64_t e = (int64_t)p->exp + f->bias;
    if (e > 0) {
        if (frac & rmask) {
            inexact = 1;
            uint64_t n = frac + inc;
            if (n < frac) { n = (n >> 1) | BIT63; e++; }
            frac = n & ~rmask;
        }
        c->flags |= inexact ? FX_I : 0;
        if (e >= f->exp_max) {
            c->flags |= FX_O | FX_I;
            if (max_on_overflow)
                return sign | ((uint64_t)(f->exp_max - 1) << f->frac_bits) | fmask;
            return sign | inf;
        }
        return sign | ((uint64_t)e << f->frac_bits) | ((frac >> f->shift) & fmask);
    }
    if (c->ftz)
        return sign;                       /* flushed: QEMU raises no hppa-visible flag */

    /* tiny before rounding; tininess counts after rounding (a carry at normal precision
     * means the rounded result is the smallest normal) */
    int tiny = e < 0 || frac + inc >= frac;
    frac = shrjam64(frac, (int)(1 - e));
    if (frac & rmask) {
        if (c->rm == RM_NEAR) inc = (frac & (rmask | lsb)) != half ? half : 0;
        inexact = 1;
        frac = (frac + inc) & ~rmask;      /* frac < 2^63 here: no carry out */
    }
    e = (frac >> 63) & 1;
    if (inexact) c->flags |= tiny ? FX_I | FX_U : FX_I;
    return sign | ((uint64_t)e << f->frac_bits) | ((frac >> f->shift) & fmask);
}

/* ---- NaN rules (hppa: snan_bit_is_one, no default-NaN mode) ---- */
static void default_nan(fp_t *p)
{
    p->cls = CL_QNAN;
    p->sign = 0;
    p->exp = 0;
    p->frac = 1ull << 61;
}

static void quiet(fp_t *p)
{
    if (p->cls == CL_SNAN) {
        p->frac = (p->frac & ~(1ull << 62)) | (1ull << 61);
        p->cls = CL_QNAN;
    }
}

/* a NaN operand of a one-input operation */
static fp_t nan1(fp_t a, fctx_t *c)
{
    if (a.cls == CL_SNAN) c->flags |= FX_V;
    quiet(&a);
    return a;
}

static fp_t nan2(fp_t a, fp_t b, fctx_t *c)
{
    fp_t r;
    if (a.cls == CL_SNAN || b.cls == CL_SNAN) c->flags |= FX_V;
    if (a.cls == CL_SNAN) r = a;
    else if (b.cls == CL_SNAN) r = b;
    else if (a.cls == CL_QNAN) r = a;
    else r = b;
    quiet(&r);
    return r;
}

static fp_t invalid(fctx_t *c)
{
    fp_t r;
    c->flags |= FX_V;
    default_nan(&r);
    return r;
}

static inline fp_t zero(int sign)
{
    fp_t r = { CL_ZERO, sign, 0, 0 };
    return r;
}

/* ---- arithmetic on unpacked values ---- */

/* |a| + |b| of two normals (sign of a) */
static fp_t add_mag(fp_t a, fp_t b)
{
    int32_t d = a.exp - b.exp;
    if (d > 0) b.frac = shrjam64(b.frac, d);
    else if (d < 0) { a.frac = shrjam64(a.frac, -d); a.exp = b.exp; }
    uint64_t s = a.frac + b.frac;
    if (s < a.frac) { s = (s >> 1) | (s & 1) | BIT63; a.exp++; }
    a.frac = s;
    return a;
}

/* a - b for normals with the sign of a; exact zero -> cls ZERO (caller sets sign) */
static fp_t sub_mag(fp_t a, fp_t b)
{
    int32_t d = a.exp - b.exp;
    if (d > 0) {
        a.frac -= shrjam64(b.frac, d);
    } else if (d < 0) {
        a.frac = b.frac - shrjam64(a.frac, -d);
        a.exp = b.exp;
        a.sign ^= 1;
    } else if (a.frac >= b.frac) {
        a.frac -= b.frac;
    } else {
        a.frac = b.frac - a.frac;
        a.sign ^= 1;
    }
    if (a.frac == 0) { a.cls = CL_ZERO; return a; }
    int s = __builtin_clzll(a.frac);
    a.frac <<= s;
    a.exp -= s;
    return a;
}

static fp_t f_addsub(fp_t a, fp_t b, int subtract, fctx_t *c)
{
    int bsign = b.sign ^ subtract;
    if (a.sign != bsign) {
        if (a.cls == CL_NORMAL && b.cls == CL_NORMAL) {
            b.sign = bsign;
            fp_t r = sub_mag(a, b);
            if (r.cls != CL_ZERO) return r;
            return zero(c->rm == RM_DOWN);
        }
        if (a.cls == CL_ZERO && b.cls == CL_ZERO) return zero(c->rm == RM_DOWN);
        if (is_nan(&a) || is_nan(&b)) return nan2(a, b, c);
        if (a.cls == CL_INF && b.cls == CL_INF) return invalid(c);
        if (a.cls == CL_INF) return a;
        if (b.cls == CL_INF) { b.sign = bsign; return b; }
    } else {
        if (a.cls == CL_NORMAL && b.cls == CL_NORMAL) return add_mag(a, b);
        if (a.cls == CL_ZERO && b.cls == CL_ZERO) return a;
        if (is_nan(&a) || is_nan(&b)) return nan2(a, b, c);
        if (a.cls == CL_INF || b.cls == CL_INF) { a.cls = CL_INF; return a; }
    }
    if (b.cls == CL_ZERO) return a;        /* a normal */
    b.sign = bsign;                        /* a zero, b normal */
    return b;
}

static fp_t f_mul(fp_t a, fp_t b, fctx_t *c)
{
    int sign = a.sign ^ b.sign;
    if (a.cls == CL_NORMAL && b.cls == CL_NORMAL) {
        u128 p = (u128)a.frac * b.frac;
        a.exp = a.exp + b.exp + 1;
        if (!(p >> 127)) { p <<= 1; a.exp--; }
        a.frac = (uint64_t)(p >> 64) | ((uint64_t)p != 0);
        a.sign = sign;
        return a;
    }
    if ((a.cls == CL_INF && b.cls == CL_ZERO) || (a.cls == CL_ZERO && b.cls == CL_INF))
        return invalid(c);
    if (is_nan(&a) || is_nan(&b)) return nan2(a, b, c);
    if (a.cls == CL_INF || b.cls == CL_INF) { a.cls = CL_INF; a.sign = sign; return a; }
    return zero(sign);
}

static fp_t f_div(fp_t a, fp_t b, fctx_t *c)
{
    int sign = a.sign ^ b.sign;
    if (a.cls == CL_NORMAL && b.cls == CL_NORMAL) {
        u128 n;
        int32_t e = a.exp - b.exp;
        if (a.frac >= b.frac) n = (u128)a.frac << 63;
        else { n = (u128)a.frac << 64; e--; }
        uint64_t q = (uint64_t)(n / b.frac);
        uint64_t r = (uint64_t)(n % b.frac);
        a.frac = q | (r != 0);
        a.exp = e;
        a.sign = sign;
        return a;
    }
    if ((a.cls == CL_ZERO && b.cls == CL_ZERO) || (a.cls == CL_INF && b.cls == CL_INF))
        return invalid(c);
    if (is_nan(&a) || is_nan(&b)) return nan2(a, b, c);
    if (a.cls == CL_INF) { a.sign = sign; return a; }
    if (a.cls == CL_ZERO || b.cls == CL_INF) return zero(sign);
    c->flags |= FX_Z;                      /* normal / zero */
    a.cls = CL_INF;
    a.sign = sign;
    return a;
}

/* floor(sqrt(n)) for n < 2^128, and whether it was exact */
static uint64_t isqrt128(u128 n, int *inexact)
{
    u128 rem = 0, root = 0;
    for (int i = 0; i < 64; i++) {
        root <<= 1;
        rem = (rem << 2) | (n >> 126);
        n <<= 2;
        u128 t = (root << 1) | 1;
        if (rem >= t) { rem -= t; root |= 1; }
    }
    *inexact = rem != 0;
    return (uint64_t)root;
}

static fp_t f_sqrt(fp_t a, fctx_t *c)
{
    if (is_nan(&a)) return nan1(a, c);
    if (a.cls == CL_ZERO) return a;
    if (a.sign) return invalid(c);         /* negative normal or -inf */
    if (a.cls == CL_INF) return a;
    /* value = frac * 2^(exp-63); scale frac by 2^k so that exp-63-k is even */
    int k = (a.exp & 1) ? 64 : 63;
    int inexact;
    uint64_t s = isqrt128((u128)a.frac << k, &inexact);
    a.frac = s | (uint64_t)inexact;
    a.exp = (a.exp - 63 - k) / 2 + 63;
    return a;
}

/* Round a normal to an integer value in mode rm.  frac_size: exponents at or above it
 * are already integral.  Returns 1 when inexact; the value may become ZERO. */
static int round_int(fp_t *p, int rm, int frac_size)
{
    if (p->exp < 0) {
        int one;
        switch (rm) {
        case RM_NEAR: one = p->exp == -1 && (p->frac << 1) != 0; break;
        case RM_ZERO: one = 0; break;
        case RM_UP:   one = !p->sign; break;
        default:      one = p->sign; break;
        }
        p->exp = 0;
        if (one) p->frac = BIT63;
        else { p->cls = CL_ZERO; p->frac = 0; }
        return 1;
    }
    if (p->exp >= frac_size) return 0;
    uint64_t lsb = BIT63 >> p->exp, rmask = lsb - 1, half = lsb >> 1, inc;
    if (!(p->frac & rmask)) return 0;
    switch (rm) {
    case RM_NEAR: inc = (p->frac & (rmask | lsb)) != half ? half : 0; break;
    case RM_ZERO: inc = 0; break;
    case RM_UP:   inc = p->sign ? 0 : rmask; break;
    default:      inc = p->sign ? rmask : 0; break;
    }
    uint64_t n = p->frac + inc;
    if (n < p->frac) { n = (n >> 1) | BIT63; p->exp++; }
    p->frac = n & ~rmask;
    return 1;
}

static fp_t f_rnd(fp_t a, const fmt_t *f, fctx_t *c)
{
    if (is_nan(&a)) return nan1(a, c);
    if (a.cls == CL_NORMAL && round_int(&a, c->rm, f->frac_bits)) c->flags |= FX_I;
    return a;
}

static int64_t f_to_sint(fp_t p, int rm, int64_t min, int64_t max, fctx_t *c)
{
    uint64_t r;
    switch (p.cls) {
    case CL_ZERO: return 0;
    case CL_INF:  c->flags |= FX_V; return p.sign ? min : max;
    case CL_QNAN: case CL_SNAN: c->flags |= FX_V; return max;
    default: break;
    }
    unsigned fl = round_int(&p, rm, 62) ? FX_I : 0;
    r = p.exp <= 63 ? p.frac >> (63 - p.exp) : UINT64_MAX;
    if (p.sign) {
        if (r <= (uint64_t)0 - (uint64_t)min) r = (uint64_t)0 - r;
        else { fl = FX_V; r = (uint64_t)min; }
    } else if (r > (uint64_t)max) {
        fl = FX_V;
        r = (uint64_t)max;
    }
    c->flags |= fl;
    return (int64_t)r;
}

static uint64_t f_to_uint(fp_t p, int rm, uint64_t max, fctx_t *c)
{
    switch (p.cls) {
    case CL_ZERO: return 0;
    case CL_INF:  c->flags |= FX_V; return p.sign ? 0 : max;
    case CL_QNAN: case CL_SNAN: c->flags |= FX_V; return max;
    default: break;
    }
    if (round_int(&p, rm, 62)) {
        if (p.cls == CL_ZERO) { c->flags |= FX_I; return 0; }
        if (!p.sign && p.exp <= 63 && (p.frac >> (63 - p.exp)) <= max) {
            c->flags |= FX_I;
            return p.frac >> (63 - p.exp);
        }
    } else if (!p.sign && p.exp <= 63 && (p.frac >> (63 - p.exp)) <= max) {
        return p.frac >> (63 - p.exp);
    }
    c->flags |= FX_V;                      /* negative or too large: invalid only */
    return p.sign ? 0 : max;
}

static fp_t from_uint(uint64_t v, int sign)
{
    fp_t p = { CL_ZERO, sign, 0, 0 };
    if (v) {
        int s = __builtin_clzll(v);
        p.cls = CL_NORMAL;
        p.frac = v << s;
        p.exp = 63 - s;
    }
    return p;
}

static fp_t from_sint(int64_t v)
{
    return v < 0 ? from_uint((uint64_t)0 - (uint64_t)v, 1) : from_uint((uint64_t)v, 0);
}

/* fused a*b+c (product negated when neg), rounded once (PA 2.0 fmpyfadd/fmpynfadd) */
static fp_t f_muladd(fp_t a, fp_t b, fp_t cc, int neg, fctx_t *c)
{
    if (is_nan(&a) || is_nan(&b) || is_nan(&cc)) {
        if (a.cls == CL_SNAN || b.cls == CL_SNAN || cc.cls == CL_SNAN) c->flags |= FX_V;
        fp_t r = is_nan(&a) ? a : is_nan(&b) ? b : cc;
        quiet(&r);
        return r;
    }
    int psign = a.sign ^ b.sign ^ neg;
    if (a.cls != CL_NORMAL || b.cls != CL_NORMAL) {
        if ((a.cls == CL_INF && b.cls == CL_ZERO) || (a.cls == CL_ZERO && b.cls == CL_INF))
            return invalid(c);
        if (a.cls == CL_INF || b.cls == CL_INF) {
            if (cc.cls == CL_INF && cc.sign != psign) return invalid(c);
            fp_t r = { CL_INF, psign, 0, 0 };
            return r;
        }
        /* product is zero */
        if (cc.cls == CL_ZERO)
            return zero(cc.sign != psign ? c->rm == RM_DOWN : psign);
        return cc;                         /* normal or infinite addend */
    }
    if (cc.cls == CL_INF) return cc;

    /* exact product: value = p * 2^(pe - 127) */
    u128 p = (u128)a.frac * b.frac;
    int32_t pe = a.exp + b.exp + 1;
    if (!(p >> 127)) { p <<= 1; pe--; }
    if (cc.cls == CL_NORMAL) {
        u128 q = (u128)cc.frac << 64;
        int32_t d = pe - cc.exp;
        if (psign == cc.sign) {
            if (d > 0) q = shrjam128(q, d);
            else if (d < 0) { p = shrjam128(p, -d); pe = cc.exp; }
            u128 s = p + q;
            if (s < p) { s = (s >> 1) | (s & 1) | ((u128)1 << 127); pe++; }
            p = s;
        } else {
            if (d > 0) {
                p -= shrjam128(q, d);
            } else if (d < 0) {
                p = q - shrjam128(p, -d);
                pe = cc.exp;
                psign ^= 1;
            } else if (p >= q) {
                p -= q;
            } else {
                p = q - p;
                psign ^= 1;
            }
            if (p == 0) return zero(c->rm == RM_DOWN);
            int s = clz128(p);
            p <<= s;
            pe -= s;
        }
    }
    fp_t r = { CL_NORMAL, psign, pe, (uint64_t)(p >> 64) | ((uint64_t)p != 0) };
    return r;
}

/* three-way compare; invalid for sNaN, or any NaN when signalling */
enum { REL_LT, REL_EQ, REL_GT, REL_UN };

static int f_compare(fp_t a, fp_t b, int signalling, fctx_t *c)
{
    if (is_nan(&a) || is_nan(&b)) {
        if (signalling || a.cls == CL_SNAN || b.cls == CL_SNAN) c->flags |= FX_V;
        return REL_UN;
    }
    if (a.cls == CL_ZERO && b.cls == CL_ZERO) return REL_EQ;
    if (a.cls == CL_ZERO) return b.sign ? REL_GT : REL_LT;
    if (b.cls == CL_ZERO) return a.sign ? REL_LT : REL_GT;
    if (a.sign != b.sign) return a.sign ? REL_LT : REL_GT;
    int mag;                               /* |a| vs |b| */
    if (a.cls == CL_INF || b.cls == CL_INF)
        mag = (a.cls == CL_INF) - (b.cls == CL_INF);
    else if (a.exp != b.exp)
        mag = a.exp < b.exp ? -1 : 1;
    else
        mag = a.frac < b.frac ? -1 : a.frac > b.frac;
    if (a.sign) mag = -mag;
    return mag < 0 ? REL_LT : mag > 0 ? REL_GT : REL_EQ;
}

/* ---- register file ---- */

/* single register number: bits 0-4 the register, bit 5 set = right (low) half */
static inline uint32_t frw(const hv_vm_t *vm, unsigned r)
{
    uint64_t v = vm->s.fr[r & 31];
    return r & 32 ? (uint32_t)v : (uint32_t)(v >> 32);
}
/* operand read of a single register: fr0L reads as zero */
static inline uint32_t frw0(const hv_vm_t *vm, unsigned r) { return r ? frw(vm, r) : 0; }
static inline void set_frw(hv_vm_t *vm, unsigned r, uint32_t v)
{
    uint64_t *p = &vm->s.fr[r & 31];
    *p = r & 32 ? (*p & 0xffffffff00000000ull) | v : (*p & 0xffffffffull) | (uint64_t)v << 32;
}
/* operand read of a double register: fr0 reads as zero */
static inline uint64_t frd0(const hv_vm_t *vm, unsigned r) { return r ? vm->s.fr[r] : 0; }

static inline fctx_t ctx_of(const hv_vm_t *vm)
{
    fctx_t c;
    c.rm = (int)((vm->fpu_shadow >> SR_RM_SHIFT) & 3);
    c.ftz = (vm->fpu_shadow & SR_D) != 0;
    c.flags = 0;
    return c;
}

/* After every computational operation: record the flags, rewrite fr0 from the status
 * word, trap when a raised flag is enabled. */
static int commit_flags(hv_vm_t *vm, unsigned flags)
{
    uint32_t sr = vm->fpu_shadow | flags << SR_FLAG_SHIFT;
    vm->fpu_shadow = sr;
    vm->s.fr[0] = (uint64_t)sr << 32;
    return (flags & sr & SR_ENABLES) ? INT_ASSIST_EXC : EX_OK;
}

void fpu_status_loaded(hv_vm_t *vm)
{
    vm->fpu_shadow = (uint32_t)(vm->s.fr[0] >> 32);
}

/* hv_reset has cleared the registers: status 0 (round to nearest, no traps) */
void fpu_reset(hv_vm_t *vm) { fpu_status_loaded(vm); }

/* ---- operations ---- */

enum {  /* class 0 / class 1 operations with one source */
    U_CPY, U_ABS, U_SQRT, U_RND, U_NEG, U_NEGABS,
    U_FF, U_XF, U_FX, U_FXT, U_UXF, U_FUX, U_FUXT
};

/* One-source operation.  sd/dd: source/destination is double (for conversions to or
 * from integers, "double" means a 64-bit integer). */
static int do_unary(hv_vm_t *vm, int op, int sd, int dd, unsigned r, unsigned t)
{
    uint64_t in, out;
    /* QEMU's operand reads: single fr0L and double fr0 read as zero, except the double
     * source of a double-to-single operation, which reads fr0 itself */
    if (!sd) in = frw0(vm, r);
    else in = dd ? frd0(vm, r) : vm->s.fr[r & 31];

    const uint64_t sbit = sd ? BIT63 : 1ull << 31;
    switch (op) {                          /* bit operations: no status update */
    case U_CPY:    out = in; goto store;
    case U_ABS:    out = in & ~sbit; goto store;
    case U_NEG:    out = in ^ sbit; goto store;
    case U_NEGABS: out = in | sbit; goto store;
    default: break;
    }

    fctx_t c = ctx_of(vm);
    const fmt_t *sf = sd ? &F64 : &F32, *df = dd ? &F64 : &F32;
    fp_t p;
    switch (op) {
    case U_SQRT: p = unpack(in, sf, &c); p = f_sqrt(p, &c); out = pack(&p, df, &c); break;
    case U_RND:  p = unpack(in, sf, &c); p = f_rnd(p, sf, &c); out = pack(&p, df, &c); break;
    case U_FF:
        p = unpack(in, sf, &c);
        if (is_nan(&p)) p = nan1(p, &c);
        out = pack(&p, df, &c);
        break;
    case U_XF:
        p = from_sint(sd ? (int64_t)in : (int64_t)(int32_t)(uint32_t)in);
        out = pack(&p, df, &c);
        break;
    case U_UXF:
        p = from_uint(sd ? in : (uint32_t)in, 0);
        out = pack(&p, df, &c);
        break;
    case U_FX: case U_FXT: {
        int rm = op == U_FXT ? RM_ZERO : c.rm;
        p = unpack(in, sf, &c);
        out = dd ? (uint64_t)f_to_sint(p, rm, INT64_MIN, INT64_MAX, &c)
                 : (uint32_t)f_to_sint(p, rm, INT32_MIN, INT32_MAX, &c);
        break;
    }
    case U_FUX: case U_FUXT: {
        int rm = op == U_FUXT ? RM_ZERO : c.rm;
        p = unpack(in, sf, &c);
        out = f_to_uint(p, rm, dd ? UINT64_MAX : UINT32_MAX, &c);
        break;
    }
    default: return INT_ILLEGAL;
    }
    int x = commit_flags(vm, c.flags);
    if (x) return x;
store:
    if (dd) vm->s.fr[t & 31] = out;
    else set_frw(vm, t, (uint32_t)out);
    return EX_OK;
}

enum { B_ADD, B_SUB, B_MPY, B_DIV };

static int do_binary(hv_vm_t *vm, int op, int dbl, unsigned r1, unsigned r2, unsigned t)
{
    fctx_t c = ctx_of(vm);
    const fmt_t *f = dbl ? &F64 : &F32;
    fp_t a = unpack(dbl ? frd0(vm, r1) : frw0(vm, r1), f, &c);
    fp_t b = unpack(dbl ? frd0(vm, r2) : frw0(vm, r2), f, &c);
    fp_t p;
    switch (op) {
    case B_ADD: p = f_addsub(a, b, 0, &c); break;
    case B_SUB: p = f_addsub(a, b, 1, &c); break;
    case B_MPY: p = f_mul(a, b, &c); break;
    default:    p = f_div(a, b, &c); break;
    }
    uint64_t out = pack(&p, f, &c);
    int x = commit_flags(vm, c.flags);
    if (x) return x;
    if (dbl) vm->s.fr[t & 31] = out;
    else set_frw(vm, t, (uint32_t)out);
    return EX_OK;
}

static int do_fmpyfadd(hv_vm_t *vm, int dbl, unsigned r1, unsigned r2, unsigned r3,
                       unsigned t, int neg)
{
    fctx_t c = ctx_of(vm);
    const fmt_t *f = dbl ? &F64 : &F32;
    fp_t a = unpack(dbl ? frd0(vm, r1) : frw0(vm, r1), f, &c);
    fp_t b = unpack(dbl ? frd0(vm, r2) : frw0(vm, r2), f, &c);
    fp_t d = unpack(dbl ? frd0(vm, r3) : frw0(vm, r3), f, &c);
    fp_t p = f_muladd(a, b, d, neg, &c);
    uint64_t out = pack(&p, f, &c);
    int x = commit_flags(vm, c.flags);
    if (x) return x;
    if (dbl) vm->s.fr[t & 31] = out;
    else set_frw(vm, t, (uint32_t)out);
    return EX_OK;
}

/* fcmp: c = condition (bit 0 signalling, bits 1..4 true on unordered/equal/less/greater);
 * y = 0: queued (C moves into the queue), else the targeted CA bit y-1 */
static int do_fcmp(hv_vm_t *vm, int dbl, unsigned r1, unsigned r2, unsigned y, unsigned cond)
{
    fctx_t c = ctx_of(vm);
    const fmt_t *f = dbl ? &F64 : &F32;
    fp_t a = unpack(dbl ? frd0(vm, r1) : frw0(vm, r1), f, &c);
    fp_t b = unpack(dbl ? frd0(vm, r2) : frw0(vm, r2), f, &c);
    int rel = f_compare(a, b, cond & 1, &c);
    int x = commit_flags(vm, c.flags);
    if (x) return x;

    static const unsigned relbit[4] = { 3, 2, 4, 1 };   /* LT EQ GT UN -> condition bit */
    uint32_t res = (cond >> relbit[rel]) & 1;
    uint32_t sr = vm->fpu_shadow;
    if (y) {
        unsigned pos = 21 - (y - 1);
        sr = (sr & ~(1u << pos)) | res << pos;
    } else {
        uint32_t q = (sr >> 12) & 0x3ff;              /* queue bits 21..12 move to 20..11 */
        sr = (sr & ~(0x3ffu << 11)) | q << 11;
        sr = (sr & ~(1u << 21)) | ((sr >> 26) & 1) << 21;   /* C becomes queue entry 0 */
        sr = (sr & ~SR_C) | res << 26;
    }
    vm->fpu_shadow = sr;
    vm->s.fr[0] = (uint64_t)sr << 32;
    return EX_OK;
}

/* ftest: nullify the next instruction when the tested condition holds */
static int do_ftest(hv_vm_t *vm, unsigned y, unsigned cond)
{
    uint32_t sr = vm->fpu_shadow;
    if (y == 1) {
        uint32_t mask;
        int rej = 0;
        switch (cond) {
        case 0:  vm->nullify_next = (sr & SR_C) != 0; return EX_OK;
        case 2:  rej = 1; /* fall through */
        case 1:  mask = 0x43ff800; break;
        case 6:  rej = 1; /* fall through */
        case 5:  mask = 0x43f8000; break;
        case 9:  mask = 0x43e0000; break;
        case 13: mask = 0x4380000; break;
        case 17: mask = 0x4200000; break;
        default: return INT_ILLEGAL;
        }
        vm->nullify_next = rej ? (sr | mask) == mask : (sr & mask) == 0;
    } else {
        unsigned cbit = (y ^ 1) - 1;
        vm->nullify_next = (sr >> (21 - cbit)) & 1;
    }
    return EX_OK;
}

/* ---- loads and stores ---- */

/* modify: 0 none, -1 before (address = base + disp), +1 after (address = base) */
static int fp_mem(hv_vm_t *vm, int store, int dbl, unsigned rt, unsigned rb, unsigned rx,
                  unsigned shift, int32_t disp, unsigned sp, int modify)
{
    uint32_t base = vm->s.gr[rb];
    uint32_t ofs = rx ? (vm->s.gr[rx] << shift) + base : base + (uint32_t)disp;
    uint32_t addr = modify <= 0 ? ofs : base;
    uint32_t space = core_space(vm, sp, base);
    int r;
    if (store) {
        uint64_t v = dbl ? vm->s.fr[rt & 31] : frw(vm, rt);
        r = core_store_fast(vm, space, addr, dbl ? 8 : 4, v);
        if (r != EX_OK) return r;
    } else {
        uint64_t v;
        r = core_load_fast(vm, space, addr, dbl ? 8 : 4, &v);
        if (r != EX_OK) return r;
        if (dbl) vm->s.fr[rt & 31] = v;
        else set_frw(vm, rt, (uint32_t)v);
        if (rt == 0) fpu_status_loaded(vm);
    }
    if (modify) core_set_gr(vm, rb, ofs);
    return EX_OK;
}

/* opcodes 0x09 / 0x0B: coprocessor word / doubleword, indexed or short displacement */
static int exec_cop_mem(hv_vm_t *vm, uint32_t insn, int dbl)
{
    unsigned rb = BITS(insn, 6, 10), x = BITS(insn, 11, 15), sp = BITS(insn, 16, 17);
    unsigned b18 = BITS(insn, 18, 18), uid_hi = BITS(insn, 23, 24), r = BITS(insn, 25, 25);
    unsigned store = BITS(insn, 22, 22), m = BITS(insn, 26, 26);
    unsigned rt = BITS(insn, 27, 31);
    if (uid_hi != 0 || (dbl && r)) return INT_ILLEGAL;      /* not the FPU (uid 0/1) */
    if (!dbl) rt |= r << 5;
    if (!BITS(insn, 19, 19))                                 /* indexed */
        return fp_mem(vm, store, dbl, rt, rb, x, b18 ? (dbl ? 3 : 2) : 0, 0, sp, m);
    int32_t disp = low_sign_ext(x, 5);
    return fp_mem(vm, store, dbl, rt, rb, 0, 0, disp, sp, m ? (b18 ? -1 : 1) : 0);
}

/* PA 2.0 long-displacement forms QEMU 7.2 also accepts: 0x16/0x17 fldw, 0x1E/0x1F fstw,
 * 0x14 fldd, 0x1C fstd */
static int exec_long_mem(hv_vm_t *vm, uint32_t insn, unsigned op)
{
    unsigned rb = BITS(insn, 6, 10), r = BITS(insn, 11, 15), sp = BITS(insn, 16, 17);
    int32_t sign = (insn & 1) ? -1 : 0;
    if (op == 0x14 || op == 0x1C) {
        if (!(insn & 2)) return INT_ILLEGAL;                 /* PA 2.0 ldd/std */
        int32_t disp = (int32_t)(((uint32_t)sign << 10 | BITS(insn, 18, 27)) << 3);
        unsigned ma = BITS(insn, 28, 29);
        int modify = (ma & 2) ? ((ma & 1) ? -1 : 1) : 0;
        return fp_mem(vm, op == 0x1C, 1, r, rb, 0, 0, disp, sp, modify);
    }
    int32_t disp = (int32_t)(((uint32_t)sign << 11 | BITS(insn, 18, 28)) << 2);
    unsigned rt = r | BITS(insn, 30, 30) << 5;
    int modify;
    if (op == 0x16 || op == 0x1E) {
        modify = BITS(insn, 29, 29) ? -1 : 1;
    } else {
        if (BITS(insn, 29, 29)) return INT_ILLEGAL;          /* 0x17/0x1F: ldw/stw,m forms */
        modify = 0;
    }
    return fp_mem(vm, op >= 0x1E, 0, rt, rb, 0, 0, disp, sp, modify);
}

/* class 1 conversions.  sub: 0 float-float, 1 int-float, 2 float-int, 3 float-int
 * truncating, 5/6/7 the unsigned forms of 1/2/3.  sf/df: 1 = double / 64-bit integer. */
static int exec_convert(hv_vm_t *vm, unsigned sub, unsigned sf, unsigned df,
                        unsigned r, unsigned t)
{
    static const int ops[8] = { U_FF, U_XF, U_FX, U_FXT, -1, U_UXF, U_FUX, U_FUXT };
    int op = ops[sub & 7];
    if (op < 0 || (op == U_FF && sf == df)) return INT_ILLEGAL;
    return do_unary(vm, op, (int)sf, (int)df, r, t);
}

/* ---- 0x0C: coprocessor 0 operations, left halves for single precision ---- */
static int exec_0c(hv_vm_t *vm, uint32_t insn)
{
    unsigned r1 = BITS(insn, 6, 10), r2 = BITS(insn, 11, 15), sub = BITS(insn, 16, 18);
    unsigned fmt = BITS(insn, 19, 20), cls = BITS(insn, 21, 22), z = BITS(insn, 23, 25);
    unsigned b26 = BITS(insn, 26, 26), t = BITS(insn, 27, 31);
    if (z) return INT_ILLEGAL;
    switch (cls) {
    case 0:
        if (r2 || b26 || fmt > 1) return INT_ILLEGAL;
        if (sub < 2) {                     /* only FID (all zero): fcpy of zero into fr0L */
            if (insn != 0x30000000u) return INT_ILLEGAL;
            return do_unary(vm, U_CPY, 0, 0, 0, 0);
        }
        return do_unary(vm, U_CPY + (int)sub - 2, (int)fmt, (int)fmt, r1, t);
    case 1: {
        unsigned df = BITS(insn, 17, 18), sf = BITS(insn, 19, 20);
        sub = BITS(insn, 14, 16);
        if (BITS(insn, 11, 13) || b26 || df > 1 || sf > 1) return INT_ILLEGAL;
        return exec_convert(vm, sub, sf, df, r1, t);
    }
    case 2:
        if (fmt > 1) return INT_ILLEGAL;
        if (b26) {
            if (r1 || r2 || fmt) return INT_ILLEGAL;
            return do_ftest(vm, sub, t);
        }
        return do_fcmp(vm, (int)fmt, r1, r2, sub, t);
    default:
        if (b26 || fmt > 1 || sub > 3) return INT_ILLEGAL;
        return do_binary(vm, (int)sub, (int)fmt, r1, r2, t);
    }
}

/* ---- 0x0E: the same operations with left/right half single registers, and xmpyu ---- */
static int exec_0e(hv_vm_t *vm, uint32_t insn)
{
    unsigned r1 = BITS(insn, 6, 10), r2 = BITS(insn, 11, 15), sub = BITS(insn, 16, 18);
    unsigned h2 = BITS(insn, 19, 19), fmt = BITS(insn, 20, 20), cls = BITS(insn, 21, 22);
    unsigned b23 = BITS(insn, 23, 23), h1 = BITS(insn, 24, 24), ht = BITS(insn, 25, 25);
    unsigned b26 = BITS(insn, 26, 26), t = BITS(insn, 27, 31);
    if (b26) return INT_ILLEGAL;
    switch (cls) {
    case 0:
        if (r2 || h2 || b23 || sub < 2) return INT_ILLEGAL;
        if (fmt && (h1 || ht)) return INT_ILLEGAL;
        return do_unary(vm, U_CPY + (int)sub - 2, (int)fmt, (int)fmt, r1 | h1 << 5, t | ht << 5);
    case 1: {
        unsigned df = BITS(insn, 18, 18), sf = fmt;
        if (BITS(insn, 11, 13) || BITS(insn, 17, 17) || h2 || b23) return INT_ILLEGAL;
        if ((sf && h1) || (df && ht)) return INT_ILLEGAL;
        return exec_convert(vm, BITS(insn, 14, 16), sf, df, r1 | h1 << 5, t | ht << 5);
    }
    case 2:
        if (b23 || ht || (fmt && (h1 || h2))) return INT_ILLEGAL;
        return do_fcmp(vm, (int)fmt, r1 | h1 << 5, r2 | h2 << 5, sub, t);
    default:
        if (b23) {                                   /* xmpyu: 32x32 -> 64 unsigned */
            if (sub != 2 || fmt || ht) return INT_ILLEGAL;
            uint64_t a = frw0(vm, r1 | h1 << 5), b = frw0(vm, r2 | h2 << 5);
            vm->s.fr[t] = a * b;
            return EX_OK;
        }
        if (sub > 3 || (fmt && (h1 || h2 || ht))) return INT_ILLEGAL;
        return do_binary(vm, (int)sub, (int)fmt, r1 | h1 << 5, r2 | h2 << 5, t | ht << 5);
    }
}

/* 0x06 fmpyadd / 0x26 fmpysub: a multiply then an add, each a complete operation
 * (QEMU: the product is written before the add runs, and each may trap).  The f bit
 * (bit 26) is taken as QEMU 7.2 decodes it: 1 = double, 0 = single -- the reverse of
 * the architecture and of gas, so "fmpyadd,dbl" as assembled runs in single there. */
static int exec_fmpyadd(hv_vm_t *vm, uint32_t insn, int sub)
{
    unsigned rm1 = BITS(insn, 6, 10), rm2 = BITS(insn, 11, 15), ta = BITS(insn, 16, 20);
    unsigned ra = BITS(insn, 21, 25), dbl = BITS(insn, 26, 26), tm = BITS(insn, 27, 31);
    if (!dbl) {         /* 5-bit single fields name fr16..fr31, bit 4 = right half */
#define SREG(r) (((r) & 16) * 2 + 16 + ((r) & 15))
        rm1 = SREG(rm1); rm2 = SREG(rm2); ta = SREG(ta); ra = SREG(ra); tm = SREG(tm);
#undef SREG
    }
    int x = do_binary(vm, B_MPY, (int)dbl, rm1, rm2, tm);
    if (x) return x;
    return do_binary(vm, sub ? B_SUB : B_ADD, (int)dbl, ta, ra, ta);
}

/* 0x2E fmpyfadd / fmpynfadd (PA 2.0; QEMU 7.2 accepts it on any CPU) */
static int exec_fmpyfadd(hv_vm_t *vm, uint32_t insn)
{
    unsigned rm1 = BITS(insn, 6, 10), rm2 = BITS(insn, 11, 15);
    unsigned rc = BITS(insn, 16, 18) << 2 | BITS(insn, 21, 22), neg = BITS(insn, 26, 26);
    unsigned t = BITS(insn, 27, 31);
    if (!BITS(insn, 20, 20)) {
        rm1 |= BITS(insn, 24, 24) << 5;
        rm2 |= BITS(insn, 19, 19) << 5;
        rc |= BITS(insn, 23, 23) << 5;
        t |= BITS(insn, 25, 25) << 5;
        return do_fmpyfadd(vm, 0, rm1, rm2, rc, t, (int)neg);
    }
    if (BITS(insn, 19, 19) || BITS(insn, 23, 25)) return INT_ILLEGAL;
    return do_fmpyfadd(vm, 1, rm1, rm2, rc, t, (int)neg);
}

int fpu_exec(hv_vm_t *vm, uint32_t insn)
{
    unsigned op = insn >> 26;
    switch (op) {
    case 0x06: return exec_fmpyadd(vm, insn, 0);
    case 0x26: return exec_fmpyadd(vm, insn, 1);
    case 0x09: return exec_cop_mem(vm, insn, 0);
    case 0x0B: return exec_cop_mem(vm, insn, 1);
    case 0x0C: return exec_0c(vm, insn);
    case 0x0E: return exec_0e(vm, insn);
    case 0x2E: return exec_fmpyfadd(vm, insn);
    case 0x14: case 0x16: case 0x17: case 0x1C: case 0x1E: case 0x1F:
        return exec_long_mem(vm, insn, op);
    default: return INT_ILLEGAL;
    }
}
