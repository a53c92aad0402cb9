#include <isa-l/igzip_lib.h>
#include <isa-l.h>
#include <dlfcn.h>
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
   links it: 0.99 against 0.86 ms), and most runs read no gzip. Its functions are called
   through these. A system without the library (libisal2) cannot read or write gzip: the
   callers ask `sluice_isal_load` first and make its answer an input's or the output's error. */
static inline void *sluice_isal_library(void) {
    static void *library;  /* one per importing module; dlopen counts them */
    void *handle = __atomic_load_n(&library, __ATOMIC_ACQUIRE);
    if (!handle) {
        handle = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
        if (handle) __atomic_store_n(&library, handle, __ATOMIC_RELEASE);
    }
    return handle;
}

/* NULL when ISA-L's functions can be called, else why not (dlerror's text, this thread's). */
static inline const char *sluice_isal_load(void) {
    void *handle = sluice_isal_library();
    if (handle && dlsym(handle, "isal_inflate") && dlsym(handle, "isal_deflate")) return NULL;
    const char *reason = dlerror();
    return reason ? reason : "libisal.so.2: no isal_inflate";
}

/* The library's function `name`. Called only after `sluice_isal_load` said yes: a failure
   here (the library changed under a running sluice) ends the process with a message. */
static inline void *sluice_isal_function(const char *name) {
    void *handle = sluice_isal_library();
    void *function = handle ? dlsym(handle, name) : NULL;
    if (!function) {
        const char *reason = dlerror();
        char line[512];
        int n = snprintf(line, sizeof line, "sluice: cannot load ISA-L (libisal.so.2), which reads and writes gzip: %s\n",
                         reason ? reason : name);
        if (n > 0) (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        _exit(2);
    }
    return function;
}

typedef void (*sluice_isal_inflate_step)(struct inflate_state *);
typedef int (*sluice_isal_inflate_call)(struct inflate_state *);
typedef void (*sluice_isal_deflate_step)(struct isal_zstream *);
typedef int (*sluice_isal_deflate_call)(struct isal_zstream *);

/* The library's function `name` as a `type`, looked up once (atomically: any thread may be first). */
#define SLUICE_ISAL_FUNCTION(type, name) \
    static type cached; \
    type function = __atomic_load_n(&cached, __ATOMIC_ACQUIRE); \
    if (!function) { \
        function = (type)sluice_isal_function(name); \
        __atomic_store_n(&cached, function, __ATOMIC_RELEASE); \
    }

static inline void sluice_isal_inflate_init(struct inflate_state *state) {
    SLUICE_ISAL_FUNCTION(sluice_isal_inflate_step, "isal_inflate_init")
    function(state);
}

static inline void sluice_isal_inflate_reset(struct inflate_state *state) {
    SLUICE_ISAL_FUNCTION(sluice_isal_inflate_step, "isal_inflate_reset")
    function(state);
}

static inline int sluice_isal_inflate(struct inflate_state *state) {
    SLUICE_ISAL_FUNCTION(sluice_isal_inflate_call, "isal_inflate")
    return function(state);
}

static inline void sluice_isal_deflate_init(struct isal_zstream *stream) {
    SLUICE_ISAL_FUNCTION(sluice_isal_deflate_step, "isal_deflate_init")
    function(stream);
}

static inline int sluice_isal_deflate(struct isal_zstream *stream) {
    SLUICE_ISAL_FUNCTION(sluice_isal_deflate_call, "isal_deflate")
    return function(stream);
}
