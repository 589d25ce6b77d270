#include "tools/cli/get_command.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>

#include "base/unique_fd.hpp"
#include "fetchpool/download.hpp"
#include "fetchpool/engine.hpp"
#include "fetchpool/thread_annotations.hpp"
#include "tools/cli/aria2_list.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/cli/input_lines.hpp"
#include "tools/cli/run_engine.hpp"
#include "tools/cli/run_outputs.hpp"

namespace fetchpool::cli {
namespace {

namespace fs = std::filesystem;

// The -i list: stdin for "-", `file` opened on the path otherwise, and
// -1 without -i (only URL arguments).
Result<int> open_input_list(const std::string& path, detail::UniqueFd& file) {
  if (path == "-") return STDIN_FILENO;
  if (path.empty()) return -1;
  file.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return Error{ErrorCode::kConfig, path + ": cannot open input list: " + std::strerror(errno)};
  return file.get();
}

// -o DIR and the flags that shape it; fails when the --checksums list does not load.
Result<DownloadOptions> download_options(const GetCommandOptions& o, const Settings& s) {
  DownloadOptions download;
  download.directory = o.download_dir;
  download.resume = o.resume;
  download.clobber = o.resume || o.no_clobber ? ClobberPolicy::kSkipExisting
                     : o.overwrite            ? ClobberPolicy::kOverwrite
                                              : ClobberPolicy::kNoClobber;
  download.naming.content_disposition = o.content_disposition;
  download.naming.use_directories = o.force_directories;
  download.max_file_bytes = s.http.max_file_bytes;
  download.decode = s.http.decode_downloads;
  // SHA-256 costs as much CPU as the rest of a bulk download, so only when asked for.
  download.hash = o.sha256 || !o.checksum_file.empty() || !o.manifest_file.empty();
  if (!o.checksum_file.empty()) {
    auto sums = load_checksum_list(o.checksum_file);
    if (!sums) return std::move(sums).error();
    download.checksums = std::move(*sums);
  }
  return download;
}

// -o, else stdout, else (with -P) a results file inside the download directory.
std::string results_path_for(const GetCommandOptions& o, const std::string& format) {
  if (!o.flags.output.empty()) return o.flags.output;
  if (o.download_dir.empty()) return "-";
  return (fs::path(o.download_dir) / ("fetchpool-results." + std::string(format == "sqlite" ? "db" : format))).string();
}

// aria2-style option lines: indented "key=value" lines after a URL apply to
// that URL. Written by the reading thread before its URL is queued, read by
// the workers.
class LineOptionsTable {
 public:
  void put(std::uint64_t line, InputLineOptions options) {
    MutexLock lock(mutex_);
    table_[line] = std::move(options);
  }
  InputLineOptions get(std::uint64_t line) const {
    MutexLock lock(mutex_);
    const auto it = table_.find(line);
    return it == table_.end() ? InputLineOptions{} : it->second;
  }

