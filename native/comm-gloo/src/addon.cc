// Entry point of the Gloo binding: exports the Group class and a few constants.
#include <napi.h>

#include <gloo/config.h>

#include "group.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Group", dsgloo::Group::Init(env));
  Napi::Object v = Napi::Object::New(env);
  v.Set("major", GLOO_VERSION_MAJOR);
  v.Set("minor", GLOO_VERSION_MINOR);
  v.Set("patch", GLOO_VERSION_PATCH);
  exports.Set("glooVersion", v);
  exports.Set("descriptorBytes", 64);
  return exports;
}

}  // namespace

NODE_API_MODULE(ds_comm_gloo, Init)
