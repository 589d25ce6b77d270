// The files and the index of mirror_store.hpp: every file created relative to
// a directory descriptor, never through a symbolic link, replaced atomically.
#include "store/mirror_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "base/ascii.hpp"

namespace fetchpool {

namespace fs = std::filesystem;
using detail::UniqueFd;

namespace {

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

// One validator as a header value: a line break or other control character
// (an index edited by hand) would end the header early.
bool is_header_safe(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7F;
  });
}

std::vector<std::string> components_of(std::string_view relative) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t slash = relative.find('/', start);
    parts.emplace_back(
        relative.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

// The directory holding `relative` (below the directory `root_fd`), each
// level created (with `create`) and opened without following a symbolic
// link; `leaf` gets the file's own name.
Result<UniqueFd> open_parent(int root_fd, const fs::path& root, std::string_view relative, bool create,
                             std::string& leaf) {
  std::vector<std::string> parts = components_of(relative);
  for (const std::string& part : parts) {
    if (part.empty() || part == "." || part == "..")
      return Error{ErrorCode::kIo, "mirror path '" + std::string(relative) + "' has an empty, . or .. component"};
  }
  leaf = std::move(parts.back());
  parts.pop_back();
  UniqueFd current(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (current.get() < 0) return Error{ErrorCode::kIo, "mirror directory " + root.string() + ": " + errno_text(errno)};
  fs::path shown = root;
  for (const std::string& part : parts) {
    shown /= part;
    if (create && ::mkdirat(current.get(), part.c_str(), 0777) != 0 && errno != EEXIST)
      return Error{ErrorCode::kIo, "cannot create directory " + shown.string() + ": " + errno_text(errno)};
    const int fd = ::openat(current.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      // With O_DIRECTORY, Linux reports a link as ENOTDIR rather than ELOOP.
      struct stat st {};
      if (error == ELOOP ||
          (error == ENOTDIR && ::fstatat(current.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISLNK(st.st_mode)))
        return Error{ErrorCode::kIo, shown.string() + " is a symbolic link; not followed"};
      if (error == ENOTDIR) return Error{ErrorCode::kIo, shown.string() + " is not a directory (a file is in the way)"};
      return Error{ErrorCode::kIo, "cannot open directory " + shown.string() + ": " + errno_text(error)};
    }
    current.reset(fd);
  }
  return current;
}

bool is_html_type(std::string_view content_type) {
  const std::string lower = detail::to_ascii_lower(content_type.substr(0, 32));
  return lower.starts_with("text/html") || lower.starts_with("application/xhtml+xml");
}

}  // namespace

MirrorStore::MirrorStore(fs::path root, UniqueFd root_fd) : root_(std::move(root)), root_fd_(std::move(root_fd)) {}
MirrorStore::~MirrorStore() = default;

Result<std::unique_ptr<MirrorStore>> MirrorStore::open(const fs::path& directory) {
  if (directory.empty()) return Error{ErrorCode::kConfig, "--mirror: empty directory name"};
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) return Error{ErrorCode::kIo, "cannot create mirror directory " + directory.string() + ": " + ec.message()};
  // The directory the user named may itself be a link (a home on another
  // disk); everything below it is opened without following one.
  UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0)
    return Error{ErrorCode::kIo, "cannot open mirror directory " + directory.string() + ": " + errno_text(errno)};
  std::unique_ptr<MirrorStore> store(new MirrorStore(directory, std::move(fd)));
  if (auto read = store->read_index(); !read) return std::move(read).error();
  return store;
}

