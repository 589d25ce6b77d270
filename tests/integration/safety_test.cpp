// Process and file-system safety of the real `fetchpool` binary: every
// termination signal, a reader on a pipe that stays open, a second signal,
// a closed stdout, symbolic links planted in the output and state
// directories, the run's own file names, unwritable and full outputs, and
// numeric options out of range. Real processes, real signals, real files.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): kill() is POSIX, <csignal> is only C
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/scratch_dir.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using fetchpool::testing::ScratchDir;
using fetchpool::testing::spawn;
using fetchpool::testing::spawn_with_fds;
using fetchpool::testing::wait_exit;

namespace {

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

// Every line of a JSONL file, each checked to be a whole JSON object: the
// file must end with a newline (no torn last record).
std::vector<nlohmann::json> whole_records(const fs::path& file) {
  const std::string text = slurp(file);
  CHECK((text.empty() || text.back() == '\n'));
  std::vector<nlohmann::json> records;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    INFO(line);
    REQUIRE_FALSE(record.is_discarded());
    records.push_back(std::move(record));
  }
  return records;
}

// Polls `done` every 10 ms for at most 60 s (the machine is shared; slow under
// sanitizers); returns its last answer.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string list_of_pages(const fetchpool::LocalServer& server, int count) {
  std::string list;
  for (int i = 0; i < count; ++i) list += server.base_url() + "/s/0/" + std::to_string(i) + ".html\n";
  return list;
}

