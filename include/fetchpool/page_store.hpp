// Where a crawl keeps the pages it fetched, beside its records: the engine's
// one hook for a copy of the site on disk (--mirror), kept generic so that
// the engine knows nothing of file layouts.
//
// The engine calls it from its worker threads, for page leases only (not
// robots.txt, not the files a DownloadOptions saves), so an implementation
// must be thread-safe. With no PageStore set the engine does no extra work.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/body_writer.hpp"
#include "fetchpool/error.hpp"

namespace fetchpool {

// A copy kept by an earlier run, handed back when the server answers 304.
struct StoredPage {
  std::string path;  // where it is kept, as the implementation names it (shown in the record)
  std::string content_type;
  std::string body;
};

class PageStore {
 public:
  virtual ~PageStore() = default;
  // Before a fetch of `url` (normalised): request header lines to add, such
  // as the validators of a copy kept earlier (If-None-Match, If-Modified-Since).
  virtual void add_request_headers(const std::string& url, std::vector<std::string>& headers) = 0;
  // A 2xx answer for `url`: its head, and its body as the fetch delivered it
  // (decoded when the fetch decoded it). Returns where it was kept.
  virtual Result<std::string> store(const std::string& url, const ResponseHead& head, std::string_view body) = 0;
  // A 304 for `url`: the copy kept earlier, so its links can be followed.
  virtual Result<StoredPage> stored(const std::string& url) = 0;
};

}  // namespace fetchpool
