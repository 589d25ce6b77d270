#include "fetchpool/state_journal.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigset_t, not in <csignal>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>

#include "base/json_text.hpp"
#include "base/termination_signals_blocked.hpp"
#include "base/unique_fd.hpp"

namespace fetchpool {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "fetchpool-state";
constexpr int kFormatVersion = 1;

std::uint64_t url_key(std::string_view url) { return std::hash<std::string_view>{}(url); }

// Which redirect chain an item belongs to: its input line, else its chain's first URL.
std::pair<bool, std::uint64_t> chain_key(const CrawlItem& item) {
  if (item.origin != 0) return {true, item.origin};
  return {false, url_key(item.redirects > 0 ? item.chain_start : item.url)};
}

bool contains(const std::vector<std::uint64_t>& sorted, std::uint64_t value) {
  return std::binary_search(sorted.begin(), sorted.end(), value);
}

void sort_unique(std::vector<std::uint64_t>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  values.shrink_to_fit();
}

std::optional<ErrorCode> error_code_named(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    if (to_string(code) == name) return code;
  }
  return std::nullopt;
}

// Reads the JSON string literal starting at text[pos] into `out`; returns the
// position after its closing quote. Handles the escapes append_json_string_bytes and
// to_json_line write; anything else (\u above 0x7f) is nullopt, and the
// caller falls back to a full JSON parser.
std::optional<std::size_t> read_quoted(std::string_view text, std::size_t pos, std::string& out) {
  out.clear();
  if (pos >= text.size() || text[pos] != '"') return std::nullopt;
  for (std::size_t i = pos + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') return i + 1;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= text.size()) return std::nullopt;
    switch (text[i]) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        unsigned value = 0;
        if (i + 4 >= text.size()) return std::nullopt;
        const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 5, value, 16);
        if (ec != std::errc() || end != text.data() + i + 5 || value > 0x7f) return std::nullopt;
        out.push_back(static_cast<char>(value));
        i += 4;
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> read_number(std::string_view text, std::size_t& pos) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), value);
  if (ec != std::errc()) return std::nullopt;
  pos = static_cast<std::size_t>(end - text.data());
  return value;
}

// A Q payload: `<depth> <origin> "url" "referrer"`, then ` <redirects>
// "chain_start"` for a redirect hop.
std::optional<CrawlItem> parse_item(std::string_view text) {
  CrawlItem item;
  std::size_t pos = 0;
  const auto depth = read_number(text, pos);
  if (!depth || *depth > UINT32_MAX || pos >= text.size() || text[pos++] != ' ') return std::nullopt;
  const auto origin = read_number(text, pos);
  if (!origin || pos >= text.size() || text[pos++] != ' ') return std::nullopt;
  auto end = read_quoted(text, pos, item.url);
  if (!end || item.url.empty() || *end >= text.size() || text[*end] != ' ') return std::nullopt;
  end = read_quoted(text, *end + 1, item.referrer);
  if (!end) return std::nullopt;
  if (*end != text.size()) {
    pos = *end;
    if (text[pos++] != ' ') return std::nullopt;
    const auto redirects = read_number(text, pos);
    if (!redirects || *redirects == 0 || *redirects > UINT32_MAX || pos >= text.size() || text[pos++] != ' ')
      return std::nullopt;
    end = read_quoted(text, pos, item.chain_start);
    if (!end || *end != text.size() || item.chain_start.empty()) return std::nullopt;
    item.redirects = static_cast<std::uint32_t>(*redirects);
  }
  item.depth = static_cast<std::uint32_t>(*depth);
  item.origin = *origin;
  return item;
}

// Records that stand for a URL the frontier accepted, so a rerun must treat
// the URL as seen. The others (bad input text, duplicates, the page limit)
// were never queued and must not count toward max_pages.
bool was_queued(ErrorCode error) {
  switch (error) {
    case ErrorCode::kInvalidUrl:
    case ErrorCode::kUnsupportedScheme:
    case ErrorCode::kDuplicate:
    case ErrorCode::kOutOfScope:
      return false;
    default:
      return true;
  }
}

// What resuming needs of an R line without building the whole record.
struct RecordKey {
  std::string url;
  std::uint64_t line = 0;
  ErrorCode error = ErrorCode::kOk;
};

