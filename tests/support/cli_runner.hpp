// Runs the fetchpool CLI in-process with an argv, as a user would type it,
// and reads the records it wrote; ScratchDir (scratch_dir.hpp) comes along
// for the CLI tests.
#pragma once

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/scratch_dir.hpp"
#include "tools/cli/cli.hpp"

namespace fetchpool::testing {

inline int run_fetchpool(std::vector<std::string> args) {
  args.insert(args.begin(), "fetchpool");
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& arg : args) argv.push_back(arg.data());
  return cli::run_cli(static_cast<int>(argv.size()), argv.data());
}

// What a run printed on one descriptor: stderr by default (std::cerr and the
// spdlog logger both write to descriptor 2), or stdout (--help, records),
// pointed at a file for the run.
struct CliRun {
  int exit_code = 0;
  std::string output;  // what that descriptor got
};

inline CliRun run_fetchpool_capturing(std::vector<std::string> args, const std::filesystem::path& scratch,
                                      int descriptor = 2) {
  const auto file = scratch / "captured.txt";
  std::fflush(nullptr);
  std::cout.flush();
  std::cerr.flush();
  const int saved = ::dup(descriptor);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ::dup2(fd, descriptor);
  ::close(fd);
  CliRun run;
  run.exit_code = run_fetchpool(std::move(args));
  std::fflush(nullptr);
  std::cout.flush();
  std::cerr.flush();
  ::dup2(saved, descriptor);
  ::close(saved);
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  run.output = text.str();
  return run;
}

// A JSON Lines results file: each record by its URL (the last one wins).
inline std::map<std::string, nlohmann::json> records_by_url(const std::filesystem::path& results) {
  std::ifstream in(results);
  std::map<std::string, nlohmann::json> by_url;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    by_url[j["url"].get<std::string>()] = j;
  }
  return by_url;
}

// `fetchpool -q get URL -P DIR -t 1 -o DIR/results.jsonl` plus `extra`
// flags: one download into `dir`, its exit code and the URL's record.
class GetIntoDirectory {
 public:
  explicit GetIntoDirectory(std::filesystem::path dir) : dir_(std::move(dir)), results_(dir_ / "results.jsonl") {}
  std::pair<int, nlohmann::json> operator()(const std::string& url, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args{"-q", "get", url, "-P", dir_.string(), "-t", "1", "-o", results_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const int code = run_fetchpool(args);
    return {code, records_by_url(results_).at(url)};
  }

 private:
  std::filesystem::path dir_;
  std::filesystem::path results_;
};

}  // namespace fetchpool::testing
