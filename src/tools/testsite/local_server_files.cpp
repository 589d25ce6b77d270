// LocalServer's directory mode (serve --root DIR) and the conditional-request
// rules it shares with the synthetic site.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/ascii.hpp"
#include "base/unique_fd.hpp"
#include "store/mirror_store.hpp"
#include "tools/testsite/local_server_internal.hpp"

namespace fetchpool::detail {
namespace {

// Files are read whole per request: a mirror's pages, not disk images.
constexpr off_t kMaxFileBytes = off_t{256} << 20;

std::optional<std::time_t> parse_http_date(std::string_view text) {
  std::tm tm{};
  const std::string copy(text);
  const char* end = ::strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return ::timegm(&tm);
}

std::string_view opaque_tag(std::string_view tag) {
  tag = trim_http_ows(tag);
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

std::string_view content_type_for(std::string_view name) {
  name = name.substr(0, name.find('?'));  // "page.html?x=1" is HTML
  const std::size_t dot = name.rfind('.');
  const std::string extension = dot == std::string_view::npos ? std::string() : to_ascii_lower(name.substr(dot + 1));
  if (extension == "html" || extension == "htm") return "text/html; charset=utf-8";
  if (extension == "css") return "text/css";
  if (extension == "js") return "text/javascript";
  if (extension == "txt") return "text/plain; charset=utf-8";
  if (extension == "json") return "application/json";
  if (extension == "xml") return "application/xml";
  if (extension == "svg") return "image/svg+xml";
  if (extension == "png") return "image/png";
  if (extension == "jpg" || extension == "jpeg") return "image/jpeg";
  if (extension == "gif") return "image/gif";
  if (extension == "pdf") return "application/pdf";
  return "application/octet-stream";
}

}  // namespace

bool not_modified(const HttpRequest& request, std::string_view etag, std::string_view last_modified) {
  const std::string_view if_none_match = request.field("If-None-Match");
  if (!if_none_match.empty()) {
    for (std::string_view list = if_none_match; !list.empty();) {
      const std::size_t comma = list.find(',');
      const std::string_view tag = opaque_tag(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      if (tag == "*" || tag == opaque_tag(etag)) return true;
    }
    return false;
  }
  const std::string_view if_modified_since = request.field("If-Modified-Since");
  if (if_modified_since.empty() || last_modified.empty()) return false;
  const auto since = parse_http_date(trim_http_ows(if_modified_since));
  const auto modified = parse_http_date(last_modified);
  return since && modified && *modified <= *since;
}

Reply not_modified_reply(std::string_view etag, std::string_view last_modified) {
  Reply reply;
  reply.status = 304;
  reply.no_length = true;
  if (!etag.empty()) reply.fields += "ETag: " + std::string(etag) + "\r\n";
  if (!last_modified.empty()) reply.fields += "Last-Modified: " + std::string(last_modified) + "\r\n";
  return reply;
}

DirectoryFiles::DirectoryFiles(const std::string& root)
    : root_fd_(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
  if (root_fd_ < 0)
    throw std::system_error(errno, std::system_category(), "LocalServer: cannot open directory " + root);
}

DirectoryFiles::~DirectoryFiles() { ::close(root_fd_); }

Reply DirectoryFiles::reply(const HttpRequest& request) const {
  std::string target(request.path);
  if (!request.query.empty()) target.append("?").append(request.query);
  const std::string relative = mirror_site_path(target);
  // Walk down one level at a time, never through a symbolic link.
  UniqueFd directory(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
  std::string_view rest = relative;
  for (std::size_t slash = rest.find('/'); slash != std::string_view::npos; slash = rest.find('/')) {
    const std::string part(rest.substr(0, slash));
    rest.remove_prefix(slash + 1);
    if (part.empty() || part == "." || part == "..") return text_reply(404, "not found\n");
    const int fd = ::openat(directory.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return text_reply(404, "not found\n");
    directory.reset(fd);
  }
  const std::string leaf(rest);
  const UniqueFd file(::openat(directory.get(), leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (file.get() < 0 || ::fstat(file.get(), &st) != 0) return text_reply(404, "not found\n");
  if (S_ISDIR(st.st_mode)) {
    // "/dir" names the directory whose page is "/dir/" (as every static server answers).
    Reply moved = text_reply(301, "moved\n");
    moved.fields += "Location: " + std::string(request.path) + "/\r\n";
    return moved;
  }
  if (!S_ISREG(st.st_mode)) return text_reply(404, "not found\n");
  if (st.st_size > kMaxFileBytes) return text_reply(500, "file too large for the test server\n");

  char etag[64];
  std::snprintf(etag, sizeof etag, "\"%llx-%llx\"", static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1'000'000'000ULL +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec));
  const std::string last_modified = http_date(st.st_mtim.tv_sec);
  if (not_modified(request, etag, last_modified)) return not_modified_reply(etag, last_modified);

  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t have = 0;
  while (have < bytes.size()) {
    const ssize_t n = ::read(file.get(), bytes.data() + have, bytes.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
  }
  bytes.resize(have);
  Reply reply = text_reply(200, std::move(bytes), content_type_for(leaf));
  reply.fields += "ETag: " + std::string(etag) + "\r\nLast-Modified: " + last_modified + "\r\n";
  return reply;
}

}  // namespace fetchpool::detail
