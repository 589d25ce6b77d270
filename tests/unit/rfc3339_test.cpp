#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

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

TEST_CASE(
    "rfc3339: the hand-written digits agree with strftime and snprintf UTC with milliseconds, as strftime and snprintf "
    "would",
    "[rfc3339]") {
  for (const long long millis : {0LL, 999LL, 1000LL, 951782400123LL /* 2000-02-29 */, 1796601599999LL,
                                 4102444799999LL /* 2099-12-31T23:59:59.999 */}) {
    const system_clock::time_point time{milliseconds(millis)};
    const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
    char expected[48];
    std::snprintf(expected, sizeof expected, "%s.%03dZ", date, static_cast<int>(millis % 1000));
    INFO(millis);
    CHECK(rfc3339(time) == expected);
  }
}
