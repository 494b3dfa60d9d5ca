// glibc malloc settings that let large typed-array buffers reuse memory instead of mapping
// fresh pages on every allocation.
#pragma once

namespace ds {

// Applies the settings once per process unless DS_MALLOC_TUNE=0. Returns whether they were applied.
bool TuneMalloc();

}  // namespace ds
