{
  "targets": [
    {
      "target_name": "ds_comm_gloo",
      "sources": ["src/addon.cc", "src/group.cc", "src/desc.cc", "src/shm.cc", "src/reduce.cc", "src/js_store.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      # Gloo reports every failure by throwing (GLOO_ENFORCE), so C++ exceptions stay on.
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2", "-O0"],
      "cflags": ["-O3", "-fexceptions", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti"],
      # Debian's libgloo-dev: headers in /usr/include/gloo, libgloo.so (which pulls in libibverbs, libhiredis).
      "libraries": ["-lgloo", "-lpthread"]
    }
  ]
}
