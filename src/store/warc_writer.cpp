#include "fetchpool/warc_writer.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <utility>

#include "base/ascii.hpp"
#include "base/json_text.hpp"
#include "base/unique_fd.hpp"

namespace fetchpool {
namespace {

using detail::iequals_lower;
using detail::to_ascii_lower;
using detail::trim_ows_and_newlines;
using detail::UniqueFd;

constexpr std::size_t kChunk = std::size_t{64} * 1024;
// What resume() reads of each member to index it: the WARC head and the HTTP
// head behind it (libcurl refuses response heads over 100 KiB).
constexpr std::size_t kScanPrefix = std::size_t{128} * 1024;

std::string errno_text(int error) { return std::strerror(error); }

// sha1 in base32 (RFC 4648, no padding), as WARC digests are written.
class Sha1 {
 public:
  Sha1() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha1(), nullptr) != 1) throw std::bad_alloc();
  }
  ~Sha1() { EVP_MD_CTX_free(ctx_); }
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;
  void update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
  std::string base32() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_, digest.data(), &size);
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (unsigned int i = 0; i < size; ++i) {
      buffer = (buffer << 8) | digest[i];
      bits += 8;
      while (bits >= 5) {
        out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
        bits -= 5;
      }
    }
    if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// "<urn:uuid:...>" (version 4, random).
std::string record_id() {
  // On the heap, made on a thread's first record: a thread_local engine
  // itself (2.5 KiB) would be static TLS, which glibc places at the top of
  // every thread's stack and zeroes at thread start, so every crawl worker,
  // archiving or not, would touch a stack page more (issue 14: a 5th page at
  // -j 500, 2 MiB of RSS).
  thread_local std::unique_ptr<std::mt19937_64> engine;
  if (!engine) engine = std::make_unique<std::mt19937_64>(std::random_device{}());
  std::mt19937_64& random = *engine;
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 8) {
    const std::uint64_t value = random();
    std::memcpy(bytes.data() + i, &value, 8);
  }
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "<urn:uuid:";
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  out.push_back('>');
  return out;
}

// WARC-Date ("2026-12-07T02:05:19Z") and the CDXJ timestamp ("20261207020519").
struct Stamp {
  std::string warc_date, timestamp;
};
Stamp stamp_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::array<char, 32> date{}, compact{};
  std::strftime(date.data(), date.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  std::strftime(compact.data(), compact.size(), "%Y%m%d%H%M%S", &utc);
  return {date.data(), compact.data()};
}

// Bytes kept in memory up to a threshold, then in an unlinked temporary file
// in `directory`: one record's body or its compressed member.
class Spool {
 public:
  Spool(std::filesystem::path directory, std::size_t threshold)
      : directory_(std::move(directory)), threshold_(threshold) {}

  // false on an I/O error (error() says which).
  bool append(std::string_view data) {
    if (error_ != 0) return false;
    if (file_.get() < 0 && memory_.size() + data.size() > threshold_ && !spill()) return false;
    if (file_.get() < 0) {
      memory_.append(data);
    } else if (const int failed = detail::write_all(file_.get(), data); failed != 0) {
      error_ = failed;
      return false;
    }
    size_ += data.size();
    return true;
  }
  std::uint64_t size() const noexcept { return size_; }
  bool in_memory() const noexcept { return file_.get() < 0; }
  const std::string& memory() const noexcept { return memory_; }
  int error() const noexcept { return error_; }

  // Calls `take(chunk)` for every byte in order; false on a read error.
  template <typename Take>
  bool read(Take&& take) const {
    if (file_.get() < 0) return take(std::string_view(memory_));
    std::string buffer(kChunk, '\0');
    std::uint64_t offset = 0;
    while (offset < size_) {
      const ssize_t n = ::pread(file_.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      if (!take(std::string_view(buffer.data(), static_cast<std::size_t>(n)))) return false;
      offset += static_cast<std::uint64_t>(n);
    }
    return true;
  }

 private:
  bool spill() {
    const std::string dir = directory_.empty() ? std::string(".") : directory_.string();
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
      // File systems without O_TMPFILE: a named file, unlinked at once.
      std::string name = dir + "/.fetchpool-warc-XXXXXX";
      fd = ::mkostemp(name.data(), O_CLOEXEC);
      if (fd >= 0) ::unlink(name.c_str());
    }
    if (fd < 0) {
      error_ = errno;
      return false;
    }
    file_.reset(fd);
    if (const int failed = detail::write_all(fd, memory_); failed != 0) {
      error_ = failed;
      return false;
    }
    std::string().swap(memory_);
    return true;
  }

