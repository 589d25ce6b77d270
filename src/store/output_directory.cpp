// The OutputDirectory part of download.hpp: collision-free final names in one directory.
#include "fetchpool/download.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <unordered_set>
#include <utility>

#include "base/unique_fd.hpp"
#include "fetchpool/thread_annotations.hpp"
#include "store/download_internal.hpp"

namespace fetchpool {

namespace fs = std::filesystem;

using detail::io_error;
using detail::is_dot_name;
using detail::is_within;
using detail::kMetaSuffix;
using detail::kPartSuffix;

namespace {

constexpr int kMaxCollisionSuffix = 9999;

bool entry_exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

// Creates root/relative (-x's host and path directories) one component at a
// time, each made (mkdirat) and opened (O_DIRECTORY | O_NOFOLLOW) relative to
// the descriptor of the one before, starting at root's: no check-then-use by
// path, so a symbolic link is never followed whenever it is planted, even a
// link that points back inside root.
Result<void> make_directories_beneath(const fs::path& root, const fs::path& relative) {
  detail::UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return detail::open_error("cannot open output directory", root, errno);
  fs::path walked = root;
  for (const auto& component : relative) {
    const std::string name = component.string();
    if (name.empty() || name == ".") continue;
    walked /= component;
    if (::mkdirat(dir.get(), name.c_str(), 0777) != 0 && errno != EEXIST)
      return detail::open_error("cannot create directory", walked, errno);
    detail::UniqueFd next(::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (next.get() < 0) {
      // O_NOFOLLOW with O_DIRECTORY reports a link as ELOOP or ENOTDIR: tell which.
      const int error = errno;
      struct stat st {};
      const bool link = ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
      return detail::open_error("cannot create directory", walked, link ? ELOOP : error);
    }
    dir = std::move(next);
  }
  return {};
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

Result<OutputDirectory> OutputDirectory::open(const fs::path& root, const std::vector<fs::path>& reserved) {
  if (root.empty()) return Error{ErrorCode::kIo, "output directory: empty path"};
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return io_error("cannot create output directory", root, ec);
  if (!fs::is_directory(root, ec)) {
    return Error{ErrorCode::kIo, "output directory " + root.string() + " is not a directory"};
  }
  fs::path canonical = fs::canonical(root, ec);
  if (ec) return io_error("cannot resolve output directory", root, ec);
  auto registry = std::make_unique<Registry>();
  {
    MutexLock lock(registry->mutex);
    for (const auto& file : reserved) {
      // Spelled as reserve() spells its candidates: canonical root / relative path.
      const fs::path resolved = fs::weakly_canonical(fs::absolute(file, ec), ec);
      if (!ec && is_within(canonical, resolved)) registry->taken.insert(resolved.string());
    }
  }
  return OutputDirectory(std::move(canonical), std::move(registry));
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
  // Resolved first only to name the error: a symlinked directory inside root
  // that points elsewhere "escapes". The creation below is what keeps the
  // tree inside root, link or no link, planted before or during the walk.
  fs::path parent = root_ / relative.parent_path();
  std::error_code ec;
  fs::path resolved_parent = fs::weakly_canonical(parent, ec);
  if (ec) return io_error("cannot resolve", parent, ec);
  if (!is_within(root_, resolved_parent)) return outside(relative);
  if (auto made = make_directories_beneath(root_, relative.parent_path()); !made) return std::move(made).error();

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

}  // namespace fetchpool
