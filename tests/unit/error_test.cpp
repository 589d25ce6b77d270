#include <curl/curl.h>
#include <catch2/catch.hpp>

#include <string>

#include "fetchpool/error.hpp"

using fetchpool::Error;
using fetchpool::ErrorCode;
using fetchpool::Result;

TEST_CASE("Result holds a value or an error, never both", "[error]") {
  Result<int> good = 42;
  REQUIRE(good.ok());
  REQUIRE(static_cast<bool>(good));
  REQUIRE(*good == 42);

  Result<int> bad = Error{ErrorCode::kTimeout, "took too long"};
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.error().code == ErrorCode::kTimeout);
  REQUIRE(bad.error().message == "took too long");

  Result<void> done;
  REQUIRE(done.ok());
  Result<void> failed = Error{ErrorCode::kIo, "disk full"};
  REQUIRE_FALSE(failed.ok());
  REQUIRE(failed.error().code == ErrorCode::kIo);
}

TEST_CASE("CURLcode maps onto the error classes users filter on", "[error]") {
  REQUIRE(fetchpool::error_code_from_curl(CURLE_OK) == ErrorCode::kOk);
  REQUIRE(fetchpool::error_code_from_curl(CURLE_COULDNT_CONNECT) == ErrorCode::kConnect);
  REQUIRE(fetchpool::error_code_from_curl(CURLE_OPERATION_TIMEDOUT) == ErrorCode::kTimeout);
  REQUIRE(fetchpool::error_code_from_curl(CURLE_COULDNT_RESOLVE_HOST) == ErrorCode::kDns);
  REQUIRE(fetchpool::error_code_from_curl(CURLE_TOO_MANY_REDIRECTS) == ErrorCode::kTooManyRedirects);
  REQUIRE(fetchpool::error_code_from_curl(CURLE_PARTIAL_FILE) == ErrorCode::kTruncated);
  REQUIRE(fetchpool::error_code_from_curl(CURLE_ABORTED_BY_CALLBACK) == ErrorCode::kAborted);
  REQUIRE(fetchpool::error_code_from_curl(CURLE_RECV_ERROR) == ErrorCode::kNetwork);
  REQUIRE(fetchpool::error_code_from_curlu(CURLUE_UNSUPPORTED_SCHEME) == ErrorCode::kUnsupportedScheme);
  REQUIRE(fetchpool::error_code_from_curlu(CURLUE_BAD_HOSTNAME) == ErrorCode::kInvalidUrl);
}

TEST_CASE("every error class has a distinct stable name", "[error]") {
  REQUIRE(fetchpool::to_string(ErrorCode::kTimeout) == "timeout");
  REQUIRE(fetchpool::to_string(ErrorCode::kRobotsDisallowed) == "robots_disallowed");
  std::string seen;
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    auto name = std::string(fetchpool::to_string(static_cast<ErrorCode>(i)));
    REQUIRE_FALSE(name.empty());
    REQUIRE(seen.find("|" + name + "|") == std::string::npos);
    seen += "|" + name + "|";
  }
}