  std::filesystem::path directory_;
  std::size_t threshold_;
  std::string memory_;
  UniqueFd file_;
  std::uint64_t size_ = 0;
  int error_ = 0;
};

// One gzip member (RFC 1952) written into a Spool as its input arrives.
class GzipMember {
 public:
  explicit GzipMember(Spool& out) : out_(out) {
    if (deflateInit2(&stream_, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::bad_alloc();
  }
  ~GzipMember() { deflateEnd(&stream_); }
  GzipMember(const GzipMember&) = delete;
  GzipMember& operator=(const GzipMember&) = delete;

  bool add(std::string_view data) { return run(data, Z_NO_FLUSH); }
  bool finish() { return run({}, Z_FINISH); }

 private:
  bool run(std::string_view data, int flush) {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream_.avail_in = static_cast<uInt>(data.size());
    std::array<char, kChunk> buffer;
    for (;;) {
      stream_.next_out = reinterpret_cast<Bytef*>(buffer.data());
      stream_.avail_out = static_cast<uInt>(buffer.size());
      const int rc = deflate(&stream_, flush);
      if (rc == Z_STREAM_ERROR) return false;
      const std::size_t produced = buffer.size() - stream_.avail_out;
      if (produced > 0 && !out_.append(std::string_view(buffer.data(), produced))) return false;
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (stream_.avail_in == 0 && stream_.avail_out != 0)) return true;
    }
  }

  Spool& out_;
  z_stream stream_{};
};

std::string gzip_string(std::string_view data) {
  Spool out({}, SIZE_MAX);
  GzipMember member(out);
  member.add(data);
  member.finish();
  return out.memory();
}

// The value of the header field `name` in a head ("" if absent).
std::string_view field_value(std::string_view head, std::string_view lower_name) {
  std::size_t pos = head.find('\n');
  while (pos != std::string_view::npos && pos + 1 < head.size()) {
    const std::size_t start = pos + 1;
    const std::size_t end = head.find('\n', start);
    const std::string_view line = head.substr(start, end == std::string_view::npos ? end : end - start);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals_lower(trim_ows_and_newlines(line.substr(0, colon)), lower_name))
      return trim_ows_and_newlines(line.substr(colon + 1));
    pos = end;
  }
  return {};
}

// "HTTP/1.1 200 OK" -> "200"; "" if malformed.
std::string status_of(std::string_view head) {
  const std::string_view line = head.substr(0, head.find('\n'));
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos || line.size() < space + 4) return {};
  const std::string_view code = line.substr(space + 1, 3);
  return std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) ? std::string(code)
                                                                                            : std::string();
}

// CDXJ "mime": the media type without parameters, lower case.
std::string mime_of(std::string_view head) {
  const std::string_view type = field_value(head, "content-type");
  return type.empty() ? std::string("unk") : to_ascii_lower(trim_ows_and_newlines(type.substr(0, type.find(';'))));
}

bool retried_status(std::string_view status) { return status == "429" || (!status.empty() && status[0] == '5'); }

}  // namespace

// ---------------------------------------------------------------------------
// SURT

