// The engine set up as the integration tests use it: a CrawlEngine writing
// into a MemorySink, fed a list (lines 1..n) or one crawl seed, run to its
// end.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fetchpool/engine.hpp"
#include "fetchpool/sinks.hpp"

namespace fetchpool::testing {

// A crawl of the whole site: links followed at any depth, robots.txt first,
// no retries, the default scope.
inline EngineOptions crawl_options(std::uint32_t workers) {
  EngineOptions o;
  o.workers = workers;
  o.follow_links = true;
  o.robots = true;
  o.frontier.robots_first = true;
  o.frontier.max_depth = 1'000'000;
  o.retry.max_retries = 0;
  o.scope = ScopeOptions{};
  return o;
}

// Seeds `engine` with `seed` and runs it to its end (not stopped).
inline RunSummary crawl_to_end(CrawlEngine& engine, const std::string& seed) {
  REQUIRE(engine.set_seeds({seed}).ok());
  engine.start();
  engine.add(seed, 0);
  engine.finish_input();
  auto summary = engine.wait();
  CHECK_FALSE(summary.interrupted);
  return summary;
}

// A crawl from `seed` into a MemorySink: its records.
inline std::vector<ResultRecord> crawl(const std::string& seed, EngineOptions options) {
  MemorySink sink;
  CrawlEngine engine(std::move(options), sink);
  const auto summary = crawl_to_end(engine, seed);
  CHECK(summary.records == sink.size());
  return sink.records();
}

// `base` + each of `paths`: a list's lines.
inline std::vector<std::string> urls_of(const std::string& base, const std::vector<std::string>& paths) {
  std::vector<std::string> urls;
  urls.reserve(paths.size());
  for (const auto& path : paths) urls.push_back(base + path);
  return urls;
}

struct ListRun {
  RunSummary summary;
  std::vector<ResultRecord> records;

  // The records by input line; a line with two records is a failed check.
  std::map<std::uint64_t, ResultRecord> by_line() const {
    std::map<std::uint64_t, ResultRecord> lines;
    for (const auto& record : records) {
      CHECK(lines.count(record.line) == 0);
      lines[record.line] = record;
    }
    return lines;
  }
};

// `urls` as the list's lines 1..n, run to the end into a MemorySink.
inline ListRun run_list(EngineOptions options, const std::vector<std::string>& urls) {
  MemorySink sink;
  CrawlEngine engine(std::move(options), sink);
  engine.start();
  std::uint64_t line = 0;
  for (const auto& url : urls) engine.add(url, ++line);
  engine.finish_input();
  ListRun run{engine.wait(), {}};
  run.records = sink.records();
  return run;
}

}  // namespace fetchpool::testing
