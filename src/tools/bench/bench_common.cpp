#include "tools/bench/bench_common.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace fetchpool::bench {

std::string strprintf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list again;
  va_copy(again, args);
  const int length = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string text(static_cast<std::size_t>(std::max(length, 0)), '\0');
  std::vsnprintf(text.data(), text.size() + 1, format, again);
  va_end(again);
  return text;
}

bool is_ok(const Result<FetchResponse>& response) {
  return response && response->head.status >= 200 && response->head.status < 400;
}

}  // namespace fetchpool::bench