// Fast path for the layout to_json_line writes ({"url":..., "line":...,
// ..., "error":null|{"class":...}...}); a JSON string cannot hold an
// unescaped `,"error":`, so the first one found is the key. Anything else
// goes through the full parser.
std::optional<RecordKey> parse_record_key(std::string_view json) {
  constexpr std::string_view kUrl = "{\"url\":", kLine = ",\"line\":", kError = ",\"error\":", kClass = "{\"class\":";
  RecordKey key;
  const bool fast = [&] {
    if (json.size() < kUrl.size() + 2 || json.substr(0, kUrl.size()) != kUrl || json.back() != '}') return false;
    auto pos = read_quoted(json, kUrl.size(), key.url);
    if (!pos) return false;
    if (json.substr(*pos, kLine.size()) == kLine) {
      std::size_t at = *pos + kLine.size();
      const auto line = read_number(json, at);
      if (!line) return false;
      key.line = *line;
    }
    const auto error = json.find(kError, *pos);
    if (error == std::string_view::npos) return false;
    const auto value = json.substr(error + kError.size());
    if (value.substr(0, 4) == "null") return true;
    if (value.substr(0, kClass.size()) != kClass) return false;
    std::string name;
    if (!read_quoted(value, kClass.size(), name)) return false;
    const auto code = error_code_named(name);
    if (!code) return false;
    key.error = *code;
    return true;
  }();
  if (fast) return key;
  auto record = record_from_json_line(json);
  if (!record) return std::nullopt;
  return RecordKey{record->url, record->line, record->error};
}

// Reads the journal line by line, with each line's byte offset and whether
// it ended in a newline (a line without one is torn).
class LineReader {
 public:
  explicit LineReader(const fs::path& path) : in_(path, std::ios::binary) {}
  bool good() const { return in_.is_open(); }
  bool next() {
    offset_ = next_offset_;
    if (!std::getline(in_, line_)) return false;
    complete_ = !in_.eof();
    next_offset_ = offset_ + line_.size() + (complete_ ? 1 : 0);
    ++number_;
    return true;
  }
  const std::string& line() const { return line_; }
  bool complete() const { return complete_; }
  std::uint64_t offset() const { return offset_; }
  std::uint64_t number() const { return number_; }

 private:
  std::ifstream in_;
  std::string line_;
  bool complete_ = false;
  std::uint64_t offset_ = 0;
  std::uint64_t next_offset_ = 0;
  std::uint64_t number_ = 0;
};

}  // namespace

Result<ResultRecord> record_from_json_line(std::string_view text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object() || !json.contains("url") || !json["url"].is_string())
    return Error{ErrorCode::kConfig, "not a result record"};
  try {
    // Missing and null (unknown, see to_json_line) both read as the default.
    auto get = [&json]<typename T>(const char* key, T fallback) {
      const auto it = json.find(key);
      return it == json.end() || it->is_null() ? fallback : it->template get<T>();
    };
    ResultRecord r;
    r.url = json["url"].get<std::string>();
    r.line = get("line", std::uint64_t{0});
    r.depth = get("depth", std::uint32_t{0});
    r.referrer = get("referrer", std::string{});
    r.final_url = get("final_url", std::string{});
    r.redirects = get("redirects", std::uint32_t{0});
    r.status = get("status", 0L);
    r.content_type = get("content_type", std::string{});
    r.bytes = get("bytes", std::uint64_t{0});
    r.elapsed_ms = get("elapsed_ms", 0.0);
    // to_json_line writes both as null only for a body not parsed.
    r.parsed = json.contains("title") && !json["title"].is_null() && json.contains("links") && !json["links"].is_null();
    r.title = get("title", std::string{});
    r.links = get("links", std::uint32_t{0});
    r.attempts = get("attempts", std::uint32_t{0});
    r.path = get("path", std::string{});
    r.sha256 = get("sha256", std::string{});
    r.fetched_at = get("fetched_at", std::string{});
    r.lastmod = get("lastmod", std::string{});
    if (const auto it = json.find("error"); it != json.end() && !it->is_null()) {
      const auto name = it->value("class", std::string{});
      const auto code = error_code_named(name);
      if (!code) return Error{ErrorCode::kConfig, "unknown error class '" + name + "'"};
      r.error = *code;
      r.error_message = it->value("message", std::string{});
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Error{ErrorCode::kConfig, std::string("malformed result record: ") + e.what()};
  }
}

