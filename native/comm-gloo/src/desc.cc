#include "desc.h"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace dsgloo {

namespace {

bool usesRedOp(Op op) { return op == Op::ALLREDUCE || op == Op::REDUCE || op == Op::REDUCE_SCATTER; }
bool usesRoot(Op op) { return op == Op::REDUCE || op == Op::BROADCAST; }

}  // namespace

Desc makeDesc(const Task& t) {
  Desc d;
  std::memset(&d, 0, sizeof(d));
  d.magic = kDescMagic;
  d.op = static_cast<uint8_t>(t.op);
  d.dtype = static_cast<uint8_t>(t.dtype);
  d.redop = static_cast<uint8_t>(t.redop);
  d.root = t.root;
  d.seq = t.seq;
  uint64_t n = 1;
  for (int64_t s : t.shape) n *= static_cast<uint64_t>(s);
  d.numel = t.op == Op::BARRIER ? 0 : n;
  d.ndim = static_cast<uint8_t>(std::min<size_t>(t.shape.size(), 255));
  for (size_t i = 0; i < t.shape.size() && i < 4; i++) d.dims[i] = t.shape[i];
  return d;
}

std::string describeDesc(const Desc& d, bool withSeq) {
  std::ostringstream os;
  const Op op = static_cast<Op>(d.op);
  if (d.magic != kDescMagic) return "<garbled descriptor>";
  os << opName(op);
  if (withSeq) os << " #" << d.seq;
  os << "(";
  if (op != Op::BARRIER) {
    os << dtypeName(static_cast<DType>(d.dtype)) << " [";
    for (int i = 0; i < d.ndim && i < 4; i++) os << (i ? ", " : "") << d.dims[i];
    if (d.ndim > 4) os << ", ...";
    os << "]";
    if (d.ndim > 4) os << " (" << d.numel << " elements)";
    if (usesRedOp(op)) os << ", " << redOpName(static_cast<RedOp>(d.redop));
    if (op == Op::REDUCE) os << ", dst=" << d.root;
    if (op == Op::BROADCAST) os << ", src=" << d.root;
  }
  os << ")";
  return os.str();
}

bool sameCall(const Desc& a, const Desc& b) {
  if (a.magic != b.magic || a.op != b.op || a.seq != b.seq) return false;
  const Op op = static_cast<Op>(a.op);
  if (op == Op::BARRIER) return true;
  if (a.dtype != b.dtype) return false;
  if (op != Op::ALLTOALLV && a.numel != b.numel) return false;
  if (usesRedOp(op) && a.redop != b.redop) return false;
  if (usesRoot(op) && a.root != b.root) return false;
  return true;
}

void Core::throwIfMismatched(const std::vector<Desc>& all) const {
  std::vector<int> bad;
  bool seqDiffers = false;
  for (int r = 1; r < (int)all.size(); r++) {
    if (!sameCall(all[r], all[0])) bad.push_back(r);
    if (all[r].seq != all[0].seq) seqDiffers = true;
  }
  if (bad.empty()) return;
  std::ostringstream os;
  os << opName(static_cast<Op>(all[0].op)) << " #" << all[0].seq << " mismatch: " << rankName(0) << " called "
     << describeDesc(all[0], seqDiffers) << " but ";
  for (size_t i = 0; i < bad.size(); i++) {
    os << (i ? ", " : "") << rankName(bad[i]) << " called " << describeDesc(all[bad[i]], seqDiffers);
  }
  throw Failure("DS_COMM_MISMATCH", os.str(), bad);
}

void Core::throwNotArrived(const Task& t, const std::vector<int>& missing) const {
  std::string who, here;
  int arrived = 0;
  for (int r = 0; r < size; r++) {
    const bool absent = std::find(missing.begin(), missing.end(), r) != missing.end();
    if (absent) {
      who += (who.empty() ? "" : ", ") + std::to_string(r);
    } else {
      here += (arrived++ ? ", " : "") + std::to_string(r);
    }
  }
  throw Failure("DS_COMM_TIMEOUT",
                label(t) + " timed out after " + std::to_string(timeoutMsOf(t)) + " ms waiting for " +
                    (missing.size() == 1 ? rankName(missing[0]) : "ranks " + who) + ": " + (missing.size() == 1 ? "it" : "they") +
                    " did not call " + opName(t.op) + " #" + std::to_string(t.seq) + " (" + (arrived == 1 ? "rank " : "ranks ") + here + " did)",
                missing);
}

}  // namespace dsgloo
