/* digest.c -- state digests (architecture section 5).
 *
 * digest = mix(registers and core internals, TLB, memory).  Memory is a sum over pages
 * of mix(content hash, page number), kept per page, so a digest after an epoch rehashes
 * only the pages written in it (core_mark_dirty() lists them).  The content hash is a
 * four-lane multiply-rotate hash (the xxHash64 round) over little-endian words, so equal
 * states give equal digests whatever the host's byte order.  A digest is a fingerprint
 * for finding divergence, not a cryptographic checksum.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t round64(uint64_t acc, uint64_t w)
{
    return rotl64(acc + w * P2, 31) * P1;
}

static inline uint64_t avalanche(uint64_t h)
{
    h ^= h >> 33; h *= P2;
    h ^= h >> 29; h *= P3;
    h ^= h >> 32;
    return h;
}

/* n must be a multiple of 8 */
static uint64_t hash_words(const uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t a = seed + P1 + P2, b = seed + P2, c = seed, d = seed - P1;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = round64(a, le64(p + i));
        b = round64(b, le64(p + i + 8));
        c = round64(c, le64(p + i + 16));
        d = round64(d, le64(p + i + 24));
    }
    uint64_t h = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18) + n;
    for (; i < n; i += 8)
        h = rotl64(h ^ round64(0, le64(p + i)), 27) * P1 + P3;
    return avalanche(h);
}

static const uint8_t *page_ptr(const hv_vm_t *vm, uint32_t page)
{
    uint32_t ram_pages = vm->ram_size >> PAGE_SHIFT;
    return page < ram_pages ? vm->ram + ((size_t)page << PAGE_SHIFT)
                            : vm->fw + ((size_t)(page - ram_pages) << PAGE_SHIFT);
}

static inline uint64_t page_contribution(uint64_t content, uint32_t page)
{
    return avalanche(content ^ ((uint64_t)page * P3 + P1));
}

/* Build the per-page table from scratch (first digest, or after a full invalidation). */
static int build_page_table(hv_vm_t *vm)
{
    if (!vm->page_hash) {
        vm->page_hash = malloc((size_t)vm->npages * sizeof *vm->page_hash);
        if (!vm->page_hash) return -1;
    }
    static const uint8_t zero[PAGE_SIZE];
    uint64_t zero_hash = hash_words(zero, PAGE_SIZE, 0);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < vm->npages; i++) {
        const uint8_t *p = page_ptr(vm, i);
        /* most of a fresh guest's RAM is zero: a compare is cheaper than a hash */
        uint64_t h = (p[0] == 0 && memcmp(p, zero, PAGE_SIZE) == 0)
                   ? zero_hash : hash_words(p, PAGE_SIZE, 0);
        vm->page_hash[i] = page_contribution(h, i);
        sum += vm->page_hash[i];
        vm->dirty[i] &= (uint8_t)~DIRTY_DIGEST;
    }
    vm->dirty_n = 0;
    vm->mem_sum = sum;
    return 0;
}

static void update_pages(hv_vm_t *vm)
{
    for (uint32_t k = 0; k < vm->dirty_n; k++) {
        uint32_t i = vm->dirty_list[k];
        uint64_t h = page_contribution(hash_words(page_ptr(vm, i), PAGE_SIZE, 0), i);
        vm->mem_sum += h - vm->page_hash[i];
        vm->page_hash[i] = h;
        vm->dirty[i] &= (uint8_t)~DIRTY_DIGEST;
    }
    vm->dirty_n = 0;
}

static uint64_t tlb_digest(hv_vm_t *vm)
{
    if (vm->tlb_hash_valid && vm->tlb_hash_gen == vm->tlb_gen)
        return vm->tlb_hash;
    tlb_entry_t t[TLB_ENTRIES];
    memcpy(t, vm->tlb, sizeof t);
    for (int i = 0; i < TLB_ENTRIES; i++)
        memset(t[i].pad, 0, sizeof t[i].pad);
    uint32_t words[2] = { vm->tlb_next, 0 };
    vm->tlb_hash = hash_words((const uint8_t *)t, sizeof t, 0x544C42u)
                 ^ hash_words((const uint8_t *)words, sizeof words, 1);
    vm->tlb_hash_gen = vm->tlb_gen;
    vm->tlb_hash_valid = 1;
    return vm->tlb_hash;
}

uint64_t hv_digest(hv_vm_t *vm)
{
    if (!vm->page_hash || vm->dirty_n > vm->npages) {
        if (build_page_table(vm) != 0) return 0;
    } else {
        update_pages(vm);
    }
    hv_cpu_state_t s = vm->s;
    s.pad0 = 0;
    /* core internals with architectural effect: the FPU's status word and the
     * virtual-clock timer deadline */
    uint64_t extra[3] = { vm->fpu_shadow, vm->timer_at, (uint64_t)vm->clock_mode << 32 | vm->ticks_per_insn };
    uint64_t h = hash_words((const uint8_t *)&s, sizeof s, 0x435055u);
    h = avalanche(h ^ rotl64(tlb_digest(vm), 17));
    h = avalanche(h ^ hash_words((const uint8_t *)extra, sizeof extra, 2));
    return avalanche(h + vm->mem_sum * P1);
}

void digest_invalidate(hv_vm_t *vm, int memory_too)
{
    vm->tlb_hash_valid = 0;
    if (memory_too && vm->page_hash) {
        free(vm->page_hash);
        vm->page_hash = NULL;
    }
}

void digest_free(hv_vm_t *vm)
{
    free(vm->page_hash);
    vm->page_hash = NULL;
}

/* the hashes read whole 8-byte words of these structs */
_Static_assert(sizeof(hv_cpu_state_t) % 8 == 0, "cpu state must be whole words");
_Static_assert(sizeof(tlb_entry_t) * TLB_ENTRIES % 8 == 0, "TLB must be whole words");
