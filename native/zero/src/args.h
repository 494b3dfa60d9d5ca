// Argument checking for the exported functions: a wrong type is a TypeError and a bad value a
// RangeError, each naming the function, the argument and what was received.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ds {

// Where an I/O request goes: an open file descriptor, or a path the request opens itself.
struct FileArg {
  int fd = -1;
  std::string path;  // empty when fd is set
};

class Args {
 public:
  // Throws TypeError when fewer than `count` arguments were passed.
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count);

  Napi::Env Env() const { return info_.Env(); }
  size_t Length() const { return info_.Length(); }
  bool Has(size_t i) const { return i < info_.Length() && !info_[i].IsUndefined(); }

  // A Uint8Array (Buffer included); its bytes stay owned by JavaScript.
  Napi::Uint8Array Bytes(size_t i, const char* name) const;
  // A non-negative integer no larger than 2^53 - 1 (a file offset or a byte count).
  int64_t Offset(size_t i, const char* name) const;
  // An integer in [min, max].
  int64_t Int(size_t i, const char* name, int64_t min, int64_t max) const;
  bool Bool(size_t i, const char* name) const;
  std::string String(size_t i, const char* name) const;
  // A file descriptor (integer >= 0) or a non-empty path.
  FileArg File(size_t i, const char* name) const;

  [[noreturn]] void ThrowRange(const std::string& message) const;
  [[noreturn]] void ThrowType(const std::string& message) const;

 private:
  const Napi::CallbackInfo& info_;
  const char* fn_;
};

// "number 3", "Float64Array", "null", ... for error messages.
std::string Describe(Napi::Value v);

}  // namespace ds