struct Pipe {
  int read = -1;
  int write = -1;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_read() {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void close_write() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

int run(std::vector<std::string> args, const fs::path& stderr_path) {
  return wait_exit(spawn_with_fds(std::move(args), -1, -1, stderr_path.string()), 120s);
}

}  // namespace

TEST_CASE("SIGINT, SIGTERM, SIGHUP and SIGQUIT all stop a crawl the same way", "[safety][signals]") {
  const int signal = GENERATE(SIGINT, SIGTERM, SIGHUP, SIGQUIT);
  INFO("signal " << signal);
  fetchpool::ServerOptions options;
  options.site.pages = 20000;
  options.latency = 50ms;
  fetchpool::LocalServer server(options);
  ScratchDir dir("signal-" + std::to_string(signal));
  const auto results = dir.path() / "results.jsonl";
  const auto stats = dir.path() / "stats.json";
  const pid_t pid = spawn({FETCHPOOL_BINARY, "-q", "crawl", server.base_url() + "/", "-j", "16", "--per-host", "16",
                           "--depth", "1000", "-o", results.string(), "--stats-json", stats.string()});
  REQUIRE(eventually([&] { return server.counters().requests >= 100; }));
  ::kill(pid, signal);
  CHECK(wait_exit(pid, 60s) == 3);
  const auto records = whole_records(results);
  CHECK(records.size() > 16);
  CHECK(records.size() < 20000);
  // The stats were written as for any stop.
  CHECK(nlohmann::json::parse(slurp(stats), nullptr, false).is_object());
}

TEST_CASE("get -i - on a pipe that stays open stops on SIGINT", "[safety][signals]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  ScratchDir dir("stdin");
  const auto results = dir.path() / "results.jsonl";
  Pipe input;
  const std::string list = list_of_pages(server, 20);
  REQUIRE(::write(input.write, list.data(), list.size()) == static_cast<ssize_t>(list.size()));
  const pid_t pid = spawn_with_fds({FETCHPOOL_BINARY, "-q", "get", "-i", "-", "-j", "4", "--results", results.string()},
                                   input.read, -1);
  input.close_read();
  // Every line is fetched; the process then waits for more input, which never
  // comes: the write end stays open until the test ends.
  REQUIRE(eventually([&] { return server.counters().requests >= 20; }));
  ::kill(pid, SIGINT);
  // Without the stop reaching the reader this would wait for EOF forever (-1).
  CHECK(wait_exit(pid, 60s) == 3);
  CHECK(whole_records(results).size() == 20);
}

TEST_CASE("a second signal ends the run at once with whole records only", "[safety][signals]") {
  fetchpool::ServerOptions options;
  options.threads = 2;
  fetchpool::LocalServer server(options);
  ScratchDir dir("second");
  const auto results = dir.path() / "results.jsonl";
  const auto list = dir.path() / "list.txt";
  write_file(list, list_of_pages(server, 50000));
  const pid_t pid =
      spawn({FETCHPOOL_BINARY, "-q", "get", "-i", list.string(), "-j", "8", "--results", results.string()});
  // Records are being written: a few 64 KiB rounds have reached the file.
  REQUIRE(eventually([&] {
    std::error_code ec;
    return fs::file_size(results, ec) > std::uintmax_t{200} * 1024 && !ec;
  }));
  ::kill(pid, SIGTERM);
  ::kill(pid, SIGTERM);
  const int code = wait_exit(pid, 60s);
  CHECK((code == 128 + SIGTERM || code == 3));  // 3 when the first stop already finished the run
  const auto records = whole_records(results);
  CHECK(records.size() > 100);
  CHECK(records.size() < 50000);
}

TEST_CASE("a closed stdout stops the run with exit 4 after the stats, manifest and journal are written",
          "[safety][pipe]") {
  fetchpool::ServerOptions options;
  options.latency = 10ms;
  fetchpool::LocalServer server(options);
  ScratchDir dir("epipe");
  const auto list = dir.path() / "list.txt";
  constexpr int kUrls = 3000;
  write_file(list, list_of_pages(server, kUrls));
  const auto stats = dir.path() / "stats.json";
  const auto manifest = dir.path() / "SHA256SUMS";
  const auto state = dir.path() / "state";
  const auto err = dir.path() / "stderr.txt";
  Pipe out;
  out.close_read();  // `| head -1` has exited
  const pid_t pid = spawn_with_fds({FETCHPOOL_BINARY, "get", "-i", list.string(), "-j", "4", "--results", "-", "-P",
                                    (dir.path() / "files").string(), "--manifest", manifest.string(), "--stats-json",
                                    stats.string(), "--state", state.string(), "--progress", "none"},
                                   -1, out.write, err.string());
  out.close_write();
  const int code = wait_exit(pid, 120s);
  INFO(slurp(err));
  CHECK(code == 4);  // not 141: SIGPIPE is ignored and EPIPE handled
  CHECK_THAT(slurp(err), Catch::Contains("cannot write results"));
  const auto json = nlohmann::json::parse(slurp(stats), nullptr, false);
  REQUIRE(json.is_object());
  CHECK(fs::exists(manifest));
  CHECK(slurp(state / "journal").rfind("fetchpool-state 1 get", 0) == 0);
  // Stopped early rather than fetching the whole list for nothing.
  CHECK(server.counters().requests < static_cast<std::uint64_t>(kUrls));
}

TEST_CASE("a symbolic link planted in the output directory is an io error, never followed", "[safety][symlink]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  ScratchDir dir("symlink");
  const auto outside = dir.path() / "outside";
  fs::create_directories(outside);
  const auto victim = outside / "victim";
  const auto files = dir.path() / "files";
  fs::create_directories(files);
  const auto results = dir.path() / "results.jsonl";
  const auto err = dir.path() / "stderr.txt";
  const std::string url = server.base_url() + "/bytes/100";

  struct Case {
    std::string planted;
    std::vector<std::string> flags;
  };
  const std::vector<Case> cases{
      {"100.part", {"--overwrite"}},       // wget's O_TRUNC on a link would overwrite the victim
      {"100.part", {"--continue"}},        // a resume would append server bytes to it
      {"100.part.meta.tmp", {}},           // the ETag would be written to it
      {"100.part.meta", {"--overwrite"}},  // a later resume would send the victim's first line as If-Range
  };
  for (const auto& c : cases) {
    INFO(c.planted << " " << (c.flags.empty() ? "" : c.flags.front()));
    fs::remove_all(files);
    fs::create_directories(files);
    write_file(victim, "precious\n");
    fs::create_symlink(victim, files / c.planted);
    std::vector<std::string> args{FETCHPOOL_BINARY, "-q",        "get",           url, "-P",
                                  files.string(),   "--results", results.string()};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const int code = run(args, err);
    CHECK(slurp(victim) == "precious\n");
    CHECK(fs::is_symlink(files / c.planted));
    const auto records = whole_records(results);
    REQUIRE(records.size() == 1);
    INFO(records[0].dump());
    CHECK(code == 1);
    CHECK(records[0]["error"]["class"] == "io");
    CHECK_THAT(records[0]["error"]["message"].get<std::string>(), Catch::Contains("symbolic link"));
    CHECK_FALSE(fs::exists(files / "100"));
  }

  SECTION("the run's own files in the output and state directories") {
    write_file(victim, "precious\n");
    fs::remove_all(files);
    fs::create_directories(files);
    fs::create_symlink(victim, files / "fetchpool-results.jsonl");
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "-P", files.string()}, err) == 2);
    CHECK_THAT(slurp(err), Catch::Contains("symbolic link"));
    // Checked by the open itself: a FIFO planted there (no reader) neither
    // blocks the run nor takes its records.
    fs::remove(files / "fetchpool-results.jsonl");
    REQUIRE(::mkfifo((files / "fetchpool-results.jsonl").c_str(), 0600) == 0);
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "-P", files.string()}, err) == 2);
    CHECK_THAT(slurp(err), Catch::Contains("not a regular file"));
    CHECK(fs::is_fifo(files / "fetchpool-results.jsonl"));
    const auto state = dir.path() / "state";
    fs::create_directories(state);
    fs::create_symlink(victim, state / "journal");
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "--results", results.string(), "--state", state.string()}, err) ==
          2);
    CHECK_THAT(slurp(err), Catch::Contains("symbolic link"));
    const auto db = dir.path() / "results.db";
    fs::create_symlink(victim, dir.path() / "results.db-wal");
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "--format", "sqlite", "--results", db.string()}, err) == 2);
    CHECK_THAT(slurp(err), Catch::Contains("symbolic link"));
    CHECK(slurp(victim) == "precious\n");
  }
}

