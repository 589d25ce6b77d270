#include <catch2/catch.hpp>

#include <chrono>

#include "base/rfc3339.hpp"

using fetchpool::detail::rfc3339;
using std::chrono::milliseconds;
using std::chrono::system_clock;

TEST_CASE("rfc3339: UTC with milliseconds, zero-padded", "[rfc3339]") {
  CHECK(rfc3339(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  CHECK(rfc3339(system_clock::time_point{milliseconds(1'796'598'062'345)}) == "2026-12-06T23:01:02.345Z");
  CHECK(rfc3339(system_clock::time_point{milliseconds(951'782'400'007)}) == "2000-02-29T00:00:00.007Z");
  // Before 1970 the milliseconds still count forward from the whole second.
  CHECK(rfc3339(system_clock::time_point{milliseconds(-1)}) == "1969-12-31T23:59:59.999Z");
}
