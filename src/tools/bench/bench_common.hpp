// What every part of the benchmark (runs, helper process, model, renderers)
// shares: its clock, printf-style text, and what counts as an ok fetch.
// Private to the benchmark component; benchmark.hpp is its public face.
#pragma once

#include <chrono>
#include <string>

#include "fetchpool/error.hpp"
#include "fetchpool/fetcher.hpp"

namespace fetchpool::bench {

using Clock = std::chrono::steady_clock;

std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));

// A 2xx or 3xx answer: RunSample's `ok`, in every mode alike.
bool is_ok(const Result<FetchResponse>& response);

}  // namespace fetchpool::bench
