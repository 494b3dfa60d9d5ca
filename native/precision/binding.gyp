{
  "targets": [
    {
      "target_name": "ds_precision",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/cpu.cc",
        "src/unscale.cc",
        "src/master_to_half.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      # No -march: the baseline stays plain x86-64 and the AVX2 / AVX-512 kernels carry their
      # own target attributes (src/simd.h), chosen at run time.
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2", "-O0"],
      # -ffp-contract=off: a multiply-add fused into one FMA rounds once instead of twice, and
      # the results must be bit-identical to the TypeScript reference on every SIMD level.
      # -Wno-maybe-uninitialized: GCC 12 false positives inside the AVX-512 intrinsic headers.
      "cflags": ["-O3", "-fexceptions", "-fvisibility=hidden", "-ffp-contract=off", "-Wno-psabi", "-Wno-maybe-uninitialized"],
      "cflags_cc": ["-std=c++17", "-fexceptions"]
    }
  ]
}
