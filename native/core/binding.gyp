{
  "targets": [
    {
      "target_name": "ds_core",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/cpu.cc",
        "src/threadpool.cc",
        "src/malloc_tune.cc",
        "src/runtime.cc",
        "src/gemm.cc",
        "src/gemm_bf16.cc",
        "src/elementwise.cc",
        "src/broadcast.cc",
        "src/reduce.cc",
        "src/softmax.cc",
        "src/layernorm.cc",
        "src/gelu.cc",
        "src/cross_entropy.cc",
        "src/embedding.cc",
        "src/adam.cc",
        "src/lion.cc",
        "src/half.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      # No -march: the baseline stays plain x86-64 and the AVX2 / AVX-512 kernels carry their
      # own target attributes (src/simd.h), chosen at run time.
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2", "-O0"],
      # -Wno-psabi: templates taking vector types by value warn about an ABI change that cannot
      # matter here (they are always inlined into their target-specific caller).
      # -Wno-maybe-uninitialized: GCC 12 false positives inside the AVX-512 intrinsic headers.
      "cflags": ["-O3", "-fexceptions", "-fvisibility=hidden", "-Wno-psabi", "-Wno-maybe-uninitialized"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "libraries": ["-lopenblas", "-lpthread"]
    }
  ]
}
