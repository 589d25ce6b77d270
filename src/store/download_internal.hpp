// Private to the download component: what its four parts share (naming and
// Content-Disposition, the output directory, the file writer, checksum lists).
#pragma once

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "base/ascii.hpp"
#include "fetchpool/error.hpp"

namespace fetchpool::detail {

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

// Where small chunks gather before one write(): libcurl hands a body over in
// pieces of at most 16 KiB (CURL_MAX_WRITE_SIZE) whatever its receive buffer, so
// a 16 MiB file is 256 write()s, not 1024. A chunk at least this big (another
// caller's) is written as it comes, without a copy. Also the read-back chunk.
inline constexpr std::size_t kDownloadBufferBytes = std::size_t{64} * 1024;
inline constexpr std::string_view kPartSuffix = ".part";
inline constexpr std::string_view kMetaSuffix = ".part.meta";

inline Error io_error(const std::string& what, const std::filesystem::path& path, int error) {
  return Error{ErrorCode::kIo,
               what + " " + path.string() + ": " + std::error_code(error, std::generic_category()).message()};
}

inline Error io_error(const std::string& what, const std::filesystem::path& path, const std::error_code& ec) {
  return Error{ErrorCode::kIo, what + " " + path.string() + ": " + ec.message()};
}

// Creates `name` in the directory `dir_fd` exclusively (O_EXCL) and never
// through a symbolic link (O_NOFOLLOW): a link planted under the name is an
// error naming `shown`, not a write to wherever it points. With
// `replace_regular` an existing regular file of that name is unlinked first
// (a stale temporary, or a part being restarted). Returns the descriptor or
// an errno; ELOOP also stands for "a symbolic link is there".
inline int create_exclusive_at(int dir_fd, const std::string& name, bool replace_regular) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) {
      errno = ELOOP;
      return -1;
    }
    if (replace_regular && S_ISREG(st.st_mode) && ::unlinkat(dir_fd, name.c_str(), 0) != 0) return -1;
  }
  return ::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
}

inline Error open_error(const std::string& what, const std::filesystem::path& path, int error) {
  if (error == ELOOP)
    return Error{ErrorCode::kIo, what + " " + path.string() + ": it is a symbolic link; not followed"};
  return Error{ErrorCode::kIo,
               what + " " + path.string() + ": " + std::error_code(error, std::generic_category()).message()};
}

inline std::filesystem::path with_suffix(const std::filesystem::path& path, std::string_view suffix) {
  std::string name = path.string();
  name += suffix;
  return std::filesystem::path(name);
}

inline bool is_dot_name(std::string_view name) { return name.empty() || name == "." || name == ".."; }

// True if `path` is `root` or lies below it, component by component (so "/out2" is
// not inside "/out").
inline bool is_within(const std::filesystem::path& root, const std::filesystem::path& path) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  (void)path_it;
  return root_end == root.end();
}

inline bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) { return hex_digit_value(c) >= 0; });
}

}  // namespace fetchpool::detail
