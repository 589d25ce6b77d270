// Where a response body goes while it streams in.
//
// The fetcher keeps small bodies (HTML pages) in memory; downloads pass a
// BodyWriter instead, so a 1 GiB file costs one receive buffer of memory, not
// 1 GiB. Shared by fetcher (which calls it) and download (which implements it
// for files), so neither has to know the other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fetchpool/error.hpp"

namespace fetchpool {

// The parts of the final response's header that decide what to do with its
// body. The fetcher follows no redirect (the engine does, hop by hop), unless
// FetchOptions::follow_redirects asks it to; then these describe the last
// response only.
struct ResponseHead {
  long status = 0;                              // HTTP status code, 0 before any response
  std::optional<std::uint64_t> content_length;  // of the encoded body, if the server sent one
  std::optional<std::uint64_t> range_start;     // first byte offset of a 206 Content-Range
  std::optional<std::uint64_t> range_end;       // its last byte offset (inclusive)
  std::optional<std::uint64_t> range_total;     // its complete length; none for "bytes 0-9/*"
  std::string content_type;
  std::string content_encoding;
  std::string content_disposition;
  std::string etag;
  std::string last_modified;
  std::string retry_after;  // raw header value: seconds or HTTP-date
  std::string location;
};

// Receives one response body. Not thread-safe: one writer per transfer.
// The fetcher calls begin() once, when the final response's head is known and
// before the first body byte (also for empty bodies), then write() zero or
// more times with decoded bytes. An error from either aborts the transfer and
// is returned from Fetcher::fetch unchanged.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  virtual Result<void> begin(const ResponseHead& head) = 0;
  virtual Result<void> write(std::string_view chunk) = 0;
};

// A body nobody reads (a `get` that neither saves, hashes nor parses): the
// fetcher still counts its bytes (FetchResponse::body_bytes), nothing is kept.
class DiscardBodyWriter final : public BodyWriter {
 public:
  Result<void> begin(const ResponseHead& /*head*/) override { return {}; }
  Result<void> write(std::string_view /*chunk*/) override { return {}; }
};

}  // namespace fetchpool
