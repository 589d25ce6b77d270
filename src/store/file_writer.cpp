// The FileWriter part of download.hpp: one body streamed into NAME.part, hashed, resumed
// and renamed onto its final name.
#include "fetchpool/download.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

#include "base/ascii.hpp"
#include "base/unique_fd.hpp"
#include "store/download_internal.hpp"

namespace fetchpool {

namespace fs = std::filesystem;

using detail::iequals_lower;
using detail::io_error;
using detail::is_sha256_hex;
using detail::kDownloadBufferBytes;
using detail::kMetaSuffix;
using detail::kPartSuffix;
using detail::open_error;
using detail::to_ascii_lower;
using detail::with_suffix;
using detail::write_all;

namespace {

// Header values cannot hold line breaks, but a meta file must not be corrupted by a
// server that sends them anyway.
std::string one_line(std::string_view value) {
  std::string out(value);
  out.erase(std::remove_if(out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }), out.end());
  return out;
}

// write_all for two pieces in one writev(): the gathered bytes and the chunk
// that follows them, without copying the chunk. Returns 0 or an errno value.
int write_both(int fd, std::string_view first, std::string_view second) {
  // Bounded: every pass writes at least one byte or returns.
  while (!first.empty() || !second.empty()) {
    std::array<iovec, 2> parts{iovec{const_cast<char*>(first.data()), first.size()},
                               iovec{const_cast<char*>(second.data()), second.size()}};
    const bool skip_first = first.empty();
    const ssize_t n = ::writev(fd, parts.data() + (skip_first ? 1 : 0), skip_first ? 1 : 2);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    const auto written = static_cast<std::size_t>(n);
    const std::size_t from_first = std::min(written, first.size());
    first.remove_prefix(from_first);
    second.remove_prefix(written - from_first);
  }
  return 0;
}

bool is_etag(std::string_view validator) {
  return !validator.empty() && (validator.front() == '"' || validator.substr(0, 2) == "W/");
}

}  // namespace

