/*
 * insn_plugin.c — a QEMU TCG plugin (plugin API version 1: QEMU 5.2 … 8.1, Debian 12's
 * 7.2) that counts the guest instructions a program executes, in total and per
 * translation-block start address. A measurement aid for kernels that have no
 * hardware to be timed on here (the NEON quantizer searches): instruction counts are
 * exact and immune to a shared machine's load, but they are not time.
 *
 *   gcc -shared -fPIC -O2 -o insn_plugin.so insn_plugin.c
 *   QPROF_OUT=blocks.txt qemu-aarch64 -plugin ./insn_plugin.so PROGRAM ARGS
 *
 * prints "insns N" on stderr at exit; with QPROF_OUT set, writes "vaddr count" lines
 * (scripts/qemu_count/by_symbol.py maps them to functions). The declarations below
 * are the documented signatures of the API functions used (no QEMU headers needed).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*udata_cb)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, int op, void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb cb, void *userdata);
enum { INLINE_ADD_U64 = 0 };

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One counter per translated block; blocks are never freed, so chunks are never moved.
 * Counts of a multi-threaded guest may lose a few increments (plain inline adds). */
typedef struct {
    uint64_t vaddr, n;
} block;
typedef struct chunk {
    struct chunk *next;
    size_t used;
    block b[1 << 16];
} chunk;
static chunk *chunks;

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    if (!chunks || chunks->used == sizeof chunks->b / sizeof chunks->b[0]) {
        chunk *c = calloc(1, sizeof *c);
        if (!c) abort();
        c->next = chunks;
        chunks = c;
    }
    block *b = &chunks->b[chunks->used++];
    b->vaddr = qemu_plugin_tb_vaddr(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, INLINE_ADD_U64, &b->n, qemu_plugin_tb_n_insns(tb));
}

static void on_guest_exit(qemu_plugin_id_t id, void *userdata) {
    (void)id, (void)userdata;
    const char *path = getenv("QPROF_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    uint64_t total = 0;
    for (chunk *c = chunks; c; c = c->next)
        for (size_t i = 0; i < c->used; i++) {
            total += c->b[i].n;
            if (f && c->b[i].n) fprintf(f, "%llx %llu\n", (unsigned long long)c->b[i].vaddr, (unsigned long long)c->b[i].n);
        }
    if (f) fclose(f);
    fprintf(stderr, "insns %llu\n", (unsigned long long)total);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
                                                               char **argv) {
    (void)info, (void)argc, (void)argv;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_guest_exit, NULL);
    return 0;
}
