// Asynchronous file I/O for NVMe offload: reads and writes run on the I/O thread pool
// (io_pool.h) and settle a Promise on the JavaScript thread that asked. Large requests are split
// into 1 MiB pieces that run in parallel. A request whose buffer, file offset and length are
// multiples of 4096 bytes goes through O_DIRECT when the file was opened with a direct twin
// (file_table.h); everything else, and every filesystem without O_DIRECT (tmpfs, some network
// filesystems), uses buffered pread / pwrite. The results are the same either way.
#pragma once

#include <napi.h>

namespace ds {

// [sync]  open(path: string, write: boolean): { fd: number, direct: boolean }
//   Opens `path` for reading (write false) or reading and writing, creating it (mode 0644) when
//   write is true; never truncates. `direct` says whether an O_DIRECT twin could be opened.
//   Throws Error with `code` (e.g. 'ENOENT') when the file cannot be opened.
// [sync]  close(fd: number): void — closes a descriptor from open() (and its direct twin).
//   Requests still in flight on it fail or complete; do not close while they run.
// [async] readInto(file: number | string, offset: number, buffer: Uint8Array): Promise<number>
//   Reads buffer.length bytes at `offset` into buffer; resolves with the bytes read, fewer
//   only at the end of the file (the rest of buffer is left as it was). `file` is a descriptor
//   (from open() or fs.openSync) or a path the request opens and closes itself.
// [async] writeFrom(file: number | string, offset: number, buffer: Uint8Array): Promise<number>
//   Writes all of buffer at `offset` (a path is created when missing); resolves with
//   buffer.length. Both reject with an Error naming the call, the file and the offset, with
//   `code` / `errno` / `syscall` set as Node's fs errors have them.
// [sync]  allocAligned(bytes: number, alignment = 4096): Uint8Array
//   A zeroed buffer whose first byte sits at a multiple of `alignment` (a power of two up to
//   1 MiB), so it can take O_DIRECT transfers. The memory belongs to a normal ArrayBuffer.
// [sync]  directAlignment(): number — 4096.
// [sync]  ioThreads(): number, setIoThreads(n: number): void — the I/O pool's size (1..256);
//   DS_AIO_THREADS sets the initial size (default 4).
// [sync]  ioStats(): { directBytes: number, bufferedBytes: number } — bytes moved so far in this
//   process through O_DIRECT and through the page cache.
void InitFileIo(Napi::Env env, Napi::Object exports);

}  // namespace ds