StateJournal::StateJournal(fs::path path, int fd, ResultSink& results, StateOptions options)
    : path_(std::move(path)), fd_(fd), results_(results), options_(options) {}

Result<std::unique_ptr<StateJournal>> StateJournal::open(const fs::path& dir, std::string_view command,
                                                         ResultSink& results, StateOptions options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error{ErrorCode::kIo, dir.string() + ": cannot create state directory: " + ec.message()};
  auto path = dir / "journal";
  // Never through a symbolic link: one planted as DIR/journal would make the
  // run append to (and truncate a torn tail of) a file elsewhere.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    return Error{ErrorCode::kIo, path.string() + ": cannot open state journal: " +
                                     (error == ELOOP ? "it is a symbolic link; not followed" : std::strerror(error))};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{ErrorCode::kIo, path.string() + ": cannot open state journal: not a regular file"};
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return Error{ErrorCode::kIo, path.string() + ": in use by another fetchpool run"};
    return Error{ErrorCode::kIo, path.string() + ": cannot lock state journal: " + std::strerror(err)};
  }
  std::unique_ptr<StateJournal> journal(new StateJournal(std::move(path), fd, results, options));
  if (auto loaded = journal->load(command); !loaded) return std::move(loaded).error();
  const detail::TerminationSignalsBlocked no_signals;  // the flusher inherits the mask
  journal->flusher_ = std::jthread([self = journal.get()](std::stop_token stop) { self->flusher_main(stop); });
  return journal;
}

StateJournal::~StateJournal() {
  if (flusher_.joinable()) {
    flusher_.request_stop();
    flusher_.join();
  }
  sync_round();
  ::close(fd_);
}

// Pass 1: checks the header, finds a torn tail and builds the done and known
// sets. Pending items are not kept: restore() streams them.
Result<void> StateJournal::load(std::string_view command) {
  const std::string where = path_.string() + ": ";
  LineReader reader(path_);
  if (!reader.good()) return Error{ErrorCode::kIo, where + "cannot read state journal: " + std::strerror(errno)};
  std::optional<std::uint64_t> cut;  // offset to truncate at
  std::uint64_t bad_line = 0;        // first bad line, when it may be corruption rather than a torn tail
  bool header = false;
  while (reader.next()) {
    const std::string& text = reader.line();
    if (!header) {
      if (!reader.complete()) {  // the first run died while writing its header
        cut = 0;
        break;
      }
      const std::string expected = std::string(kMagic) + " " + std::to_string(kFormatVersion) + " ";
      if (text.rfind(std::string(kMagic) + " ", 0) != 0)
        return Error{ErrorCode::kConfig, where + "not a fetchpool state journal (first line is not a '" +
                                             std::string(kMagic) + "' header)"};
      if (text.rfind(expected, 0) != 0)
        return Error{ErrorCode::kConfig,
                     where + "journal format '" + text + "' is not version " + std::to_string(kFormatVersion)};
      const std::string kind = text.substr(expected.size());
      if (kind != command)
        return Error{ErrorCode::kConfig, where + "state of a '" + kind + "' run, not '" + std::string(command) +
                                             "'; rerun the same command or use another --state directory"};
      header = true;
      info_.resumed = true;
      continue;
    }
    bool valid = reader.complete() && text.size() > 2 && text[1] == ' ';
    const bool has_nul = text.find('\0') != std::string::npos;
    valid = valid && !has_nul;
    std::optional<CrawlItem> item;
    std::optional<RecordKey> record;
    if (valid && text[0] == 'Q') {
      item = parse_item(std::string_view(text).substr(2));
      valid = item.has_value();
    } else if (valid && text[0] == 'R') {
      record = parse_record_key(std::string_view(text).substr(2));
      valid = record.has_value();
    } else {
      valid = false;
    }
    if (cut) {
      // Whole lines after a bad one: corruption, unless the bad line holds
      // NUL bytes, the mark of blocks a power loss left unwritten; then all
      // of it after the last durable line is dropped.
      if (valid && bad_line != 0)
        return Error{ErrorCode::kConfig, where + "line " + std::to_string(bad_line) +
                                             " is corrupt and is followed by valid lines; cannot resume from it"};
      continue;
    }
    if (!valid) {
      cut = reader.offset();
      bad_line = has_nul || !reader.complete() ? 0 : reader.number();
      continue;
    }
    if (item) {
      ++info_.queued;
      if (item->origin != 0) known_lines_.push_back(item->origin);
      if (item->redirects > 0) {
        auto& hops = chain_hops_[chain_key(*item)];
        hops = std::max(hops, item->redirects);
      }
    } else if (record->line != 0) {
      known_lines_.push_back(record->line);
      done_lines_.push_back(record->line);
    } else {
      done_urls_.push_back(url_key(record->url));
    }
  }
  sort_unique(known_lines_);
  sort_unique(done_lines_);
  sort_unique(done_urls_);
  info_.done = done_lines_.size() + done_urls_.size();

  if (cut) {
    std::error_code ec;
    const auto size = fs::file_size(path_, ec);
    if (!ec && size > *cut) info_.torn_bytes = size - *cut;
    if (::ftruncate(fd_, static_cast<off_t>(*cut)) != 0 || ::fdatasync(fd_) != 0)
      return Error{ErrorCode::kIo, where + "cannot cut the torn last line: " + std::strerror(errno)};
    if (*cut == 0) header = false;
  }
  if (!header) {
    info_.resumed = false;
    const std::string line =
        std::string(kMagic) + " " + std::to_string(kFormatVersion) + " " + std::string(command) + "\n";
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::fdatasync(fd_) != 0)
      return Error{ErrorCode::kIo, where + "cannot write state journal: " + std::strerror(errno)};
    // The new file's directory entry must be durable too.
    (void)detail::fsync_directory(path_.parent_path());
  }
  return {};
}

