#include <isa-l/igzip_lib.h>
#include <isa-l.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The level buffer sizes are macro expressions Swift cannot import. */
static inline unsigned sluice_isal_level_buffer_size(int level) {
    switch (level) {
    case 1: return ISAL_DEF_LVL1_DEFAULT;
    case 2: return ISAL_DEF_LVL2_DEFAULT;
    default: return ISAL_DEF_LVL3_DEFAULT;
    }
}

/* ISA-L is loaded at the first gzip stream read or written (dlopen), not at every start:
   loading libisal.so.2 with the executable was 0.13 ms of each run (a C program that only
   links it: 0.99 against 0.86 ms), and most runs read no gzip. Its functions are looked up
   once, together, and called through `sluice_isal()`. A system without the library
   (libisal2) cannot read or write gzip: the callers ask `sluice_isal_load` first and make its
   answer an input's or the output's error. */
struct sluice_isal_functions {
    void (*inflate_init)(struct inflate_state *);
    void (*inflate_reset)(struct inflate_state *);
    int (*inflate)(struct inflate_state *);
    void (*deflate_init)(struct isal_zstream *);
    int (*deflate)(struct isal_zstream *);
};
/* The functions once looked up, or why they are not there; one per importing module
   (dlopen counts the library's users). In a function: Swift imports no file-scope static. */
struct sluice_isal_state {
    pthread_once_t once;
    struct sluice_isal_functions table;
    char failure[256];
};
static inline struct sluice_isal_state *sluice_isal_state(void) {
    static struct sluice_isal_state state = { PTHREAD_ONCE_INIT, { 0 }, { 0 } };
    return &state;
}

static inline void sluice_isal_resolve(void) {
    struct sluice_isal_state *state = sluice_isal_state();
    struct sluice_isal_functions found = { 0 };
    void *library = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
    if (library) {
        found.inflate_init = (void (*)(struct inflate_state *))dlsym(library, "isal_inflate_init");
        found.inflate_reset = (void (*)(struct inflate_state *))dlsym(library, "isal_inflate_reset");
        found.inflate = (int (*)(struct inflate_state *))dlsym(library, "isal_inflate");
        found.deflate_init = (void (*)(struct isal_zstream *))dlsym(library, "isal_deflate_init");
        found.deflate = (int (*)(struct isal_zstream *))dlsym(library, "isal_deflate");
    }
    if (!found.inflate_init || !found.inflate_reset || !found.inflate || !found.deflate_init || !found.deflate) {
        const char *reason = dlerror();
        snprintf(state->failure, sizeof state->failure, "%s", reason ? reason : "libisal.so.2: a function is missing");
        return;
    }
    state->table = found;
}

/* NULL when ISA-L's functions can be called (loading it the first time), else why not. */
static inline const char *sluice_isal_load(void) {
    struct sluice_isal_state *state = sluice_isal_state();
    pthread_once(&state->once, sluice_isal_resolve);
    return state->table.inflate ? NULL : state->failure;
}

/* The functions, for a caller that did not ask first: without them the process ends with a
   message (the run's callers ask `sluice_isal_load` before; a harness may not). */
static inline const struct sluice_isal_functions *sluice_isal(void) {
    const char *why = sluice_isal_load();
    if (why) {
        char line[512];
        int n = snprintf(line, sizeof line, "sluice: cannot load ISA-L (libisal.so.2), which reads and writes gzip: %s\n", why);
        if (n > 0) (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        _exit(2);
    }
    return &sluice_isal_state()->table;
}

static inline void sluice_isal_inflate_init(struct inflate_state *state) { sluice_isal()->inflate_init(state); }
static inline void sluice_isal_inflate_reset(struct inflate_state *state) { sluice_isal()->inflate_reset(state); }
static inline int sluice_isal_inflate(struct inflate_state *state) { return sluice_isal()->inflate(state); }
static inline void sluice_isal_deflate_init(struct isal_zstream *stream) { sluice_isal()->deflate_init(stream); }
static inline int sluice_isal_deflate(struct isal_zstream *stream) { return sluice_isal()->deflate(stream); }