FileWriter::FileWriter(fs::path final_path, bool resume, bool hash)
    : final_path_(std::move(final_path)),
      part_path_(with_suffix(final_path_, kPartSuffix)),
      meta_path_(with_suffix(final_path_, kMetaSuffix)),
      hash_(hash ? std::make_unique<detail::Sha256>() : nullptr) {
  if (!resume) return;
  // lstat: a part that is a symbolic link is not resumed (open_fresh then
  // refuses it).
  struct stat st {};
  if (::lstat(part_path_.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return;
  existing_size_ = static_cast<std::uint64_t>(st.st_size);
  load_meta();
}

// The saved validators. Read without following a symbolic link: a link to a
// local file would send that file's first line to the server as If-Range.
void FileWriter::load_meta() {
  const detail::UniqueFd fd(::open(meta_path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return;
  std::string text;
  char chunk[4096];
  ssize_t n = 0;
  // A meta file is two short lines; more than 64 KiB is not one of ours.
  while (text.size() < 65536 && (n = ::read(fd.get(), chunk, sizeof chunk)) > 0)
    text.append(chunk, static_cast<std::size_t>(n));
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line = std::string_view(text).substr(start, end - start);
    start = end + 1;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, eq);
    if (key == "etag") saved_etag_ = std::string(line.substr(eq + 1));
    if (key == "last-modified") saved_last_modified_ = std::string(line.substr(eq + 1));
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
  if (dir_fd_ >= 0) ::close(dir_fd_);
  dir_fd_ = -1;
}

// The directory was made by OutputDirectory::reserve, which checked that it
// resolves inside the output directory; O_NOFOLLOW refuses a link swapped in
// for its last component since.
Result<void> FileWriter::open_directory() {
  if (dir_fd_ >= 0) return {};
  const fs::path parent = final_path_.parent_path();
  dir_fd_ = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd_ < 0) return fail(open_error("cannot open the directory of", part_path_, errno));
  return {};
}

void FileWriter::remove_part_and_meta() {
  std::error_code ec;
  fs::remove(part_path_, ec);
  fs::remove(meta_path_, ec);
}

// Written to a temporary name and renamed, so a crash leaves the old meta or the new
// one, never half of one (which could pair a part with the wrong validator). Failure to
// save it is not fatal to the download (the only loss is a later resume's If-Range),
// except a symbolic link planted under either name: that is refused as an io error.
Result<void> FileWriter::save_meta(const ResponseHead& head) {
  std::string etag = head.etag.empty() ? saved_etag_ : one_line(head.etag);
  std::string last_modified = head.last_modified.empty() ? saved_last_modified_ : one_line(head.last_modified);
  const std::string meta_name = meta_path_.filename().string();
  const std::string temporary_name = meta_name + ".tmp";
  struct stat st {};
  if (::fstatat(dir_fd_, meta_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return fail(open_error("cannot save validators in", meta_path_, ELOOP));
  }
  if (etag.empty() && last_modified.empty()) {
    ::unlinkat(dir_fd_, meta_name.c_str(), 0);
    return {};
  }
  const int fd = detail::create_exclusive_at(dir_fd_, temporary_name, /*replace_regular=*/true);
  if (fd < 0) {
    if (errno == ELOOP) return fail(open_error("cannot save validators in", with_suffix(meta_path_, ".tmp"), ELOOP));
    return {};
  }
  const std::string text = "etag=" + etag + "\nlast-modified=" + last_modified + "\n";
  const bool written = write_all(fd, text) == 0;
  ::close(fd);
  if (!written || ::renameat(dir_fd_, temporary_name.c_str(), dir_fd_, meta_name.c_str()) != 0) {
    ::unlinkat(dir_fd_, temporary_name.c_str(), 0);
  }
  return {};
}

Result<void> FileWriter::open_fresh() {
  if (auto opened = open_directory(); !opened) return opened;
  // A part left by an earlier run is replaced (only --overwrite and a restarted
  // resume get here with one); a symbolic link there is refused.
  fd_ = detail::create_exclusive_at(dir_fd_, part_path_.filename().string(), /*replace_regular=*/true);
  if (fd_ < 0) return fail(open_error("cannot create", part_path_, errno));
  if (hash_) hash_->reset();
  bytes_ = 0;
  resumed_ = false;
  return {};
}

// Keeps the part's first `start` bytes (start <= existing_size_) and writes on from there.
Result<void> FileWriter::open_for_append(const ResponseHead& head, std::uint64_t start) {
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
  if (auto opened = open_directory(); !opened) return opened;
  fd_ = ::openat(dir_fd_, part_path_.filename().c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd_ < 0) return fail(open_error("cannot reopen", part_path_, errno));
  // Rebuild the hash from the bytes already on disk; reading them is the price of not
  // trusting a saved hash state that could disagree with the file. Without a hash,
  // the part's size alone shows that it still holds the bytes kept.
  if (!hash_) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return fail(io_error("cannot stat", part_path_, errno));
    if (static_cast<std::uint64_t>(st.st_size) < start) {
      return fail(Error{ErrorCode::kIo, part_path_.string() + " shrank while resuming (expected " +
                                            std::to_string(existing_size_) + " bytes)"});
    }
  } else {
    hash_->reset();
  }
  std::string chunk(hash_ ? std::min<std::uint64_t>(kDownloadBufferBytes, start) : 0, '\0');
  std::uint64_t remaining = hash_ ? start : 0;
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
  // The range overwrites anything past its start (a server may send from
  // earlier than asked): drop it.
  if (::ftruncate(fd_, static_cast<off_t>(start)) != 0 || ::lseek(fd_, static_cast<off_t>(start), SEEK_SET) < 0) {
    return fail(io_error("cannot position", part_path_, errno));
  }
  bytes_ = start;
  resumed_ = true;
  return {};
}

Result<void> FileWriter::begin(const ResponseHead& head) {
  if (state_ != State::kNew) {
    return Error{ErrorCode::kInternal, "FileWriter::begin called twice for " + final_path_.string()};
  }
  std::uint64_t start = 0;
  const bool identity = head.content_encoding.empty() || iequals_lower(head.content_encoding, "identity");
  if (head.status == 206) {
    // Checked against the request (RFC 9110 section 14.4, 15.3.7): a Range
    // was sent (existing_size_ > 0 is exactly when one is), the answer names
    // a valid range, it starts no later than asked (a gap cannot be filled),
    // and its length is the range's.
    if (existing_size_ == 0) {
      return fail(Error{ErrorCode::kProtocol, "206 Partial Content for " + final_path_.string() +
                                                  " to a request that asked for no range; not saved"});
    }
    if (!head.range_start || !head.range_end) {
      return fail(Error{ErrorCode::kProtocol, "206 for " + final_path_.string() + " without a valid Content-Range; " +
                                                  part_path_.string() + " left as it was"});
    }
    start = *head.range_start;
    if (start > existing_size_) {
      return fail(Error{ErrorCode::kProtocol, "206 for " + final_path_.string() + " starts at byte " +
                                                  std::to_string(start) + " but " + part_path_.string() + " holds " +
                                                  std::to_string(existing_size_) + "; left as it was"});
    }
    if (head.content_length && identity && *head.content_length != *head.range_end - start + 1) {
      return fail(Error{ErrorCode::kProtocol, "206 for " + final_path_.string() + ": Content-Length " +
                                                  std::to_string(*head.content_length) + " does not match its range " +
                                                  std::to_string(start) + "-" + std::to_string(*head.range_end)});
    }
    // An earlier start than asked is honoured: the part is kept up to it.
    if (auto opened = start > 0 ? open_for_append(head, start) : open_fresh(); !opened) return opened;
  } else if (head.status >= 200 && head.status < 300) {
    if (auto opened = open_fresh(); !opened) return opened;
  } else {
    return fail(Error{ErrorCode::kHttpStatus, "HTTP " + std::to_string(head.status) + " for " + final_path_.string() +
                                                  "; " + part_path_.string() + " left as it was"});
  }
  if (auto saved = save_meta(head); !saved) return saved;
  if (head.status == 206) {
    // The whole file's size is the range's total: a range that ends early
    // leaves a part to resume, never a complete file.
    if (identity) expected_total_ = head.range_total ? *head.range_total : *head.range_end + 1;
  } else if (head.content_length && identity) {
    expected_total_ = *head.content_length;
  }
  buffer_.reserve(kDownloadBufferBytes);
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
  if (hash_) hash_->update(chunk);
  bytes_ += chunk.size();
  if (chunk.size() < kDownloadBufferBytes) {
    if (buffer_.size() + chunk.size() > kDownloadBufferBytes) {
      if (auto flushed = flush_buffer(); !flushed) return flushed;
    }
    buffer_.append(chunk);
    return {};
  }
  // A big chunk (another caller's: libcurl hands at most 16 KiB) is written
  // where it is, behind whatever was gathered.
  const int error = write_both(fd_, buffer_, chunk);
  buffer_.clear();
  if (error != 0) return fail(io_error("cannot write", part_path_, error));
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

  std::string digest;
  if (hash_) {
    digest = hash_->hex_digest();
  } else if (expected_sha256) {
    auto read_back = hash_part_from_disk();
    if (!read_back) return read_back.error();
    digest = std::move(*read_back);
  }
  if (expected_sha256 && to_ascii_lower(*expected_sha256) != digest) {
    remove_part_and_meta();
    return fail(Error{ErrorCode::kChecksum, "sha256 of " + final_path_.string() + " is " + digest + ", expected " +
                                                to_ascii_lower(*expected_sha256) + "; deleted " + part_path_.string()});
  }

  if (::fsync(fd_) != 0) return fail(io_error("cannot fsync", part_path_, errno));
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return fail(io_error("cannot close", part_path_, errno));
  // renameat replaces whatever the final name is (a planted link included)
  // without following it.
  if (::renameat(dir_fd_, part_path_.filename().c_str(), dir_fd_, final_path_.filename().c_str()) != 0) {
    return fail(io_error("cannot rename " + part_path_.string() + " to", final_path_, errno));
  }
  if (::fsync(dir_fd_) != 0 && errno != EINVAL) {
    return fail(io_error("renamed, but cannot fsync the directory of", final_path_, errno));
  }
  ::unlinkat(dir_fd_, meta_path_.filename().c_str(), 0);
  state_ = State::kDone;
  return DownloadResult{final_path_, bytes_, std::move(digest), resumed_};
}

// The whole part through its own descriptor (fd_ is write-only when fresh).
Result<std::string> FileWriter::hash_part_from_disk() {
  const detail::UniqueFd fd(::openat(dir_fd_, part_path_.filename().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return fail(open_error("cannot read back", part_path_, errno));
  detail::Sha256 hash;
  std::string chunk(kDownloadBufferBytes, '\0');
  // Bounded by the part's size: bytes_ were written and nothing else appends to it.
  for (std::uint64_t total = 0; total <= bytes_;) {
    const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(io_error("cannot read back", part_path_, errno));
    if (n == 0) return hash.hex_digest();
    hash.update(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
    total += static_cast<std::uint64_t>(n);
  }
  return fail(Error{ErrorCode::kIo, part_path_.string() + " grew while it was checked"});
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

}  // namespace fetchpool