TEST_CASE("a download never takes the name of the run's own files, --overwrite or not", "[safety][reserved]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  ScratchDir dir("reserved");
  const auto files = dir.path() / "files";
  const auto err = dir.path() / "stderr.txt";
  const bool overwrite = GENERATE(false, true);
  INFO("--overwrite " << overwrite);
  std::vector<std::string> args{FETCHPOOL_BINARY,
                                "-q",
                                "get",
                                "--content-disposition",
                                "-P",
                                files.string(),
                                "--state",
                                files.string(),
                                "--stats-json",
                                (files / "stats.json").string(),
                                "--manifest",
                                (files / "SHA256SUMS").string()};
  if (overwrite) args.emplace_back("--overwrite");
  for (const char* name : {"fetchpool-results.jsonl", "journal", "stats.json", "SHA256SUMS"})
    args.push_back(server.base_url() + "/filename?name=" + name);
  CHECK(run(args, err) == 0);
  const auto records = whole_records(files / "fetchpool-results.jsonl");
  REQUIRE(records.size() == 4);
  std::set<std::string> paths;
  for (const auto& record : records) paths.insert(record["path"].get<std::string>());
  CHECK(paths == std::set<std::string>{"fetchpool-results.jsonl.1", "journal.1", "stats.json.1", "SHA256SUMS.1"});
  CHECK(slurp(files / "journal").rfind("fetchpool-state 1 get", 0) == 0);
  CHECK(nlohmann::json::parse(slurp(files / "stats.json"), nullptr, false).is_object());
  CHECK_THAT(slurp(files / "SHA256SUMS"), Catch::Contains("stats.json.1"));

  SECTION("SQLite's side files too") {
    const auto db = files / "results.db";
    std::vector<std::string> sqlite_args{
        FETCHPOOL_BINARY, "-q",        "get",      "--content-disposition", "-P", files.string(), "--format",
        "sqlite",         "--results", db.string()};
    if (overwrite) sqlite_args.emplace_back("--overwrite");
    for (const char* name : {"results.db", "results.db-wal", "results.db-shm", "results.db-journal"})
      sqlite_args.push_back(server.base_url() + "/filename?name=" + name);
    CHECK(run(sqlite_args, err) == 0);
    for (const char* name : {"results.db.1", "results.db-wal.1", "results.db-shm.1", "results.db-journal.1"}) {
      INFO(name);
      CHECK(fs::exists(files / name));
    }
  }
}

