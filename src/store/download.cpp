#include "fetchpool/download.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <stdexcept>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {

namespace fs = std::filesystem;

namespace detail {

// SHA-256 through OpenSSL's EVP interface (the low-level SHA256_* calls are deprecated
// in OpenSSL 3). Incremental, so a file of any size is hashed in constant memory.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) throw std::bad_alloc();
    reset();
  }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  ~Sha256() { EVP_MD_CTX_free(ctx_); }

  // SHA-256 cannot fail on valid input; a failure here means OpenSSL itself is broken
  // (no default provider), which no caller could handle, so it is an exception.
  void reset() {
    if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("OpenSSL: SHA-256 is not available");
    }
  }
  void update(std::string_view data) {
    if (!data.empty() && EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) {
      throw std::runtime_error("OpenSSL: EVP_DigestUpdate failed");
    }
  }
  // Lower-case hex digest; the context must be reset() before further use.
  std::string hex_digest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_, digest, &length) != 1) {
      throw std::runtime_error("OpenSSL: EVP_DigestFinal_ex failed");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(std::size_t{2} * length);
    for (unsigned int i = 0; i < length; ++i) {
      hex.push_back(kHex[digest[i] >> 4]);
      hex.push_back(kHex[digest[i] & 0x0f]);
    }
    return hex;
  }

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace detail

namespace {

// Big enough that a write() moves a useful amount per system call, small enough that
// many parallel downloads stay cheap.
constexpr std::size_t kBufferBytes = std::size_t{256} * 1024;
constexpr std::size_t kMaxExtensionBytes = 16;
constexpr int kMaxCollisionSuffix = 9999;
constexpr std::string_view kPartSuffix = ".part";
constexpr std::string_view kMetaSuffix = ".part.meta";

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

Error io_error(const std::string& what, const fs::path& path, int error) {
  return Error{ErrorCode::kIo, what + " " + path.string() + ": " + errno_text(error)};
}

Error io_error(const std::string& what, const fs::path& path, const std::error_code& ec) {
  return Error{ErrorCode::kIo, what + " " + path.string() + ": " + ec.message()};
}

fs::path with_suffix(const fs::path& path, std::string_view suffix) {
  std::string name = path.string();
  name += suffix;
  return fs::path(name);
}

// ---- naming ---------------------------------------------------------------------

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding; a '%' not followed by two hex digits stays literal.
std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = hex_value(text[i + 1]);
      int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not valid
// (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, cut short).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) return 0;
  for (std::size_t k = i + 2; k < i + length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  }
  return length;
}

// One path component made safe: separators, control characters and invalid UTF-8
// become '_'; valid UTF-8 is kept as it is.
std::string sanitize_component(std::string_view decoded) {
  std::string out;
  out.reserve(decoded.size());
  for (std::size_t i = 0; i < decoded.size();) {
    auto c = static_cast<unsigned char>(decoded[i]);
    if (c < 0x80) {
      bool bad = c < 0x20 || c == 0x7F || c == '/' || c == '\\';
      out.push_back(bad ? '_' : static_cast<char>(c));
      ++i;
      continue;
    }
    std::size_t length = utf8_sequence_length(decoded, i);
    bool c1_control = length == 2 && c == 0xC2 && static_cast<unsigned char>(decoded[i + 1]) <= 0x9F;
    if (length == 0 || c1_control) {
      out.push_back('_');
      i += length == 0 ? 1 : length;
      continue;
    }
    out.append(decoded.substr(i, length));
    i += length;
  }
  return out;
}

