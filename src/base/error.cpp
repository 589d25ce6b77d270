#include "fetchpool/error.hpp"

#include <curl/curl.h>

namespace fetchpool {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidUrl:
      return "invalid_url";
    case ErrorCode::kUnsupportedScheme:
      return "unsupported_scheme";
    case ErrorCode::kDns:
      return "dns";
    case ErrorCode::kConnect:
      return "connect";
    case ErrorCode::kTls:
      return "tls";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kTooLarge:
      return "too_large";
    case ErrorCode::kTooManyRedirects:
      return "too_many_redirects";
    case ErrorCode::kRedirectRefused:
      return "redirect_refused";
    case ErrorCode::kTruncated:
      return "truncated";
    case ErrorCode::kHttpStatus:
      return "http_status";
    case ErrorCode::kNetwork:
      return "network";
    case ErrorCode::kProtocol:
      return "protocol_error";
    case ErrorCode::kRetryWaitTooLong:
      return "retry_after_too_long";
    case ErrorCode::kAborted:
      return "aborted";
    case ErrorCode::kRobotsDisallowed:
      return "robots_disallowed";
    case ErrorCode::kOutOfScope:
      return "out_of_scope";
    case ErrorCode::kDuplicate:
      return "duplicate";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kChecksum:
      return "checksum";
    case ErrorCode::kConfig:
      return "config";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

ErrorCode error_code_from_curl(int curl_code) noexcept {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_OK:
      return ErrorCode::kOk;
    case CURLE_UNSUPPORTED_PROTOCOL:
      return ErrorCode::kRedirectRefused;
    case CURLE_URL_MALFORMAT:
      return ErrorCode::kInvalidUrl;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return ErrorCode::kDns;
    case CURLE_COULDNT_CONNECT:
      return ErrorCode::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorCode::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
      return ErrorCode::kTls;
    case CURLE_FILESIZE_EXCEEDED:
      return ErrorCode::kTooLarge;
    case CURLE_TOO_MANY_REDIRECTS:
      return ErrorCode::kTooManyRedirects;
    case CURLE_PARTIAL_FILE:
      return ErrorCode::kTruncated;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_RANGE_ERROR:
      return ErrorCode::kProtocol;
    case CURLE_ABORTED_BY_CALLBACK:
      return ErrorCode::kAborted;
    case CURLE_WRITE_ERROR:
      return ErrorCode::kIo;
    case CURLE_OUT_OF_MEMORY:
      return ErrorCode::kInternal;
    default:
      return ErrorCode::kNetwork;
  }
}

ErrorCode error_code_from_curlu(int curlu_code) noexcept {
  switch (static_cast<CURLUcode>(curlu_code)) {
    case CURLUE_OK:
      return ErrorCode::kOk;
    case CURLUE_UNSUPPORTED_SCHEME:
      return ErrorCode::kUnsupportedScheme;
    case CURLUE_OUT_OF_MEMORY:
      return ErrorCode::kInternal;
    default:
      return ErrorCode::kInvalidUrl;
  }
}

}  // namespace fetchpool
