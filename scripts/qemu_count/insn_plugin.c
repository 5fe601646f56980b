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
 * (scripts/qemu_count/by_symbol.py maps them to functions). Every getppid system call of
 * the guest (number 173 on AArch64; plugin argument nr=N for another guest, e.g.
 * nr=110 on x86-64) prints "mark A N" on stderr: its first argument A (getppid ignores it, so a
 * program tags the points it wants counted with `syscall(SYS_getppid, A)`) and the
 * instructions executed so far; differences of N give the instructions of a phase
 * (crossover.c). The declarations below are the documented signatures of the API
 * functions used (no QEMU headers needed).
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
typedef void (*syscall_cb)(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                           uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, syscall_cb cb);
#define AARCH64_NR_GETPPID 173
static int64_t mark_nr = AARCH64_NR_GETPPID; /* plugin argument nr=N: another guest's number (x86-64: 110) */
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

static uint64_t count_all(void) {
    uint64_t total = 0;
    for (chunk *c = chunks; c; c = c->next)
        for (size_t i = 0; i < c->used; i++) total += c->b[i].n;
    return total;
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2, uint64_t a3,
                       uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    (void)id, (void)vcpu, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6, (void)a7, (void)a8;
    if (num == mark_nr) fprintf(stderr, "mark %llu %llu\n", (unsigned long long)a1, (unsigned long long)count_all());
}

static void on_guest_exit(qemu_plugin_id_t id, void *userdata) {
    (void)id, (void)userdata;
    const char *path = getenv("QPROF_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) {
        for (chunk *c = chunks; c; c = c->next)
            for (size_t i = 0; i < c->used; i++)
                if (c->b[i].n) fprintf(f, "%llx %llu\n", (unsigned long long)c->b[i].vaddr, (unsigned long long)c->b[i].n);
        fclose(f);
    }
    fprintf(stderr, "insns %llu\n", (unsigned long long)count_all());
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
                                                               char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == 'n' && argv[i][1] == 'r' && argv[i][2] == '=') mark_nr = strtoll(argv[i] + 3, NULL, 10);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_guest_exit, NULL);
    return 0;
}
