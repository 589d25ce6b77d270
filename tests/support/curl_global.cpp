// libcurl's global init is not thread-safe, so test programs that use curl
// run it once, before Catch2's main starts any test (and so any thread).
#include <curl/curl.h>

#include "fetchpool/fetcher.hpp"

namespace {

struct CurlGlobal {
  CurlGlobal() { fetchpool::init_curl_global(); }  // as the program does
  ~CurlGlobal() { curl_global_cleanup(); }
};

const CurlGlobal curl_global;

}  // namespace
