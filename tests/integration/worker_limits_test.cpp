// The real `fetchpool` binary under a small open-files limit: `-j` larger
// than the limit can carry runs with the workers that fit, warns once, says
// so in --stats-json, and every URL still gets its record.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// fork + setrlimit(RLIMIT_NOFILE, soft = hard = `nofile`) + exec, with
// stderr to `stderr_path`: what `ulimit -n 256; fetchpool ...` does.
pid_t spawn_with_nofile(std::vector<std::string> args, rlim_t nofile, const std::string& stderr_path) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    const rlimit limit{nofile, nofile};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(120);
    const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err < 0 || ::dup2(err, STDERR_FILENO) < 0) ::_exit(121);
    ::execv(argv[0], argv.data());
    ::_exit(122);
  }
  return pid;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("get -j 1000 under ulimit -n 256 runs the workers that fit and records every URL", "[workers]") {
  fetchpool::ServerOptions options;
  options.site.pages = 2000;
  options.latency = 2ms;
  fetchpool::LocalServer server(options);
  const auto dir = fs::temp_directory_path() / ("fetchpool-limits-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto list = dir / "urls.txt";
  std::set<std::string> expected;
  {
    std::ofstream out(list);
    for (const auto& path : fetchpool::site_page_paths(options.site)) {
      expected.insert(server.base_url() + path);
      out << server.base_url() + path << "\n";
    }
  }
  REQUIRE(expected.size() == 2000);
  const auto results = dir / "results.jsonl";
  const auto stats = dir / "stats.json";
  const auto errors = dir / "stderr.txt";
  const pid_t pid = spawn_with_nofile({FETCHPOOL_BINARY, "-q", "get", "-i", list.string(), "-j", "1000", "--per-host",
                                       "0", "--results", results.string(), "--stats-json", stats.string()},
                                      256, errors.string());
  const int code = fetchpool::testing::wait_exit(pid, 120s);
  const std::string err = read_all(errors);
  INFO("stderr: " << err);
  CHECK(code == 0);  // documented: fewer workers is not a failure

  std::set<std::string> urls;
  std::size_t lines = 0;
  std::ifstream in(results);
  for (std::string line; std::getline(in, line);) {
    ++lines;
    const auto record = nlohmann::json::parse(line);
    CHECK(record["ok"].get<bool>());
    urls.insert(record["url"].get<std::string>());
  }
  CHECK(lines == 2000);
  CHECK(urls == expected);

  // One warning line, naming the limit.
  std::size_t warnings = 0;
  std::istringstream err_lines(err);
  for (std::string line; std::getline(err_lines, line);) {
    if (line.find("fewer workers than -j 1000") != std::string::npos) {
      ++warnings;
      CHECK(line.find("RLIMIT_NOFILE") != std::string::npos);
      CHECK(line.find("256") != std::string::npos);
    }
  }
  CHECK(warnings == 1);

  const auto json = nlohmann::json::parse(read_all(stats));
  const auto& workers = json.at("workers");
  CHECK(workers.at("requested").get<int>() == 1000);
  const int started = workers.at("started").get<int>();
  CHECK(started >= 1);
  CHECK(started < 256 / 4);
  CHECK(workers.at("limited_by").get<std::string>().find("RLIMIT_NOFILE") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("a -j the limit carries reports no limit", "[workers]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  const auto dir = fs::temp_directory_path() / ("fetchpool-limits-ok-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto stats = dir / "stats.json";
  const auto errors = dir / "stderr.txt";
  const pid_t pid = spawn_with_nofile({FETCHPOOL_BINARY, "-q", "get", server.base_url() + "/s/0/1.html", "-j", "8",
                                       "--results", (dir / "results.jsonl").string(), "--stats-json", stats.string()},
                                      256, errors.string());
  CHECK(fetchpool::testing::wait_exit(pid, 60s) == 0);
  const std::string err = read_all(errors);
  INFO("stderr: " << err);
  CHECK(err.find("fewer workers") == std::string::npos);
  const auto workers = nlohmann::json::parse(read_all(stats)).at("workers");
  CHECK(workers.at("requested").get<int>() == 8);
  CHECK(workers.at("started").get<int>() <= 2);  // one URL: one worker, one more at most (see engine_test)
  CHECK(workers.at("limited_by").is_null());
  fs::remove_all(dir);
}