TEST_CASE("outputs are checked before the first request and their write errors end in a non-zero exit",
          "[safety][outputs]") {
  fetchpool::LocalServer server(fetchpool::ServerOptions{});
  ScratchDir dir("outputs");
  const auto err = dir.path() / "stderr.txt";
  const std::string url = server.base_url() + "/s/0/1.html";

  SECTION("an unwritable --stats-json or --manifest is found at start") {
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "--results", "/dev/null", "--stats-json",
               (dir.path() / "missing" / "stats.json").string()},
              err) == 2);
    CHECK_THAT(slurp(err), Catch::Contains("--stats-json"));
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "-P", (dir.path() / "files").string(), "--manifest",
               (dir.path() / "missing" / "SHA256SUMS").string()},
              err) == 2);
    CHECK_THAT(slurp(err), Catch::Contains("--manifest"));
    CHECK(server.counters().requests == 0);
  }

  SECTION("results on a full device") {
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "--results", "/dev/full"}, err) == 4);
    CHECK_THAT(slurp(err), Catch::Contains("No space left on device"));
  }

  SECTION("stats JSON past the file-size limit (a full disk for that file)") {
    // RLIMIT_FSIZE of 0 bytes, SIGXFSZ ignored: write(2) fails with EFBIG
    // as it fails with ENOSPC on a full disk, without needing a mount.
    const auto stats = dir.path() / "stats.json";
    const std::string command = "trap '' XFSZ; ulimit -f 0; exec " + std::string(FETCHPOOL_BINARY) + " -q get " + url +
                                " --results /dev/null --stats-json " + stats.string();
    // Its stderr is a pipe: the limit would make writes to a file fail too.
    Pipe errors;
    const pid_t pid = spawn_with_fds({"/bin/sh", "-c", command}, -1, -1, {}, errors.write);
    errors.close_write();
    CHECK(wait_exit(pid, 120s) == 4);
    std::string text(4096, '\0');
    const ssize_t n = ::read(errors.read, text.data(), text.size());
    text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    CHECK_THAT(text, Catch::Contains(stats.string() + ": cannot write: File too large"));
    CHECK_FALSE(fs::exists(stats));  // no partial file left behind
  }

  SECTION("negative counts are refused at parse time, not wrapped to 2^64 - 1") {
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "--results", "/dev/null", "--max-body", "-1"}, err) == 2);
    CHECK_THAT(slurp(err), Catch::Contains("negative"));
    CHECK(run({FETCHPOOL_BINARY, "-q", "crawl", url, "-o", "/dev/null", "--max-pages", "-1"}, err) == 2);
    CHECK_THAT(slurp(err), Catch::Contains("negative"));
    CHECK(server.counters().requests == 0);
  }

  SECTION("timeouts out of range are refused at parse time, not wrapped") {
    for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{{"-T", "4294968"},
                                                                                       {"-T", "nan"},
                                                                                       {"-T", "-1"},
                                                                                       {"--connect-timeout", "0"},
                                                                                       {"--connect-timeout", "1e10"}}) {
      INFO(flags[0] << " " << flags[1]);
      CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "--results", "/dev/null", flags[0], flags[1]}, err) == 2);
      CHECK_THAT(slurp(err), Catch::Contains(flags[1]));
    }
    CHECK(server.counters().requests == 0);
    CHECK(run({FETCHPOOL_BINARY, "-q", "get", url, "--results", "/dev/null", "-T", "4294967"}, err) == 0);
  }
}
