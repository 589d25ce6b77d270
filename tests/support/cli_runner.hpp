// Runs the fetchpool CLI in-process with an argv, as a user would type it,
// and gives each test a scratch directory that is removed when it ends.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "tools/cli/cli.hpp"

namespace fetchpool::testing {

inline int run_fetchpool(std::vector<std::string> args) {
  args.insert(args.begin(), "fetchpool");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  return cli::run_cli(static_cast<int>(argv.size()), argv.data());
}

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() / ("fetchpool-test-" + std::to_string(::getpid())) / name) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
    std::filesystem::remove(path_.parent_path(), ignored);  // only succeeds once the last test's dir is gone
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace fetchpool::testing
