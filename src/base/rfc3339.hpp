// Times written into records and reports: RFC 3339 in UTC with milliseconds,
// "2026-12-06T23:01:02.345Z". gmtime_r, not gmtime: workers stamp records
// concurrently and gmtime's result lives in one static buffer.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace fetchpool::detail {

inline std::string rfc3339(std::chrono::system_clock::time_point time) {
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  // Floor division, so a time before 1970 keeps its milliseconds in 0..999.
  auto seconds = millis / 1000;
  auto rest = millis % 1000;
  if (rest < 0) {
    rest += 1000;
    seconds -= 1;
  }
  const auto whole = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(rest));
  return text;
}

}  // namespace fetchpool::detail