Result<void> MirrorStore::read_index() {
  const fs::path shown = root_ / std::string(kMirrorIndexName);
  std::string text;
  {
    const UniqueFd fd(
        ::openat(root_fd_.get(), std::string(kMirrorIndexName).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) return {};
      return Error{ErrorCode::kIo, "cannot read " + shown.string() + ": " +
                                       (errno == ELOOP ? std::string("it is a symbolic link") : errno_text(errno))};
    }
    char buffer[1 << 16];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error{ErrorCode::kIo, "cannot read " + shown.string() + ": " + errno_text(errno)};
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
  }
  MutexLock lock(mutex_);
  std::size_t line_number = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (line.empty()) continue;
    const auto bad = [&](const std::string& what) {
      return Error{ErrorCode::kConfig, shown.string() + " line " + std::to_string(line_number) + ": " + what +
                                           " (delete the file to fetch every page again)"};
    };
    const auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("url") || !json["url"].is_string())
      return bad("not a mirror entry");
    const std::string url = json["url"].get<std::string>();
    auto parsed = Url::parse(url);
    if (!parsed) return bad("'" + url + "' is not a URL");
    auto text_field = [&json](const char* name) {
      const auto it = json.find(name);
      return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    Entry entry;
    // The path is computed again, never taken from the file: an edited
    // index cannot point a read or a write anywhere else.
    entry.path = mirror_relative_path(*parsed);
    entry.etag = text_field("etag");
    entry.last_modified = text_field("last_modified");
    entry.content_type = text_field("content_type");
    url_of_path_[entry.path] = parsed->str();
    entries_[parsed->str()] = std::move(entry);
  }
  return {};
}

Result<void> MirrorStore::write_file(const std::string& relative, std::string_view bytes) const {
  std::string leaf;
  auto parent = open_parent(root_fd_.get(), root_, relative, true, leaf);
  if (!parent) return std::move(parent).error();
  const fs::path shown = root_ / relative;
  // A fresh name per write: workers never share one, and O_EXCL refuses
  // anything already there (a planted link included).
  static std::atomic<std::uint64_t> serial{0};
  std::string temporary;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temporary = ".fetchpool-" + std::to_string(::getpid()) + "-" +
                std::to_string(serial.fetch_add(1, std::memory_order_relaxed)) + ".tmp";
    fd = ::openat(parent->get(), temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0)
    return Error{ErrorCode::kIo, "cannot create a temporary file beside " + shown.string() + ": " + errno_text(errno)};
  const UniqueFd file(fd);
  if (const int error = detail::write_all(file.get(), bytes); error != 0) {
    ::unlinkat(parent->get(), temporary.c_str(), 0);
    return Error{ErrorCode::kIo, "cannot write " + shown.string() + ": " + errno_text(error)};
  }
  if (::renameat(parent->get(), temporary.c_str(), parent->get(), leaf.c_str()) != 0) {
    const int error = errno;
    ::unlinkat(parent->get(), temporary.c_str(), 0);
    if (error == EISDIR || error == ENOTEMPTY || error == EEXIST)
      return Error{ErrorCode::kIo, "cannot save " + shown.string() + ": a directory is in the way"};
    return Error{ErrorCode::kIo, "cannot save " + shown.string() + ": " + errno_text(error)};
  }
  return {};
}

