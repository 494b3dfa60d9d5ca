// Registers the exported functions; file_io.h documents each.
#include <napi.h>

#include "file_io.h"

namespace {

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  ds::InitFileIo(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(ds_zero, InitAddon)