// The longest prefix of `text` of at most `bytes` bytes that does not split a UTF-8
// sequence (text is valid UTF-8 after sanitize_component).
std::string_view utf8_prefix(std::string_view text, std::size_t bytes) {
  if (text.size() <= bytes) return text;
  std::size_t cut = bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string truncate_component(std::string name, std::size_t max_bytes) {
  if (name.size() <= max_bytes) return name;
  std::string_view view = name;
  std::string_view extension;
  std::size_t dot = view.rfind('.');
  if (dot != std::string_view::npos && dot > 0 && view.size() - dot <= kMaxExtensionBytes &&
      view.size() - dot < max_bytes) {
    extension = view.substr(dot);
  }
  std::string stem(utf8_prefix(view.substr(0, view.size() - extension.size()), max_bytes - extension.size()));
  if (stem.empty()) stem = "_";  // the budget fell inside one multi-byte character
  return stem + std::string(extension);
}

bool is_dot_name(std::string_view name) { return name.empty() || name == "." || name == ".."; }

std::string trim(std::string_view text) {
  std::size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  std::size_t end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

std::string latin1_to_utf8(std::string_view text) {
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// RFC 8187 ext-value: charset "'" [ language ] "'" value-chars.
std::optional<std::string> decode_ext_value(std::string_view value) {
  std::size_t first = value.find('\'');
  if (first == std::string_view::npos) return std::nullopt;
  std::size_t second = value.find('\'', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  std::string charset = ascii_lower(value.substr(0, first));
  std::string decoded = percent_decode(value.substr(second + 1));
  if (charset == "utf-8") return decoded;
  if (charset == "iso-8859-1") return latin1_to_utf8(decoded);
  return std::nullopt;
}

std::optional<std::string> last_component(std::string_view name) {
  std::size_t slash = name.find_last_of("/\\");
  std::string base = trim(slash == std::string_view::npos ? name : name.substr(slash + 1));
  if (is_dot_name(base)) return std::nullopt;
  return base;
}

}  // namespace

std::optional<std::string> filename_from_content_disposition(std::string_view header) {
  std::optional<std::string> plain;
  std::optional<std::string> extended;
  std::size_t i = header.find(';');  // skip the disposition type
  while (i != std::string_view::npos && i < header.size()) {
    ++i;  // past ';'
    std::size_t name_end = header.find_first_of("=;", i);
    if (name_end == std::string_view::npos) break;
    std::string name = ascii_lower(trim(header.substr(i, name_end - i)));
    if (header[name_end] == ';') {  // a parameter without a value
      i = name_end;
      continue;
    }
    std::size_t v = name_end + 1;
    while (v < header.size() && (header[v] == ' ' || header[v] == '\t')) ++v;
    std::string value;
    if (v < header.size() && header[v] == '"') {
      // quoted-string with quoted-pairs; an unterminated one runs to the end.
      for (++v; v < header.size() && header[v] != '"'; ++v) {
        if (header[v] == '\\' && v + 1 < header.size()) ++v;
        value.push_back(header[v]);
      }
      i = header.find(';', v);
    } else {
      std::size_t end = header.find(';', v);
      value = trim(header.substr(v, end == std::string_view::npos ? std::string_view::npos : end - v));
      i = end;
    }
    if (name == "filename") {
      plain = std::move(value);
    } else if (name == "filename*") {
      if (auto decoded = decode_ext_value(value)) extended = std::move(decoded);
    }
  }
  if (extended) {
    if (auto base = last_component(*extended)) return base;
  }
  if (plain) return last_component(*plain);
  return std::nullopt;
}

fs::path safe_relative_path(std::string_view host, std::string_view url_path, std::string_view content_disposition,
                            const NamingOptions& options) {
  std::size_t max_bytes = std::max<std::size_t>(options.max_name_bytes, 1);
  std::string_view path = url_path.substr(0, url_path.find_first_of("?#"));

  std::vector<std::string> directories;
  std::size_t slash = path.rfind('/');
  std::string_view last_segment = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (options.use_directories) {
    std::string safe_host = sanitize_component(host);
    if (!is_dot_name(safe_host)) directories.push_back(std::move(safe_host));
    std::string_view dir_part = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
    while (!dir_part.empty()) {
      std::size_t next = dir_part.find('/');
      std::string segment = sanitize_component(percent_decode(dir_part.substr(0, next)));
      if (!is_dot_name(segment)) directories.push_back(std::move(segment));
      dir_part = next == std::string_view::npos ? std::string_view() : dir_part.substr(next + 1);
    }
  }

  std::string file_name = sanitize_component(percent_decode(last_segment));
  if (is_dot_name(file_name)) file_name = kDefaultFileName;
  if (options.content_disposition && !content_disposition.empty()) {
    if (auto suggested = filename_from_content_disposition(content_disposition)) {
      std::string safe = sanitize_component(*suggested);
      if (!is_dot_name(safe)) file_name = std::move(safe);
    }
  }

  fs::path result;
  for (auto& directory : directories) {
    std::string name = truncate_component(std::move(directory), max_bytes);
    if (!is_dot_name(name)) result /= name;
  }
  file_name = truncate_component(std::move(file_name), max_bytes);
  if (is_dot_name(file_name)) file_name = "_";  // a cut "..x" could leave "."
  result /= file_name;
  return result;
}

// ---- OutputDirectory ------------------------------------------------------------

namespace {

// True if `path` is `root` or lies below it, component by component (so "/out2" is
// not inside "/out").
bool is_within(const fs::path& root, const fs::path& path) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  (void)path_it;
  return root_end == root.end();
}

bool entry_exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

}  // namespace

struct OutputDirectory::Registry {
  Mutex mutex;
  std::unordered_set<std::string> taken FETCHPOOL_GUARDED_BY(mutex);  // reserved names and their .part/.part.meta
};

OutputDirectory::OutputDirectory(fs::path root, std::unique_ptr<Registry> registry)
    : root_(std::move(root)), registry_(std::move(registry)) {}
OutputDirectory::OutputDirectory(OutputDirectory&&) noexcept = default;
OutputDirectory& OutputDirectory::operator=(OutputDirectory&&) noexcept = default;
OutputDirectory::~OutputDirectory() = default;

const fs::path& OutputDirectory::root() const { return root_; }

Result<OutputDirectory> OutputDirectory::open(const fs::path& root) {
  if (root.empty()) return Error{ErrorCode::kIo, "output directory: empty path"};
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return io_error("cannot create output directory", root, ec);
  if (!fs::is_directory(root, ec)) {
    return Error{ErrorCode::kIo, "output directory " + root.string() + " is not a directory"};
  }
  fs::path canonical = fs::canonical(root, ec);
  if (ec) return io_error("cannot resolve output directory", root, ec);
  return OutputDirectory(std::move(canonical), std::make_unique<Registry>());
}

Result<fs::path> OutputDirectory::reserve(const fs::path& relative, ClobberPolicy policy) {
  auto outside = [&](const fs::path& what) {
    return Error{ErrorCode::kIo, "path " + what.string() + " escapes output directory " + root_.string()};
  };
  if (relative.empty() || relative.has_root_path() || is_dot_name(relative.filename().string())) {
    return outside(relative);
  }
  for (const auto& component : relative) {
    if (component == "..") return outside(relative);
  }

  MutexLock lock(registry_->mutex);
  // Resolve before creating anything, so that a symlinked directory inside root that
  // points elsewhere is refused instead of followed by create_directories.
  fs::path parent = root_ / relative.parent_path();
  std::error_code ec;
  fs::path resolved_parent = fs::weakly_canonical(parent, ec);
  if (ec) return io_error("cannot resolve", parent, ec);
  if (!is_within(root_, resolved_parent)) return outside(relative);
  fs::create_directories(parent, ec);
  if (ec) return io_error("cannot create directory", parent, ec);

  const std::string base = (parent / relative.filename()).string();
  auto& taken = registry_->taken;
  for (int n = 0; n <= kMaxCollisionSuffix; ++n) {
    std::string candidate = n == 0 ? base : base + "." + std::to_string(n);
    std::string part = candidate + std::string(kPartSuffix);
    std::string meta = candidate + std::string(kMetaSuffix);
    if (taken.count(candidate) || taken.count(part) || taken.count(meta)) continue;

    fs::file_status status = fs::symlink_status(candidate, ec);
    bool exists = fs::exists(status);
    if (exists && fs::is_directory(status)) continue;  // no policy renames a file over a directory
    if (policy == ClobberPolicy::kNoClobber && (exists || entry_exists(part))) continue;
    if (policy == ClobberPolicy::kSkipExisting && exists) {
      return Error{ErrorCode::kDuplicate, candidate + " already exists; skipped"};
    }
    // Belt and braces: commit's rename(2) replaces a symlink rather than following it,
    // but a final name that resolves outside root is refused outright.
    fs::path resolved = fs::weakly_canonical(candidate, ec);
    if (ec) return io_error("cannot resolve", candidate, ec);
    if (!is_within(root_, resolved)) return outside(candidate);

    taken.insert(candidate);
    taken.insert(part);
    taken.insert(meta);
    return fs::path(candidate);
  }
  return Error{ErrorCode::kIo,
               "no free name for " + base + " (tried up to ." + std::to_string(kMaxCollisionSuffix) + ")"};
}

// ---- FileWriter -----------------------------------------------------------------

namespace {

// write(2) until everything is written; returns 0 or an errno value.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

// Makes a rename durable. File systems that cannot fsync a directory say EINVAL;
// there is nothing more to do on them.
int fsync_directory(const fs::path& directory) {
  int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int result = ::fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
  ::close(fd);
  return result;
}

// Header values cannot hold line breaks, but a meta file must not be corrupted by a
// server that sends them anyway.
std::string one_line(std::string_view value) {
  std::string out(value);
  out.erase(std::remove_if(out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }), out.end());
  return out;
}

bool is_etag(std::string_view validator) {
  return !validator.empty() && (validator.front() == '"' || validator.substr(0, 2) == "W/");
}

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) { return hex_value(c) >= 0; });
}

}  // namespace

