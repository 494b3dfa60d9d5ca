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
        "src/elementwise.cc",
        "src/broadcast.cc",
        "src/reduce.cc",
        "src/softmax.cc",
        "src/layernorm.cc",
        "src/gelu.cc",
        "src/cross_entropy.cc",
        "src/embedding.cc",
        "src/adam.cc",
        "src/half.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2", "-O0"],
      "cflags": ["-O3", "-fexceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-psabi", "-Wno-unused-parameter", "-Wno-maybe-uninitialized"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "libraries": ["-lopenblas", "-lpthread"]
    }
  ]
}
