// Owning pointers for libcurl handles (private to the library).
//
// Every libcurl object we hold goes into one of these so that no early return
// leaks a handle (cpr's CurlHolder does the same job with a struct). They are
// move-only; a handle belongs to one thread at a time, as libcurl requires
// ("You must never share the same handle in multiple threads",
// libcurl-thread.md). curl_global_init is not done here: the program's main()
// owns that, before any thread starts.
#pragma once

#include <curl/curl.h>

#include <memory>

namespace fetchpool::detail {

struct CurlUrlDeleter {
  void operator()(CURLU* handle) const noexcept { curl_url_cleanup(handle); }
};
struct CurlEasyDeleter {
  void operator()(CURL* handle) const noexcept { curl_easy_cleanup(handle); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* handle) const noexcept { curl_multi_cleanup(handle); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
struct CurlShareDeleter {
  void operator()(CURLSH* handle) const noexcept { curl_share_cleanup(handle); }
};
// For strings libcurl allocates and hands over (curl_url_get, curl_easy_escape).
struct CurlFreeDeleter {
  void operator()(char* text) const noexcept { curl_free(text); }
};

using CurlUrlPtr = std::unique_ptr<CURLU, CurlUrlDeleter>;
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using CurlSharePtr = std::unique_ptr<CURLSH, CurlShareDeleter>;
using CurlStringPtr = std::unique_ptr<char, CurlFreeDeleter>;

}  // namespace fetchpool::detail