std::string surt_key(std::string_view url) {
  std::string_view rest = url;
  std::string_view scheme;
  if (const auto colon = rest.find("://"); colon != std::string_view::npos) {
    scheme = rest.substr(0, colon);
    rest.remove_prefix(colon + 3);
  }
  rest = rest.substr(0, rest.find('#'));
  const std::size_t path_at = std::min(rest.find('/'), rest.find('?'));
  std::string authority = to_ascii_lower(rest.substr(0, path_at));
  std::string path = path_at == std::string_view::npos ? std::string("/") : std::string(rest.substr(path_at));
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  std::string port;
  if (const auto colon = authority.rfind(':');
      colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    port = authority.substr(colon + 1);
    authority.resize(colon);
  }
  const std::string lower_scheme = to_ascii_lower(scheme);
  if ((lower_scheme == "http" && port == "80") || (lower_scheme == "https" && port == "443")) port.clear();
  if (authority.starts_with("www.")) authority.erase(0, 4);
  const bool ip = !authority.empty() &&
                  (authority.front() == '[' || std::all_of(authority.begin(), authority.end(),
                                                           [](char c) { return (c >= '0' && c <= '9') || c == '.'; }));
  std::string host;
  if (ip) {
    host = authority;
  } else {
    std::string_view labels = authority;
    while (!labels.empty()) {
      const auto dot = labels.rfind('.');
      if (!host.empty()) host.push_back(',');
      host.append(dot == std::string_view::npos ? labels : labels.substr(dot + 1));
      labels = dot == std::string_view::npos ? std::string_view() : labels.substr(0, dot);
    }
  }
  if (path.front() == '?') path.insert(0, "/");
  path = to_ascii_lower(path);
  if (const auto question = path.find('?'); question != std::string::npos) {
    std::vector<std::string_view> arguments;
    std::string_view query = std::string_view(path).substr(question + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      arguments.push_back(query.substr(0, amp));
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    std::sort(arguments.begin(), arguments.end());
    std::string sorted = path.substr(0, question + 1);
    for (std::size_t i = 0; i < arguments.size(); ++i) {
      if (i > 0) sorted.push_back('&');
      sorted.append(arguments[i]);
    }
    path = std::move(sorted);
  }
  std::string out = host;
  if (!port.empty()) out += ":" + port;
  out += ")";
  out += path;
  return out;
}

// ---------------------------------------------------------------------------
// One Fetcher's exchanges -> records

struct WarcWriter::Pair {
  std::string request;  // the request record, compressed
  std::unique_ptr<Spool> response;
  std::string url, timestamp, status, mime, digest;
  std::uint64_t bytes() const { return request.size() + response->size(); }
};

class WarcExchange final : public ExchangeObserver {
 public:
  explicit WarcExchange(WarcWriter& writer) : writer_(writer) { directory_ = writer_.options().name.parent_path(); }

  void request(const ExchangeTarget& target, std::string_view head) noexcept override {
    try {
      if (head_done_) finish(std::nullopt);
      reset();
      active_ = true;
      url_ = target.url;
      ip_ = target.ip;
      request_head_ = head;
      stamp_ = stamp_now();
    } catch (...) {
      reset();
    }
  }

  void response_line(std::string_view line) noexcept override {
    if (!active_) return;
    try {
      if (line.starts_with("HTTP/")) {
        // An interim 1xx's head is replaced by the final one's.
        response_head_.clear();
        head_done_ = false;
      } else if (head_done_) {
        return;
      }
      const std::string_view bare = trim_ows_and_newlines(line);
      if (bare.empty()) {
        head_done_ = true;
      } else if (const auto colon = bare.find(':');
                 colon != std::string_view::npos && iequals_lower(bare.substr(0, colon), "transfer-encoding")) {
        // The body below is stored without its chunked framing: a field
        // still saying "chunked" would make readers decode it again.
        response_head_ += "X-Archive-Orig-";
      }
      response_head_.append(line);
    } catch (...) {
      broken_ = true;
    }
  }

  void response_body(std::string_view bytes) noexcept override {
    if (!active_ || !head_done_ || broken_) return;
    try {
      if (!body_) {
        body_ = std::make_unique<Spool>(directory_, writer_.options().memory_bytes);
        block_.emplace();
        payload_.emplace();
        block_->update(response_head_);
      }
      block_->update(bytes);
      payload_->update(bytes);
      if (!body_->append(bytes)) broken_ = true;
    } catch (...) {
      broken_ = true;
    }
  }

  void end(const std::optional<Error>& error) noexcept override {
    if (active_) {
      try {
        finish(error);
      } catch (...) {
        writer_.count_refused();
      }
    }
    reset();
  }

 private:
  void reset() {
    active_ = false;
    head_done_ = false;
    broken_ = false;
    response_head_.clear();
    request_head_.clear();
    body_.reset();
    block_.reset();
    payload_.reset();
  }

  static std::string truncation(const std::optional<Error>& error) {
    if (!error) return {};
    switch (error->code) {
      case ErrorCode::kTruncated:
        return "disconnect";
      case ErrorCode::kTooLarge:
        return "length";
      case ErrorCode::kTimeout:
        return "time";
      default:
        return "unspecified";
    }
  }

  static std::string head(std::string_view type, const std::string& id, const Stamp& stamp, std::string_view url,
                          std::string_view ip, const std::string& concurrent, const std::string& block,
                          const std::string& payload, const std::string& truncated, std::string_view content_type,
                          std::uint64_t length) {
    std::string out = "WARC/1.1\r\nWARC-Type: ";
    out.append(type).append("\r\nWARC-Record-ID: ").append(id);
    out.append("\r\nWARC-Date: ").append(stamp.warc_date);
    out.append("\r\nWARC-Target-URI: ").append(url);
    if (!ip.empty()) out.append("\r\nWARC-IP-Address: ").append(ip);
    out.append("\r\nWARC-Concurrent-To: ").append(concurrent);
    out.append("\r\nWARC-Block-Digest: sha1:").append(block);
    if (!payload.empty()) out.append("\r\nWARC-Payload-Digest: sha1:").append(payload);
    if (!truncated.empty()) out.append("\r\nWARC-Truncated: ").append(truncated);
    out.append("\r\nContent-Type: ").append(content_type);
    out.append("\r\nContent-Length: ").append(std::to_string(length)).append("\r\n\r\n");
    return out;
  }

  void finish(const std::optional<Error>& error) {
    const bool whole_head = head_done_ && !broken_;
    if (!whole_head) {
      // The response head never ended (or memory / the spool failed): no
      // record whose head would disagree with its bytes.
      writer_.count_refused();
      reset();
      return;
    }
    if (writer_.known(url_)) {
      writer_.count_skipped();
      reset();
      return;
    }
    if (!body_) response_body({});  // digests of the empty body
    if (broken_ || !body_) {
      writer_.count_refused();
      reset();
      return;
    }
    const std::string request_id = record_id();
    const std::string response_id = record_id();

    Sha1 request_digest;
    request_digest.update(request_head_);
    std::string request_record = head("request", request_id, stamp_, url_, ip_, response_id, request_digest.base32(),
                                      {}, {}, "application/http;msgtype=request", request_head_.size());
    request_record += request_head_;
    request_record += "\r\n\r\n";

    WarcWriter::Pair pair;
    pair.request = gzip_string(request_record);
    pair.url = url_;
    pair.timestamp = stamp_.timestamp;
    pair.status = status_of(response_head_);
    pair.mime = mime_of(response_head_);
    pair.digest = payload_->base32();
    const std::string response_record_head =
        head("response", response_id, stamp_, url_, ip_, request_id, block_->base32(), pair.digest, truncation(error),
             "application/http;msgtype=response", response_head_.size() + body_->size());
    pair.response = std::make_unique<Spool>(directory_, writer_.options().memory_bytes);
    {
      GzipMember member(*pair.response);
      bool ok = member.add(response_record_head) && member.add(response_head_);
      ok = ok && body_->read([&member](std::string_view chunk) { return member.add(chunk); });
      ok = ok && member.add("\r\n\r\n") && member.finish();
      if (!ok) {
        writer_.count_refused();
        reset();
        return;
      }
    }
    body_.reset();  // the raw body's temporary file goes before the append
    writer_.append(pair);
    reset();
  }

  WarcWriter& writer_;
  std::filesystem::path directory_;
  bool active_ = false;     // a request was reported and not yet archived
  bool head_done_ = false;  // its response head ended (blank line)
  bool broken_ = false;     // memory or the spool failed: nothing of this exchange is written
  std::string url_, ip_, request_head_, response_head_;
  Stamp stamp_;
  std::unique_ptr<Spool> body_;
  std::optional<Sha1> block_, payload_;
};

// ---------------------------------------------------------------------------
// WarcWriter

WarcWriter::WarcWriter(WarcOptions options) : options_(std::move(options)) {}

WarcWriter::~WarcWriter() {
  MutexLock lock(mutex_);
  if (fd_ >= 0) ::close(fd_);
}

std::filesystem::path WarcWriter::file_path(std::size_t index) const {
  std::string name = options_.name.string();
  if (options_.max_file_bytes > 0) {
    std::array<char, 16> number{};
    std::snprintf(number.data(), number.size(), "-%05zu", index);
    name += number.data();
  }
  return name + ".warc.gz";
}

std::filesystem::path WarcWriter::index_path() const { return options_.name.string() + ".cdxj"; }

std::vector<std::filesystem::path> WarcWriter::files() const {
  MutexLock lock(mutex_);
  std::vector<std::filesystem::path> out;
  for (std::size_t i = 0; i <= file_index_; ++i) out.push_back(file_path(i));
  return out;
}

WarcCounts WarcWriter::counts() const {
  return {exchanges_.load(std::memory_order_relaxed), skipped_.load(std::memory_order_relaxed),
          refused_.load(std::memory_order_relaxed)};
}

Result<std::unique_ptr<WarcWriter>> WarcWriter::open(WarcOptions options) {
  if (options.name.empty() || options.name.filename().empty())
    return Error{ErrorCode::kConfig, "--warc-file: a file name is needed"};
  std::unique_ptr<WarcWriter> writer(new WarcWriter(std::move(options)));
  if (writer->options_.append) {
    if (auto resumed = writer->resume(); !resumed) return resumed.error();
    return writer;
  }
  MutexLock lock(writer->mutex_);
  if (auto started = writer->start_file(0); !started) return started.error();
  return writer;
}

// Opens file `index` afresh (truncating it) and writes its warcinfo record.
Result<void> WarcWriter::start_file(std::size_t index) {
  const std::filesystem::path path = file_path(index);
  if (fd_ >= 0) {
    ::fdatasync(fd_);  // a finished file is durable before the next one starts
    ::close(fd_);
    fd_ = -1;
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) return Error{ErrorCode::kIo, path.string() + ": cannot create the WARC file: " + errno_text(errno)};
  file_index_ = index;
  file_records_ = 0;
  std::string fields = "software: " + options_.software +
                       "\r\nformat: WARC File Format 1.1\r\n"
                       "conformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n";
  for (const auto& line : options_.info_fields) fields += line + "\r\n";
  Sha1 digest;
  digest.update(fields);
  const Stamp stamp = stamp_now();
  std::string record = "WARC/1.1\r\nWARC-Type: warcinfo\r\nWARC-Record-ID: " + record_id() +
                       "\r\nWARC-Date: " + stamp.warc_date + "\r\nWARC-Filename: " + path.filename().string() +
                       "\r\nWARC-Block-Digest: sha1:" + digest.base32() +
                       "\r\nContent-Type: application/warc-fields\r\nContent-Length: " + std::to_string(fields.size()) +
                       "\r\n\r\n" + fields + "\r\n\r\n";
  const std::string member = gzip_string(record);
  if (const int failed = detail::write_all(fd_, member); failed != 0)
    return Error{ErrorCode::kIo, path.string() + ": cannot write: " + errno_text(failed)};
  file_size_ = member.size();
  return {};
}

namespace {

// One whole gzip member found by scan_members: where it is and the start of
// what it holds.
struct Member {
  std::uint64_t offset = 0, length = 0;
  std::string prefix;  // up to kScanPrefix decompressed bytes
};

// Reads `fd` member by member; calls `take(member)` for each whole one.
// Returns the end offset of the last whole member (a member cut short, or
// bytes that are not gzip, end the scan there).
template <typename Take>
std::uint64_t scan_members(int fd, Take&& take) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) return 0;
  std::string input(kChunk, '\0');
  std::array<char, kChunk> output;
  std::uint64_t read_offset = 0, member_start = 0, good_end = 0;
  Member current;
  bool done = false;
  while (!done) {
    const ssize_t n = ::pread(fd, input.data(), input.size(), static_cast<off_t>(read_offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    read_offset += static_cast<std::uint64_t>(n);
    stream.next_in = reinterpret_cast<Bytef*>(input.data());
    stream.avail_in = static_cast<uInt>(n);
    while (stream.avail_in > 0) {
      stream.next_out = reinterpret_cast<Bytef*>(output.data());
      stream.avail_out = static_cast<uInt>(output.size());
      const int rc = inflate(&stream, Z_NO_FLUSH);
      const std::size_t produced = output.size() - stream.avail_out;
      if (current.prefix.size() < kScanPrefix)
        current.prefix.append(output.data(), std::min(produced, kScanPrefix - current.prefix.size()));
      if (rc == Z_STREAM_END) {
        current.offset = member_start;
        current.length = stream.total_in;
        member_start += stream.total_in;
        good_end = member_start;
        take(current);
        current = Member{};
        inflateReset(&stream);
      } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && produced == 0)) {
        done = true;
        break;
      }
    }
  }
  inflateEnd(&stream);
  return good_end;
}

}  // namespace

