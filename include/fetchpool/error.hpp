// Error values shared by every component.
//
// Expected failures (a refused connection, a malformed URL, a 404) are data,
// not exceptions: functions return Result<T>, which holds either a value or an
// Error{code, message}. The code is a coarse class users can count and filter
// on in result files ("timeout", "connect", ...); the message is the one-line
// human explanation. libcurl's CURLcode and CURLUcode map onto ErrorCode in
// exactly one place (error.cpp), as cpr does in error.h.
//
// Exceptions are kept for programming errors and for misuse at construction
// (a server that cannot bind), caught in the CLI and turned into exit codes.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace fetchpool {

enum class ErrorCode {
  kOk = 0,
  kInvalidUrl,         // the text is not a URL we can parse
  kUnsupportedScheme,  // parsed, but not http/https
  kDns,                // host name did not resolve
  kConnect,            // TCP connect refused or unreachable
  kTls,                // handshake or certificate failure
  kTimeout,            // connect, total or low-speed timeout
  kTooLarge,           // body exceeded the configured maximum
  kTooManyRedirects,   // redirect limit reached or a redirect loop
  kRedirectRefused,    // redirect to a scheme we do not follow (file://, ftp://)
  kTruncated,          // fewer bytes than Content-Length, or connection reset mid-body
  kHttpStatus,         // the server answered with an error status (4xx/5xx)
  kNetwork,            // any other transport failure (reset, refused answer)
  kProtocol,           // a malformed answer: bad or conflicting Content-Length, bad Content-Range, bad coding
  kRetryWaitTooLong,   // the server asked to wait (Retry-After) longer than the retry-wait cap
  kAborted,            // stopped by the user (SIGINT) or by shutdown
  kRobotsDisallowed,   // robots.txt forbids the URL
  kOutOfScope,         // the crawl scope rejected the URL
  kDuplicate,          // the same URL was already queued or fetched
  kIo,                 // local file system error
  kChecksum,           // downloaded bytes do not match the expected digest
  kConfig,             // bad configuration value
  kInternal,           // a bug: an invariant did not hold
};

// Stable lower-case name used in result files and stats ("timeout", "connect").
std::string_view to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

// Either a T or an Error. std::expected is C++23; this is the subset we need.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  explicit operator bool() const noexcept { return ok(); }
  bool ok() const noexcept { return std::holds_alternative<T>(data_); }

  T& value() & {
    assert(ok());
    return std::get<T>(data_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(data_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(data_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<Error>(data_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<Error>(std::move(data_));
  }

 private:
  std::variant<T, Error> data_;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  explicit operator bool() const noexcept { return ok_; }
  bool ok() const noexcept { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_{ErrorCode::kOk, {}};
  bool ok_ = true;
};

// Maps a libcurl transfer result onto our classes. `curl_code` is a CURLcode
// passed as int so that this header does not pull in <curl/curl.h>.
ErrorCode error_code_from_curl(int curl_code) noexcept;

// Maps a CURLUcode (URL API) onto our classes.
ErrorCode error_code_from_curlu(int curlu_code) noexcept;

}  // namespace fetchpool