 private:
  mutable Mutex mutex_;
  std::unordered_map<std::uint64_t, InputLineOptions> table_ FETCHPOOL_GUARDED_BY(mutex_);
};

// The list is streamed: lines are queued as they are read, while the
// workers already fetch, so a huge list never sits in memory twice. Blank
// lines and # comments are skipped but still count as lines; so do a URL's
// option lines, and the URL waits for them before it is queued. The URL
// arguments follow the list.
bool queue_list(CrawlEngine& engine, int in, int stop_fd, const GetCommandOptions& o, LineOptionsTable& table) {
  std::uint64_t line_number = 0;
  if (in >= 0) {
    InputLines lines(in, stop_fd);
    Aria2ListParser list(o.input_file,
                         [&](std::string_view url, std::uint64_t line, std::optional<InputLineOptions> options) {
                           if (options) table.put(line, std::move(*options));
                           engine.add(url, line);
                         });
    const auto next = list.read(lines);
    line_number = list.lines_read();
    if (next == InputLines::Next::kStopped) return true;  // the run is stopping: the rest is not read
    if (next == InputLines::Next::kError) {
      spdlog::error("{}: read error after line {}: {}", o.input_file, line_number, std::strerror(lines.error()));
      return false;
    }
  }
  for (const auto& url : o.urls) engine.add(url, ++line_number);
  return true;
}

}  // namespace

CLI::App* add_get_command(CLI::App& app, GetCommandOptions& o) {
  auto* get = app.add_subcommand("get", "Fetch a list of URLs in parallel (one record per input line)");
  get->add_option("-i,--input-file", o.input_file,
                  "File with one URL per line ('-' = stdin); blank lines and # comments skipped. As in aria2, indented "
                  "lines after a URL set options for it: out=NAME (file name in -P DIR), header=NAME: VALUE, "
                  "referer=URL");
  get->add_option("urls", o.urls, "URLs to fetch, in addition to --input-file");
  get->add_option("-P,--directory-prefix", o.download_dir,
                  "Save each body as a file in this directory (.part until complete and verified; wget's -P)");
  get->add_flag("--continue", o.resume,
                "Resume .part files left by an earlier run with Range requests; files already complete are skipped "
                "(wget's -c: here -c is --config)");
  auto* no_clobber =
      get->add_flag("--no-clobber", o.no_clobber,
                    "Skip URLs whose file already exists (wget's -nc) [default: save as name.1, name.2]");
  get->add_flag("--overwrite", o.overwrite, "Replace existing files instead of picking name.1, name.2")
      ->excludes(no_clobber);
  get->add_flag("-I,--head,--spider", o.head_only,
                "Send HEAD instead of GET: check that each URL answers, fetch no body (curl -I, wget --spider)");
  get->add_flag("--content-disposition", o.content_disposition,
                "Name files from the server's Content-Disposition header");
  get->add_flag("-x,--force-directories", o.force_directories,
                "Mirror host/path directories under the output directory");
  get->add_option("--checksums", o.checksum_file, "sha256sum-format list; files that do not match are not kept")
      ->check(CLI::ExistingFile);
  get->add_option("--manifest", o.manifest_file,
                  "Write a sha256sum-format manifest of every file saved (implies --sha256)");
  get->add_flag("--sha256", o.sha256,
                "SHA-256 of every file saved in its record's sha256 field (--checksums and --manifest imply it)");
  get->add_flag("--titles", o.parse_titles,
                "Parse HTML pages for their <title> and link count (costs CPU; off by default for get)");
  add_common_flags(*get, o.flags);
  return get;
}

namespace {

// One line for flags that cannot mean what they say together, or a path of
// the wrong kind (the results file naming a directory, -P naming a file).
std::optional<std::string> misuse(const GetCommandOptions& o) {
  std::error_code ec;
  if (o.input_file.empty() && o.urls.empty()) return "get: give URLs or -i FILE (see fetchpool get --help)";
  if (!o.flags.output.empty() && o.flags.output != "-" && fs::is_directory(o.flags.output, ec))
    return "get: -o '" + o.flags.output +
           "' is a directory: -o names the results file; save files into a directory with -P DIR";
  if (!o.download_dir.empty() && fs::exists(o.download_dir, ec) && !fs::is_directory(o.download_dir, ec))
    return "get: -P '" + o.download_dir + "' exists and is not a directory";
  if (o.head_only && !o.download_dir.empty())
    return "get: --spider/--head fetch no body, so -P saves nothing: drop one";
  const bool download_flags = o.resume || o.no_clobber || o.overwrite || o.content_disposition || o.force_directories ||
                              o.sha256 || !o.checksum_file.empty() || !o.manifest_file.empty();
  if (download_flags && o.download_dir.empty())
    return "get: --continue, --no-clobber, --overwrite, --content-disposition, -x, --sha256, --checksums and "
           "--manifest "
           "act on saved files: add -P DIR";
  return std::nullopt;
}

}  // namespace

int run_get(const GetCommandOptions& o, const Settings& base, bool quiet) {
  Settings s = base;
  apply_common_flags(o.flags, s, /*crawl=*/false);
  if (const auto wrong = misuse(o)) return fail(*wrong, kExitUsage);
  if (auto status = check_status(RunStatus{o.flags.status, o.flags.status_token}); !status)
    return fail(status.error().message, kExitUsage);
  detail::UniqueFd file;
  auto in = open_input_list(o.input_file, file);
  if (!in) return fail(in.error().message, kExitUsage);
  auto options = engine_options(s, false);
  auto line_options = std::make_shared<LineOptionsTable>();
  options.line_options = [line_options](std::uint64_t line) { return line_options->get(line); };
  if (auto http = apply_http_flags(o.flags.http, options); !http) return fail(http.error().message, kExitUsage);
  options.fetch.head_only = o.head_only;
  options.parse_html = o.parse_titles;
  if (!o.download_dir.empty()) {
    auto download = download_options(o, s);
    if (!download) return fail(download.error().message, kExitUsage);
    options.download = std::move(*download);
  }
  const std::string results_path = results_path_for(o, s.output.format);
  // The default results file lies in the output directory, where anyone who
  // could write there may have planted a link to a file elsewhere, or a FIFO.
  const ResultsPath results_kind =
      o.flags.output.empty() && !o.download_dir.empty() ? ResultsPath::kOwnName : ResultsPath::kAsGiven;
  if (options.download)
    options.download->reserved =
        own_files(results_path, s.output.format, s.output.stats_json, o.manifest_file, o.flags.state_dir);
  if (!o.download_dir.empty()) {
    std::error_code ec;
    fs::create_directories(o.download_dir, ec);
    if (ec) return fail(o.download_dir + ": cannot create output directory: " + ec.message(), kExitUsage);
  }
  auto outputs = open_outputs(o.flags, "get", s.output.format, results_path, results_kind);
  if (!outputs) return fail(outputs.error().message, kExitUsage);
  ResultSink& out = (*outputs)->records();
  options.state = (*outputs)->journal.get();
  if (auto warc = open_warc(**outputs, s); !warc) return fail(warc.error().message, kExitUsage);
  options.exchanges = (*outputs)->warc.get();
  CrawlEngine engine(options, out);
  if (auto prepared = engine.prepare(); !prepared) return fail(prepared.error().message, kExitUsage);
  return run_engine(
      engine, out, *(*outputs)->outcomes, s, quiet ? "none" : o.flags.progress, "get",
      [&o, list = *in, line_options](CrawlEngine& e, int stop_fd) {
        return queue_list(e, list, stop_fd, o, *line_options);
      },
      RunFiles{o.manifest_file, o.download_dir, o.flags.http.cookie_jar, (*outputs)->sink.get(),
               (*outputs)->warc.get()},
      RunStatus{o.flags.status, o.flags.status_token});
}

}  // namespace fetchpool::cli