bool StateJournal::knows_line(std::uint64_t line) const { return line != 0 && contains(known_lines_, line); }

Result<void> StateJournal::restore(const std::function<void(CrawlItem)>& push,
                                   const std::function<void(std::string_view)>& mark_seen) {
  const std::string where = path_.string() + ": ";
  if (!info_.resumed) return {};
  // Pass 2: pending items, in the order they were first queued.
  {
    LineReader reader(path_);
    if (!reader.good()) return Error{ErrorCode::kIo, where + "cannot read state journal: " + std::strerror(errno)};
    while (reader.next()) {
      const std::string& text = reader.line();
      if (text.rfind("Q ", 0) != 0) continue;
      auto item = parse_item(std::string_view(text).substr(2));
      if (!item)
        return Error{ErrorCode::kConfig, where + "line " + std::to_string(reader.number()) + " changed while resuming"};
      // A redirect hop is done when its chain's record (named by the chain's first URL) is.
      const bool done = item->origin != 0
                            ? contains(done_lines_, item->origin)
                            : contains(done_urls_, url_key(item->redirects > 0 ? item->chain_start : item->url));
      // A URL a redirect led away from was handled: its chain goes on from
      // the latest hop queued (or is done), so it is only seen, not pushed.
      const auto chain = chain_hops_.empty() ? chain_hops_.end() : chain_hops_.find(chain_key(*item));
      const bool carried_on = chain != chain_hops_.end() && chain->second > item->redirects;
      if (carried_on || (done && item->redirects > 0)) {
        mark_seen(item->url);
      } else if (!done) {
        push(std::move(*item));
      }
    }
  }
  // Pass 3: done records, each key once (a key is never done twice unless
  // something went wrong; the results file must still hold it once).
  std::vector<bool> replayed_lines(done_lines_.size()), replayed_urls(done_urls_.size());
  LineReader reader(path_);
  if (!reader.good()) return Error{ErrorCode::kIo, where + "cannot read state journal: " + std::strerror(errno)};
  while (reader.next()) {
    const std::string& text = reader.line();
    if (text.rfind("R ", 0) != 0) continue;
    const auto payload = std::string_view(text).substr(2);
    // Only a replay needs the whole record; the key is enough otherwise.
    std::optional<ResultRecord> record;
    std::optional<RecordKey> key;
    if (options_.replay) {
      auto parsed = record_from_json_line(payload);
      if (!parsed)
        return Error{ErrorCode::kConfig,
                     where + "line " + std::to_string(reader.number()) + ": " + parsed.error().message};
      key = RecordKey{parsed->url, parsed->line, parsed->error};
      record = std::move(*parsed);
    } else {
      key = parse_record_key(payload);
      if (!key)
        return Error{ErrorCode::kConfig, where + "line " + std::to_string(reader.number()) + " changed while resuming"};
    }
    if (record) {
      auto& keys = key->line != 0 ? done_lines_ : done_urls_;
      auto& replayed = key->line != 0 ? replayed_lines : replayed_urls;
      const auto value = key->line != 0 ? key->line : url_key(key->url);
      const auto index = static_cast<std::size_t>(std::lower_bound(keys.begin(), keys.end(), value) - keys.begin());
      if (index < keys.size() && keys[index] == value && !replayed[index]) {
        replayed[index] = true;
        results_.write(*record);
      }
    }
    if (was_queued(key->error)) mark_seen(key->url);
  }
  return {};
}