Result<std::string> MirrorStore::read_file(const std::string& relative) const {
  std::string leaf;
  auto parent = open_parent(root_fd_.get(), root_, relative, false, leaf);
  if (!parent) return std::move(parent).error();
  const fs::path shown = root_ / relative;
  const UniqueFd fd(::openat(parent->get(), leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0)
    return Error{ErrorCode::kIo, "cannot read " + shown.string() + ": " +
                                     (errno == ELOOP ? std::string("it is a symbolic link") : errno_text(errno))};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return Error{ErrorCode::kIo, "cannot read " + shown.string() + ": not a regular file"};
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t have = 0;
  while (have < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + have, bytes.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{ErrorCode::kIo, "cannot read " + shown.string() + ": " + errno_text(errno)};
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
  }
  bytes.resize(have);
  return bytes;
}

bool MirrorStore::file_exists(const std::string& relative) const {
  std::string leaf;
  auto parent = open_parent(root_fd_.get(), root_, relative, false, leaf);
  if (!parent) return false;
  struct stat st {};
  return ::fstatat(parent->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

void MirrorStore::add_request_headers(const std::string& url, std::vector<std::string>& headers) {
  std::string path, etag, last_modified;
  {
    MutexLock lock(mutex_);
    const auto it = entries_.find(url);
    if (it == entries_.end()) return;
    path = it->second.path;
    etag = it->second.etag;
    last_modified = it->second.last_modified;
  }
  if (etag.empty() && last_modified.empty()) return;
  // A copy deleted since the last run is fetched whole.
  if (!file_exists(path)) return;
  if (!etag.empty() && is_header_safe(etag)) headers.push_back("If-None-Match: " + etag);
  if (!last_modified.empty() && is_header_safe(last_modified)) headers.push_back("If-Modified-Since: " + last_modified);
}

Result<std::string> MirrorStore::store(const std::string& url, const ResponseHead& head, std::string_view body) {
  auto parsed = Url::parse(url);
  if (!parsed) return std::move(parsed).error();
  std::string relative = mirror_relative_path(*parsed);
  if (auto written = write_file(relative, body); !written) return std::move(written).error();
  MutexLock lock(mutex_);
  Entry& entry = entries_[parsed->str()];
  entry.path = relative;
  entry.etag = head.etag;
  entry.last_modified = head.last_modified;
  entry.content_type = head.content_type;
  entry.this_run = true;
  ++counts_.written;
  return relative;
}

Result<StoredPage> MirrorStore::stored(const std::string& url) {
  StoredPage page;
  {
    MutexLock lock(mutex_);
    const auto it = entries_.find(url);
    if (it == entries_.end())
      return Error{ErrorCode::kProtocol, "HTTP 304 for " + url + ", which the mirror holds no copy of"};
    page.path = it->second.path;
    page.content_type = it->second.content_type;
  }
  auto body = read_file(page.path);
  if (!body) return std::move(body).error();
  page.body = std::move(*body);
  if (is_html_type(page.content_type)) {
    if (auto page_url = Url::parse(url)) {
      mirror_rewrite_links(page.body, *page_url, [this](const Url& target, std::string_view) {
        MutexLock lock(mutex_);
        if (entries_.count(target.str()) != 0) return std::optional<std::string>();
        const auto it = url_of_path_.find(mirror_relative_path(target));
        return it == url_of_path_.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
      });
    }
  }
  MutexLock lock(mutex_);
  entries_[url].this_run = true;
  ++counts_.not_modified;
  return page;
}

Result<void> MirrorStore::finish() {
  std::vector<std::pair<std::string, Entry>> sorted;
  {
    MutexLock lock(mutex_);
    sorted.assign(entries_.begin(), entries_.end());
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string text;
  for (const auto& [url, entry] : sorted) {
    nlohmann::json line = {{"url", url},
                           {"path", entry.path},
                           {"etag", entry.etag},
                           {"last_modified", entry.last_modified},
                           {"content_type", entry.content_type}};
    text += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text += '\n';
  }
  return write_file(std::string(kMirrorIndexName), text);
}

MirrorCounts MirrorStore::counts() const {
  MutexLock lock(mutex_);
  return counts_;
}

Result<void> MirrorStore::convert_links(const LinkExtractOptions& options) {
  std::unordered_map<std::string, std::string> targets;    // URL -> file, of this run's files
  std::vector<std::pair<std::string, std::string>> pages;  // URL, file of this run's HTML
  {
    MutexLock lock(mutex_);
    for (const auto& [url, entry] : entries_) {
      if (!entry.this_run) continue;
      targets.emplace(url, entry.path);
      if (is_html_type(entry.content_type)) pages.emplace_back(url, entry.path);
    }
  }
  std::sort(pages.begin(), pages.end());
  std::optional<Error> first_error;
  MirrorCounts converted;
  for (const auto& [url, path] : pages) {
    auto body = read_file(path);
    if (!body) {
      if (!first_error) first_error = std::move(body).error();
      continue;
    }
    auto page_url = Url::parse(url);
    if (!page_url) continue;
    const std::size_t links = mirror_convert_links(*body, *page_url, path, targets, options);
    if (links == 0) continue;
    if (auto written = write_file(path, *body); !written) {
      if (!first_error) first_error = std::move(written).error();
      continue;
    }
    ++converted.pages_converted;
    converted.links_converted += links;
  }
  {
    MutexLock lock(mutex_);
    counts_.pages_converted += converted.pages_converted;
    counts_.links_converted += converted.links_converted;
  }
  if (first_error) return *first_error;
  return {};
}

}  // namespace fetchpool
