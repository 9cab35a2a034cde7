// Non-temporal copies (stream_store.hpp). SSE2 16-byte streaming stores, four per line, so the
// baseline build has them; the write-combining buffers merge them into whole-line writes.
#include "stream_store.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace netlens::cpu {

void stream_copy_bytes(void* dst, const void* src, size_t bytes) {
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  const size_t head = std::min(bytes, static_cast<size_t>((64 - (reinterpret_cast<uintptr_t>(d) & 63)) & 63));
  std::memcpy(d, s, head);
  size_t i = head;
  for (; i + 64 <= bytes; i += 64)
    for (size_t j = 0; j < 64; j += 16)
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + j),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + j)));
  std::memcpy(d + i, s + i, bytes - i);
}

void stream_fence() { _mm_sfence(); }

namespace {
thread_local bool t_staging = false;
}  // namespace

bool streams_outputs() { return !t_staging; }
StagingScope::StagingScope() : prev_(t_staging) { t_staging = true; }
StagingScope::~StagingScope() { t_staging = prev_; }

}  // namespace netlens::cpu