FileWriter::FileWriter(fs::path final_path, bool resume)
    : final_path_(std::move(final_path)),
      part_path_(with_suffix(final_path_, kPartSuffix)),
      meta_path_(with_suffix(final_path_, kMetaSuffix)),
      hash_(std::make_unique<detail::Sha256>()) {
  if (!resume) return;
  struct stat st {};
  if (::stat(part_path_.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return;
  existing_size_ = static_cast<std::uint64_t>(st.st_size);
  std::ifstream meta(meta_path_);
  std::string line;
  while (std::getline(meta, line)) {
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string_view key = std::string_view(line).substr(0, eq);
    if (key == "etag") saved_etag_ = line.substr(eq + 1);
    if (key == "last-modified") saved_last_modified_ = line.substr(eq + 1);
  }
}

FileWriter::~FileWriter() { abandon(); }

std::uint64_t FileWriter::existing_size() const { return existing_size_; }

std::string FileWriter::if_range_validator() const {
  if (!saved_etag_.empty() && saved_etag_.substr(0, 2) != "W/") return saved_etag_;
  return saved_last_modified_;
}

Error FileWriter::fail(Error error) {
  close_fd();
  state_ = State::kFailed;
  failure_ = error;
  return error;
}

void FileWriter::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void FileWriter::remove_part_and_meta() {
  std::error_code ec;
  fs::remove(part_path_, ec);
  fs::remove(meta_path_, ec);
}

// Written to a temporary name and renamed, so a crash leaves the old meta or the new
// one, never half of one (which could pair a part with the wrong validator). Failure to
// save it is not fatal to the download: the only loss is a later resume's If-Range.
void FileWriter::save_meta(const ResponseHead& head) {
  std::string etag = head.etag.empty() ? saved_etag_ : one_line(head.etag);
  std::string last_modified = head.last_modified.empty() ? saved_last_modified_ : one_line(head.last_modified);
  std::error_code ec;
  if (etag.empty() && last_modified.empty()) {
    fs::remove(meta_path_, ec);
    return;
  }
  fs::path temporary = with_suffix(meta_path_, ".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << "etag=" << etag << "\nlast-modified=" << last_modified << "\n";
    if (!out.flush()) {
      fs::remove(temporary, ec);
      return;
    }
  }
  fs::rename(temporary, meta_path_, ec);
  if (ec) fs::remove(temporary, ec);
}

Result<void> FileWriter::open_fresh() {
  fd_ = ::open(part_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) return fail(io_error("cannot create", part_path_, errno));
  hash_->reset();
  bytes_ = 0;
  resumed_ = false;
  return {};
}

Result<void> FileWriter::open_for_append(const ResponseHead& head) {
  // The server ignored If-Range and sent a range of a different version: appending it
  // would splice two files. The part is stale, so a retry must start from zero.
  std::string validator = if_range_validator();
  const std::string& current = is_etag(validator) ? head.etag : head.last_modified;
  if (!validator.empty() && !current.empty() && current != validator) {
    remove_part_and_meta();
    return fail(Error{ErrorCode::kNetwork, "206 for " + final_path_.string() + " is of a different version (" +
                                               validator + " -> " + current + "); deleted the stale " +
                                               part_path_.string()});
  }
  fd_ = ::open(part_path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) return fail(io_error("cannot reopen", part_path_, errno));
  // Rebuild the hash from the bytes already on disk; reading them is the price of not
  // trusting a saved hash state that could disagree with the file.
  hash_->reset();
  std::string chunk(std::min<std::uint64_t>(kBufferBytes, existing_size_), '\0');
  std::uint64_t remaining = existing_size_;
  while (remaining > 0) {
    ssize_t n = ::read(fd_, chunk.data(), std::min<std::uint64_t>(chunk.size(), remaining));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(io_error("cannot read back", part_path_, errno));
    if (n == 0) {
      return fail(Error{ErrorCode::kIo, part_path_.string() + " shrank while resuming (expected " +
                                            std::to_string(existing_size_) + " bytes)"});
    }
    hash_->update(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
    remaining -= static_cast<std::uint64_t>(n);
  }
  // Anything past existing_size_ was not counted by the Range request: drop it.
  if (::ftruncate(fd_, static_cast<off_t>(existing_size_)) != 0 ||
      ::lseek(fd_, static_cast<off_t>(existing_size_), SEEK_SET) < 0) {
    return fail(io_error("cannot position", part_path_, errno));
  }
  bytes_ = existing_size_;
  resumed_ = true;
  return {};
}

Result<void> FileWriter::begin(const ResponseHead& head) {
  if (state_ != State::kNew) {
    return Error{ErrorCode::kInternal, "FileWriter::begin called twice for " + final_path_.string()};
  }
  std::uint64_t start = 0;
  if (head.status == 206) {
    if (!head.range_start) {
      return fail(Error{ErrorCode::kNetwork, "206 without Content-Range for " + final_path_.string()});
    }
    start = *head.range_start;
    if (start != existing_size_) {
      return fail(Error{ErrorCode::kHttpStatus, "206 for " + final_path_.string() + " starts at byte " +
                                                    std::to_string(start) + " but " + part_path_.string() + " holds " +
                                                    std::to_string(existing_size_)});
    }
    if (auto opened = start > 0 ? open_for_append(head) : open_fresh(); !opened) return opened;
  } else if (head.status >= 200 && head.status < 300) {
    if (auto opened = open_fresh(); !opened) return opened;
  } else {
    return fail(Error{ErrorCode::kHttpStatus, "HTTP " + std::to_string(head.status) + " for " + final_path_.string() +
                                                  "; " + part_path_.string() + " left as it was"});
  }
  save_meta(head);
  bool identity = head.content_encoding.empty() || ascii_lower(head.content_encoding) == "identity";
  if (head.content_length && identity) expected_total_ = start + *head.content_length;
  buffer_.reserve(kBufferBytes);
  state_ = State::kWriting;
  return {};
}

Result<void> FileWriter::flush_buffer() {
  if (buffer_.empty()) return {};
  int error = write_all(fd_, buffer_);
  buffer_.clear();
  if (error != 0) return fail(io_error("cannot write", part_path_, error));
  return {};
}

Result<void> FileWriter::write(std::string_view chunk) {
  if (state_ == State::kFailed) return failure_;
  if (state_ != State::kWriting) {
    return Error{ErrorCode::kInternal, "FileWriter::write outside begin/commit for " + final_path_.string()};
  }
  hash_->update(chunk);
  bytes_ += chunk.size();
  if (buffer_.size() + chunk.size() <= kBufferBytes) {
    buffer_.append(chunk);
    return {};
  }
  if (auto flushed = flush_buffer(); !flushed) return flushed;
  if (chunk.size() >= kBufferBytes) {
    if (int error = write_all(fd_, chunk); error != 0) return fail(io_error("cannot write", part_path_, error));
    return {};
  }
  buffer_.append(chunk);
  return {};
}

Result<DownloadResult> FileWriter::commit(std::optional<std::string> expected_sha256) {
  if (state_ == State::kFailed) return failure_;
  if (state_ != State::kWriting) {
    return Error{ErrorCode::kInternal, "FileWriter::commit without a successful begin for " + final_path_.string()};
  }
  if (expected_sha256 && !is_sha256_hex(*expected_sha256)) {
    abandon();
    return Error{ErrorCode::kConfig, "expected sha256 '" + *expected_sha256 + "' for " + final_path_.string() +
                                         " is not 64 hex digits; kept " + part_path_.string()};
  }
  if (auto flushed = flush_buffer(); !flushed) return flushed.error();

  if (expected_total_ && bytes_ != *expected_total_) {
    std::string counts = "received " + std::to_string(bytes_) + " of " + std::to_string(*expected_total_) + " bytes";
    if (bytes_ < *expected_total_) {
      abandon();
      return fail(Error{ErrorCode::kTruncated,
                        final_path_.string() + ": " + counts + "; kept " + part_path_.string() + " to resume"});
    }
    remove_part_and_meta();
    return fail(Error{ErrorCode::kTruncated, final_path_.string() + ": " + counts +
                                                 " (more than Content-Length); deleted " + part_path_.string()});
  }

  std::string digest = hash_->hex_digest();
  if (expected_sha256 && ascii_lower(*expected_sha256) != digest) {
    remove_part_and_meta();
    return fail(Error{ErrorCode::kChecksum, "sha256 of " + final_path_.string() + " is " + digest + ", expected " +
                                                ascii_lower(*expected_sha256) + "; deleted " + part_path_.string()});
  }

  if (::fsync(fd_) != 0) return fail(io_error("cannot fsync", part_path_, errno));
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return fail(io_error("cannot close", part_path_, errno));
  if (::rename(part_path_.c_str(), final_path_.c_str()) != 0) {
    return fail(io_error("cannot rename " + part_path_.string() + " to", final_path_, errno));
  }
  if (int error = fsync_directory(final_path_.parent_path()); error != 0) {
    return fail(io_error("renamed, but cannot fsync the directory of", final_path_, error));
  }
  std::error_code ec;
  fs::remove(meta_path_, ec);
  state_ = State::kDone;
  return DownloadResult{final_path_, bytes_, std::move(digest), resumed_};
}

void FileWriter::abandon() {
  if (state_ == State::kWriting && fd_ >= 0 && !buffer_.empty()) {
    // Best effort: whatever reaches the disk is still a valid prefix to resume from.
    (void)write_all(fd_, buffer_);
    buffer_.clear();
  }
  close_fd();
  if (state_ == State::kWriting || state_ == State::kNew) state_ = State::kDone;
}

// ---- checksum lists and manifests -------------------------------------------------

namespace {

// coreutils: a name holding '\\', '\n' or '\r' is escaped and its line starts with '\\'.
std::string escape_sha256sum_name(std::string_view name, bool& escaped) {
  escaped = name.find_first_of("\\\n\r") != std::string_view::npos;
  if (!escaped) return std::string(name);
  std::string out;
  for (char c : name) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> unescape_sha256sum_name(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '\\') {
      out.push_back(name[i]);
      continue;
    }
    if (++i == name.size()) return std::nullopt;
    switch (name[i]) {
      case '\\':
        out.push_back('\\');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

// One line of a checksum list: {digest, name}, or nullopt if it is malformed.
std::optional<std::pair<std::string, std::string>> parse_checksum_line(std::string_view line) {
  bool escaped = !line.empty() && line.front() == '\\';
  if (escaped) line.remove_prefix(1);
  std::string digest;
  std::string_view name;
  constexpr std::string_view kTag = "SHA256 (";
  constexpr std::string_view kTagEnd = ") = ";
  if (line.substr(0, kTag.size()) == kTag) {
    std::size_t end = line.rfind(kTagEnd);
    if (end == std::string_view::npos || end < kTag.size()) return std::nullopt;
    name = line.substr(kTag.size(), end - kTag.size());
    digest = line.substr(end + kTagEnd.size());
  } else {
    if (line.size() < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) return std::nullopt;
    digest = line.substr(0, 64);
    name = line.substr(66);
  }
  if (!is_sha256_hex(digest) || name.empty()) return std::nullopt;
  std::string unescaped(name);
  if (escaped) {
    auto decoded = unescape_sha256sum_name(name);
    if (!decoded) return std::nullopt;
    unescaped = std::move(*decoded);
  }
  return std::make_pair(ascii_lower(digest), std::move(unescaped));
}

std::atomic<unsigned> temporary_counter{0};

}  // namespace

Result<std::map<std::string, std::string>> load_checksum_list(const fs::path& file) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) return io_error("cannot read checksum list", file, EISDIR);
  std::ifstream in(file, std::ios::binary);
  if (!in) return io_error("cannot open checksum list", file, errno);
  std::map<std::string, std::string> digests;
  std::map<std::string, std::size_t> first_line;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string trimmed = trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    auto entry = parse_checksum_line(line);
    std::string where = file.string() + ":" + std::to_string(number) + ": ";
    if (!entry) {
      return Error{ErrorCode::kConfig, where +
                                           "expected '<64 hex digits>  <name>' or 'SHA256 (<name>) = <64 hex "
                                           "digits>', got '" +
                                           line.substr(0, 80) + "'"};
    }
    auto [it, inserted] = digests.emplace(entry->second, entry->first);
    if (!inserted && it->second != entry->first) {
      return Error{ErrorCode::kConfig, where + entry->second + " already listed at line " +
                                           std::to_string(first_line[entry->second]) + " with a different digest"};
    }
    first_line.emplace(entry->second, number);
  }
  if (in.bad()) return io_error("cannot read checksum list", file, errno);
  return digests;
}

Result<void> write_sha256_manifest(const fs::path& file, const std::vector<DownloadResult>& results,
                                   const fs::path& root) {
  std::error_code ec;
  fs::path canonical_root = fs::weakly_canonical(root, ec);
  auto relative_name = [&](const fs::path& path) {
    for (const fs::path& base : {root, canonical_root}) {
      if (base.empty() || !is_within(base, path)) continue;
      fs::path relative = path.lexically_relative(base);
      if (!relative.empty() && relative != ".") return relative.string();
    }
    return path.string();
  };

  std::string text;
  for (const auto& result : results) {
    bool escaped = false;
    std::string name = escape_sha256sum_name(relative_name(result.path), escaped);
    if (escaped) text.push_back('\\');
    text += result.sha256_hex + "  " + name + "\n";
  }

  // A unique temporary per call, so two manifests written at once cannot share one;
  // created 0666 so the umask decides the final mode, as for any new file.
  fs::path temporary =
      with_suffix(file, ".tmp" + std::to_string(::getpid()) + "." + std::to_string(temporary_counter.fetch_add(1)));
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return io_error("cannot create", temporary, errno);
  int error = write_all(fd, text);
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(temporary.c_str(), file.c_str()) != 0) error = errno;
  if (error != 0) {
    fs::remove(temporary, ec);
    return io_error("cannot write manifest", file, error);
  }
  if (int sync_error = fsync_directory(file.parent_path()); sync_error != 0) {
    return io_error("wrote, but cannot fsync the directory of", file, sync_error);
  }
  return {};
}

std::string sha256_hex_of_file(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  detail::Sha256 hash;
  std::string chunk(kBufferBytes, '\0');
  while (true) {
    ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return {};
    }
    if (n == 0) break;
    hash.update(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  return hash.hex_digest();
}

}  // namespace fetchpool