// Reads the existing files of the set: every whole pair is indexed and its
// URL noted; the last file is cut back to its last whole pair and kept open
// for appending.
Result<void> WarcWriter::resume() {
  MutexLock lock(mutex_);
  std::size_t last = 0;
  if (options_.max_file_bytes > 0) {
    while (std::filesystem::exists(file_path(last + 1))) ++last;
  }
  if (!std::filesystem::exists(file_path(0))) return start_file(0);
  for (std::size_t index = 0; index <= last; ++index) {
    const std::filesystem::path path = file_path(index);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) return Error{ErrorCode::kIo, path.string() + ": cannot open to append: " + errno_text(errno)};
    std::array<unsigned char, 2> magic{};
    const ssize_t got = ::pread(fd.get(), magic.data(), magic.size(), 0);
    if (got > 0 && (got < 2 || magic[0] != 0x1f || magic[1] != 0x8b))
      return Error{ErrorCode::kConfig, path.string() + ": not a gzip-compressed WARC file; not appending to it"};
    std::uint64_t whole_end = 0;  // after the last warcinfo or response member
    std::uint64_t records = 0;
    std::vector<IndexEntry> found;  // moved into index_ after the scan (the callback holds no lock)
    scan_members(fd.get(), [&](const Member& member) {
      const std::string_view text = member.prefix;
      const std::size_t head_end = text.find("\r\n\r\n");
      const std::string_view warc_head = text.substr(0, head_end);
      const std::string_view type = field_value(warc_head, "warc-type");
      if (type == "response") {
        const std::string_view http =
            head_end == std::string_view::npos ? std::string_view() : text.substr(head_end + 4);
        IndexEntry entry;
        entry.url = field_value(warc_head, "warc-target-uri");
        std::string date(field_value(warc_head, "warc-date"));
        std::erase_if(date, [](char c) { return c < '0' || c > '9'; });
        entry.key = surt_key(entry.url) + " " + date.substr(0, 14);
        entry.status = status_of(http);
        entry.mime = mime_of(http.substr(0, http.find("\r\n\r\n")));
        std::string_view digest = field_value(warc_head, "warc-payload-digest");
        if (digest.starts_with("sha1:")) digest.remove_prefix(5);
        entry.digest = digest;
        entry.offset = member.offset;
        entry.length = member.length;
        entry.file = index;
        if (!retried_status(entry.status)) known_.insert(entry.url);
        found.push_back(std::move(entry));
        whole_end = member.offset + member.length;
        ++records;
      } else if (type != "request") {
        whole_end = member.offset + member.length;
      }
    });
    // Every response found ends a whole pair, so none lies beyond the cut below.
    for (auto& entry : found) index_.push_back(std::move(entry));
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0)
      return Error{ErrorCode::kIo, path.string() + ": cannot read: " + errno_text(errno)};
    if (static_cast<std::uint64_t>(info.st_size) != whole_end) {
      // A pair cut short by a crash (or a request without its response):
      // whole records or none.
      if (::ftruncate(fd.get(), static_cast<off_t>(whole_end)) != 0)
        return Error{ErrorCode::kIo, path.string() + ": cannot cut back a torn record: " + errno_text(errno)};
    }
    if (index == last) {
      if (whole_end == 0) {
        fd.reset();
        return start_file(index);
      }
      fd.reset();
      fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd_ < 0 || ::lseek(fd_, 0, SEEK_END) < 0)
        return Error{ErrorCode::kIo, path.string() + ": cannot open to append: " + errno_text(errno)};
      file_index_ = index;
      file_size_ = whole_end;
      file_records_ = records;
    }
  }
  return {};
}

