// libcurl's global init is not thread-safe, so test programs that use curl
// run it once, before Catch2's main starts any test (and so any thread).
#include <curl/curl.h>

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

const CurlGlobal curl_global;

}  // namespace
