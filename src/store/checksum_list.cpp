// The checksum part of download.hpp: sha256sum lists read, manifests written, files hashed.
#include "fetchpool/download.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <utility>

#include "base/ascii.hpp"
#include "base/unique_fd.hpp"
#include "store/download_internal.hpp"

namespace fetchpool {

namespace fs = std::filesystem;

using detail::fsync_directory;
using detail::io_error;
using detail::is_sha256_hex;
using detail::is_within;
using detail::kDownloadBufferBytes;
using detail::to_ascii_lower;
using detail::trim_http_ows;
using detail::with_suffix;
using detail::write_all;

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
  return std::make_pair(to_ascii_lower(digest), std::move(unescaped));
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
    const std::string_view trimmed = trim_http_ows(line);
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
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
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
  std::string chunk(kDownloadBufferBytes, '\0');
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
