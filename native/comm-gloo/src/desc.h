// Call descriptors: what each rank says it is calling (op, sequence number, dtype, shape, reduce
// op, root), compared across ranks before a collective runs so that mismatched calls fail with
// the same error on every rank instead of hanging or corrupting data.
#pragma once

#include <cstdint>
#include <string>

#include "group.h"

namespace dsgloo {

constexpr uint32_t kDescMagic = 0x31475344;  // "DSG1"

// The fixed 64-byte descriptor every rank sends every other rank before a collective.
struct Desc {
  uint32_t magic;
  uint8_t op;
  uint8_t dtype;
  uint8_t redop;
  uint8_t ndim;  // of the described tensor; dims beyond 4 are not carried
  int32_t root;
  uint32_t reserved;
  uint64_t seq;
  uint64_t numel;
  int64_t dims[4];
};
static_assert(sizeof(Desc) == 64, "descriptor is 64 bytes");

/** The descriptor of a collective task. */
Desc makeDesc(const Task& t);
/** "allReduce(float32 [1024], sum)", with " #seq" after the name when withSeq. */
std::string describeDesc(const Desc& d, bool withSeq);
/** Whether two descriptors describe the same call (all-to-all splits are checked separately). */
bool sameCall(const Desc& a, const Desc& b);

}  // namespace dsgloo