void WarcWriter::append(Pair& pair) {
  MutexLock lock(mutex_);
  if (!error_.empty() || closed_ || fd_ < 0) return;
  const std::uint64_t bytes = pair.bytes();
  if (options_.max_file_bytes > 0 && file_records_ > 0 && file_size_ + bytes > options_.max_file_bytes) {
    if (auto started = start_file(file_index_ + 1); !started) {
      error_ = started.error().message;
      return;
    }
  }
  const std::uint64_t offset = file_size_;
  int failed = 0;
  if (pair.response->in_memory()) {
    // Both records with one write(2): a crash leaves the pair whole or absent.
    std::array<iovec, 2> parts{iovec{pair.request.data(), pair.request.size()},
                               iovec{const_cast<char*>(pair.response->memory().data()), pair.response->size()}};
    const ssize_t n = ::writev(fd_, parts.data(), static_cast<int>(parts.size()));
    if (n < 0) {
      failed = errno;
    } else if (static_cast<std::uint64_t>(n) < bytes) {
      const std::string rest = (pair.request + pair.response->memory()).substr(static_cast<std::size_t>(n));
      failed = detail::write_all(fd_, rest);
    }
  } else {
    failed = detail::write_all(fd_, pair.request);
    if (failed == 0) {
      const int fd = fd_;
      const bool ok = pair.response->read([fd, &failed](std::string_view chunk) {
        failed = detail::write_all(fd, chunk);
        return failed == 0;
      });
      if (!ok && failed == 0) failed = pair.response->error() != 0 ? pair.response->error() : EIO;
    }
  }
  if (failed != 0) {
    // Leave no torn record behind; archiving stops (the run goes on).
    [[maybe_unused]] const int cut = ::ftruncate(fd_, static_cast<off_t>(offset));
    ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET);
    error_ = file_path(file_index_).string() + ": cannot write: " + errno_text(failed);
    return;
  }
  file_size_ += bytes;
  ++file_records_;
  IndexEntry entry;
  entry.key = surt_key(pair.url) + " " + pair.timestamp;
  entry.url = std::move(pair.url);
  entry.mime = std::move(pair.mime);
  entry.status = std::move(pair.status);
  entry.digest = std::move(pair.digest);
  entry.offset = offset + pair.request.size();
  entry.length = pair.response->size();
  entry.file = file_index_;
  index_.push_back(std::move(entry));
  exchanges_.fetch_add(1, std::memory_order_relaxed);
}

