// `fetchpool get`: a list of URLs (arguments, a file or stdin) fetched in
// parallel, one record per input line, optionally saved as files (-P DIR).
#pragma once

#include <string>
#include <vector>

#include "fetchpool/config.hpp"
#include "tools/cli/common_flags.hpp"

namespace CLI {
class App;
}

namespace fetchpool::cli {

struct GetCommandOptions {
  std::string input_file;  // '-' = stdin
  std::vector<std::string> urls;
  CommonFlags flags;
  std::string download_dir;  // empty: bodies are not saved
  std::string checksum_file, manifest_file;
  bool resume = false;
  bool overwrite = false;
  bool no_clobber = false;
  bool head_only = false;
  bool content_disposition = false;
  bool force_directories = false;
  bool sha256 = false;  // hash every saved file (--checksums and --manifest hash anyway)
  bool parse_titles = false;
};

// Registers the subcommand and its flags on `app`; the values land in `options`.
CLI::App* add_get_command(CLI::App& app, GetCommandOptions& options);

// Runs the list fetch over `base` (the config file's settings). Exit codes as run_cli's.
int run_get(const GetCommandOptions& options, const Settings& base, bool quiet);

}  // namespace fetchpool::cli