void StateJournal::queued(const CrawlItem& item) {
  std::string line = "Q " + std::to_string(item.depth) + " " + std::to_string(item.origin) + " ";
  detail::append_json_string_bytes(line, item.url);
  line.push_back(' ');
  detail::append_json_string_bytes(line, item.referrer);
  if (item.redirects > 0) {
    line.push_back(' ');
    line += std::to_string(item.redirects);
    line.push_back(' ');
    detail::append_json_string_bytes(line, item.chain_start);
  }
  line.push_back('\n');
  MutexLock lock(mutex_);
  buffer_ += line;
  // A long list queues many lines before its first record: write them out
  // in large pieces rather than hold them all.
  if (buffer_.size() >= (std::size_t{1} << 16)) write_buffer_locked();
}

void StateJournal::write(const ResultRecord& record) {
  if (record.error == ErrorCode::kAborted) return;
  std::string line = "R " + to_json_line(record);
  line.push_back('\n');
  bool wake = false;
  {
    MutexLock lock(mutex_);
    buffer_ += line;
    write_buffer_locked();
    held_.push_back(record);
    wake = held_.size() >= options_.sync_records;
  }
  if (wake) wake_.notify_one();
}

void StateJournal::write_buffer_locked() {
  // After a failed write the journal is left as it is (a valid prefix,
  // perhaps with a torn tail): writing on past a gap would corrupt it.
  if (!first_error_.empty()) {
    buffer_.clear();
    return;
  }
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      first_error_ = path_.string() + ": cannot write state journal: " + std::strerror(n < 0 ? errno : ENOSPC);
      break;
    }
    done += static_cast<std::size_t>(n);
    dirty_ = true;
  }
  buffer_.clear();
}

void StateJournal::sync_round() {
  MutexLock round(sync_mutex_);
  std::vector<ResultRecord> batch;
  bool dirty = false;
  {
    MutexLock lock(mutex_);
    write_buffer_locked();
    batch.swap(held_);
    dirty = dirty_;
    dirty_ = false;
  }
  if (dirty) {
    const bool synced = ::fdatasync(fd_) == 0;
    const int err = errno;
    MutexLock lock(mutex_);
    if (synced) {
      ++syncs_;
    } else if (first_error_.empty()) {
      first_error_ = path_.string() + ": cannot sync state journal: " + std::strerror(err);
    }
  }
  // Even when the journal failed, the records still go to the results file:
  // losing durability must not lose results too.
  for (const auto& record : batch) results_.write(record);
  // Pushed on at once: with results on stdout nothing replays them, so a
  // record must not wait in stdio's buffer for a crash. An error is sticky
  // in the sink and reported by the final flush().
  if (!batch.empty()) (void)results_.flush();
}

void StateJournal::flusher_main(std::stop_token stop) {
  while (!stop.stop_requested()) {
    {
      MutexLock lock(mutex_);
      wake_.wait_for(lock, stop, options_.sync_interval,
                     [this]() FETCHPOOL_REQUIRES(mutex_) { return held_.size() >= options_.sync_records; });
    }
    sync_round();
  }
}

Result<void> StateJournal::flush() {
  sync_round();
  auto flushed = results_.flush();
  MutexLock lock(mutex_);
  if (!first_error_.empty()) return Error{ErrorCode::kIo, first_error_};
  return flushed;
}

std::uint64_t StateJournal::syncs() const {
  MutexLock lock(mutex_);
  return syncs_;
}

}  // namespace fetchpool