std::unique_ptr<ExchangeObserver> WarcWriter::make_observer() { return std::make_unique<WarcExchange>(*this); }

Result<void> WarcWriter::close() {
  MutexLock lock(mutex_);
  if (closed_) return error_.empty() ? Result<void>{} : Result<void>(Error{ErrorCode::kIo, error_});
  closed_ = true;
  if (fd_ >= 0) {
    if (::fdatasync(fd_) != 0 && error_.empty())
      error_ = file_path(file_index_).string() + ": cannot flush: " + errno_text(errno);
    ::close(fd_);
    fd_ = -1;
  }
  // The index: sorted lines, written whole under a temporary name and renamed.
  std::vector<std::string> lines;
  lines.reserve(index_.size());
  for (const IndexEntry& entry : index_) {
    std::string line = entry.key + " {\"url\": ";
    detail::append_json_string(line, entry.url);
    line += ", \"mime\": ";
    detail::append_json_string(line, entry.mime);
    line += ", \"status\": ";
    detail::append_json_string(line, entry.status.empty() ? "-" : entry.status);
    line += ", \"digest\": ";
    detail::append_json_string(line, entry.digest);
    line += ", \"length\": \"" + std::to_string(entry.length) + "\", \"offset\": \"" + std::to_string(entry.offset) +
            "\", \"filename\": ";
    detail::append_json_string(line, file_path(entry.file).filename().string());
    line += "}\n";
    lines.push_back(std::move(line));
  }
  std::sort(lines.begin(), lines.end());
  const std::filesystem::path path = index_path();
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    int failed = fd.get() < 0 ? errno : 0;
    for (const std::string& line : lines) {
      if (failed == 0) failed = detail::write_all(fd.get(), line);
    }
    if (failed == 0 && ::fdatasync(fd.get()) != 0) failed = errno;
    if (failed == 0 && ::rename(temporary.c_str(), path.c_str()) != 0) failed = errno;
    if (failed != 0 && error_.empty()) error_ = path.string() + ": cannot write the index: " + errno_text(failed);
  }
  return error_.empty() ? Result<void>{} : Result<void>(Error{ErrorCode::kIo, error_});
}

}  // namespace fetchpool
