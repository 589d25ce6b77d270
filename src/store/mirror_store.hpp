// MirrorStore: --mirror DIR, every page a crawl fetches saved as a copy of
// the site that browses offline (wget --mirror's layout), and refreshed by a
// later run with conditional requests.
//
// Layout: DIR/HOST[:PORT]/PATH, the port only when it is not the scheme's
// default; a URL whose path ends in '/' is saved as "index.html" there, and
// a query is kept in the file name after a '?' ("page.html?a=1"), as wget
// does on Unix. Each path segment (and the query) is written as
// mirror_file_name() describes: percent-escapes of characters that are plain
// in a file name are decoded ("a%20b.html" is "a b.html"), escapes of
// delimiters ('/', '?', '#', '&', ...) and of bytes no file name should hold
// (controls, NUL, invalid UTF-8, '%' itself) stay "%XX". So "..", "%2e%2e"
// and "%2f" can never name a parent or a separator, and two URLs that are
// not equivalent (RFC 3986 section 6.2.2) never share a file.
//
// Files: the directory DIR is opened once; every directory below it is
// created and opened with mkdirat/openat(O_DIRECTORY|O_NOFOLLOW) relative to
// its parent's descriptor, and every file is written to a fresh temporary in
// its directory (openat O_CREAT|O_EXCL|O_NOFOLLOW) and renamed over the final
// name (renameat, which replaces a symbolic link rather than following it).
// A symbolic link planted anywhere in DIR therefore makes a page fail with a
// clear error; nothing is ever written outside DIR. A reader sees the old
// file or the new one, never a part.
//
// Bodies are kept as the fetch delivered them: a crawl decodes gzip and
// deflate, so the files hold the decoded entity (no Content-Encoding applies
// to them). Only 2xx answers are saved.
//
// Refresh: DIR/.fetchpool-mirror.jsonl (one JSON object per saved URL: url,
// path, etag, last_modified, content_type; a name no host directory can
// take) is read by open() and rewritten by finish() (temporary + renameat).
// A URL it lists whose file is still there is fetched with If-None-Match /
// If-Modified-Since; a 304 keeps the file and hands its body back to the
// engine (stored()), which follows its links. A converted copy links "/" as
// "index.html": stored() gives such links (one that reaches a kept file
// under another URL than the file was saved for) that URL back, so a rerun
// asks for the URLs the site uses, not "/index.html".
//
// Link conversion (convert_links, after the crawl): in every HTML file saved
// or kept by this run, each link the page's link extractor finds whose
// target was mirrored is rewritten to a relative reference to that file
// (mirror_relative_link); links to anything else stay as they were.
//
// Thread-safety: add_request_headers, store and stored may be called from
// any number of threads (one mutex around the index; file I/O outside it).
// finish and convert_links run after the crawl, on one thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/unique_fd.hpp"
#include "fetchpool/html_links.hpp"
#include "fetchpool/page_store.hpp"
#include "fetchpool/thread_annotations.hpp"
#include "fetchpool/url.hpp"

