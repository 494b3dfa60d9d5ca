// Shared enums and small helpers of the Gloo binding. The numeric values are part of the
// JS <-> C++ contract (packages/comm-gloo/src/native.ts mirrors them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dsgloo {

enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, I32 = 3, I64 = 4 };
enum class RedOp : uint8_t { SUM = 0, PROD = 1, MIN = 2, MAX = 3, AVG = 4 };
enum class Op : uint8_t {
  NONE = 0,
  ALLREDUCE = 1,
  REDUCE = 2,
  BROADCAST = 3,
  ALLGATHER = 4,
  REDUCE_SCATTER = 5,
  ALLTOALL = 6,
  ALLTOALLV = 7,
  BARRIER = 8,
  SEND = 9,
  RECV = 10,
  CONNECT = 11,
  CLOSE = 12,
};

inline size_t elementSize(DType d) {
  switch (d) {
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F16:
    case DType::BF16:
      return 2;
    case DType::I64:
      return 8;
  }
  return 1;
}

inline const char* dtypeName(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "?";
}

inline const char* redOpName(RedOp op) {
  switch (op) {
    case RedOp::SUM: return "sum";
    case RedOp::PROD: return "product";
    case RedOp::MIN: return "min";
    case RedOp::MAX: return "max";
    case RedOp::AVG: return "avg";
  }
  return "?";
}

inline const char* opName(Op op) {
  switch (op) {
    case Op::ALLREDUCE: return "allReduce";
    case Op::REDUCE: return "reduce";
    case Op::BROADCAST: return "broadcast";
    case Op::ALLGATHER: return "allGather";
    case Op::REDUCE_SCATTER: return "reduceScatter";
    case Op::ALLTOALL: return "allToAll";
    case Op::ALLTOALLV: return "allToAll";
    case Op::BARRIER: return "barrier";
    case Op::SEND: return "send";
    case Op::RECV: return "recv";
    case Op::CONNECT: return "connect";
    case Op::CLOSE: return "destroy";
    case Op::NONE: return "none";
  }
  return "?";
}

}  // namespace dsgloo
