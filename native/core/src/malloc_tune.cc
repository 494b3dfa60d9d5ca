// Why: Node allocates ArrayBuffer backing stores with calloc/free. glibc serves requests
// above M_MMAP_THRESHOLD (128 KiB, adapting up to 32 MiB) with a fresh mmap and returns them
// to the OS with munmap on free, so every large tensor a training step creates starts as
// untouched pages: each 4 KiB page costs a fault plus zeroing by the kernel. On the machines
// ds targets first touch runs at ~0.34 GB/s against ~29 GB/s for reused memory, so a step
// that allocates its activations and gradients afresh runs at page-fault speed. Raising the
// mmap threshold to 1 GiB keeps those buffers on the heap, where free() makes them
// available to the next allocation of similar size, and a large trim threshold / top pad
// stops free() from shrinking the heap (and us from faulting it back in) between steps.
// The cost is a higher resident set: freed memory stays with the process. DS_MALLOC_TUNE=0
// opts out.
#include "malloc_tune.h"

#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ds {

bool TuneMalloc() {
  static const bool applied = [] {
    const char* env = std::getenv("DS_MALLOC_TUNE");
    if (env && (std::strcmp(env, "0") == 0 || std::strcmp(env, "false") == 0)) return false;
#if defined(__GLIBC__)
    bool ok = mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1;
    ok = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && ok;
    ok = mallopt(M_TOP_PAD, 64 << 20) == 1 && ok;
    return ok;
#else
    return false;
#endif
  }();
  return applied;
}

}  // namespace ds