namespace fetchpool {

// Longest file name component written (bytes). Longer ones keep a prefix
// and their extension around "~" and 16 hex digits of a hash of the whole
// name, which keeps them distinct; 200 leaves room under NAME_MAX (255) for
// the temporary's suffix.
inline constexpr std::size_t kMirrorMaxNameBytes = 200;
inline constexpr std::string_view kMirrorIndexName = ".fetchpool-mirror.jsonl";

// One URL path segment or query, in URL form, as a file name (see the header
// comment). Never empty, never "." or "..", never holds '/' or NUL.
std::string mirror_file_name(std::string_view component);

// The file `url` is saved as, relative to the mirror directory, '/'-separated.
std::string mirror_relative_path(const Url& url);
// The part below the host directory, for a path-and-query as sent on a
// request line ("/a/b.html?x=1" -> "a/b.html?x=1"): what a server of one
// host's directory looks up.
std::string mirror_site_path(std::string_view path_and_query);
// The same for a host directory name ("127.0.0.1:8080") and a path-and-query
// as sent on a request line ("/a/b.html?x=1").
std::string mirror_relative_path(std::string_view host_directory, std::string_view path_and_query);

// A relative reference from the file `from` to the file `to` (both relative
// paths as above), percent-encoded so that a browser reading `from` from disk
// opens `to` ('%', '?', '#', spaces and quotes escaped).
std::string mirror_relative_link(std::string_view from, std::string_view to);

// Rewrites the links of an HTML page in place: `rewrite` gets each link's
// target (resolved against <base> or `page_url`) and its value as written,
// and returns the new value (the fragment is kept) or nothing to leave it.
// A value the extractor had to decode first (a character reference such as
// "&amp;" in it) is left as it was: its bytes in the page are not the URL.
// Returns how many values changed.
using MirrorLinkRewrite = std::function<std::optional<std::string>(const Url& target, std::string_view href)>;
std::size_t mirror_rewrite_links(std::string& page, const Url& page_url, const MirrorLinkRewrite& rewrite,
                                 const LinkExtractOptions& options = {});

// Rewrites, in the HTML `page` saved at `page_path` for `page_url`, every
// link the extractor finds (after <base>) whose target is a key of `files`
// (URL -> mirror file) to mirror_relative_link(page_path, file), keeping its
// fragment; returns how many links changed.
std::size_t mirror_convert_links(std::string& page, const Url& page_url, std::string_view page_path,
                                 const std::unordered_map<std::string, std::string>& files,
                                 const LinkExtractOptions& options = {});

struct MirrorCounts {
  std::uint64_t written = 0;          // files written (new or replaced) by this run
  std::uint64_t not_modified = 0;     // 304s: files kept as they were
  std::uint64_t pages_converted = 0;  // HTML files rewritten by convert_links
  std::uint64_t links_converted = 0;  // links made relative
};

class MirrorStore final : public PageStore {
 public:
  // Creates `directory` if needed, opens it and reads its index.
  static Result<std::unique_ptr<MirrorStore>> open(const std::filesystem::path& directory);
  ~MirrorStore() override;
  MirrorStore(const MirrorStore&) = delete;
  MirrorStore& operator=(const MirrorStore&) = delete;

  void add_request_headers(const std::string& url, std::vector<std::string>& headers) override;
  Result<std::string> store(const std::string& url, const ResponseHead& head, std::string_view body) override;
  Result<StoredPage> stored(const std::string& url) override;

  // Rewrites links in the HTML files this run saved or kept (see the header
  // comment). Returns the first error; the other pages are still converted.
  Result<void> convert_links(const LinkExtractOptions& options = {});
  // Writes the index; call after the crawl (and after convert_links).
  Result<void> finish();

  MirrorCounts counts() const;
  const std::filesystem::path& root() const noexcept { return root_; }

 private:
  struct Entry {
    std::string path;
    std::string etag;
    std::string last_modified;
    std::string content_type;
    bool this_run = false;  // saved or confirmed (304) by this run
  };
  MirrorStore(std::filesystem::path root, detail::UniqueFd root_fd);
  Result<void> read_index();
  Result<void> write_file(const std::string& relative, std::string_view bytes) const;
  Result<std::string> read_file(const std::string& relative) const;
  bool file_exists(const std::string& relative) const;

  const std::filesystem::path root_;
  const detail::UniqueFd root_fd_;
  mutable Mutex mutex_;
  std::unordered_map<std::string, Entry> entries_ FETCHPOOL_GUARDED_BY(mutex_);            // by URL
  std::unordered_map<std::string, std::string> url_of_path_ FETCHPOOL_GUARDED_BY(mutex_);  // the index's, by file
  MirrorCounts counts_ FETCHPOOL_GUARDED_BY(mutex_);
};

}  // namespace fetchpool
