// Watching a Fetcher's HTTP exchanges byte for byte (for archives: WARC).
//
// A Fetcher given an observer (Fetcher::set_observer) reports every request
// it sends and every response it reads: the request head as libcurl wrote it
// to the connection, the response head lines as read (status line and blank
// line included), and the body bytes as received after libcurl removed the
// chunked transfer coding but before any content coding is decoded. One
// fetch is usually one exchange; a fetch that follows redirects itself
// (FetchOptions::follow_redirects) or is answered with an interim 1xx reports
// several heads in sequence. A Fetcher without an observer pays one pointer
// test per callback, nothing more. Shared by fetcher (which calls it) and the
// WARC writer (which implements it), so neither has to know the other.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "fetchpool/error.hpp"

namespace fetchpool {

// Where a request went.
struct ExchangeTarget {
  std::string_view url;  // the URL this request was sent for
  std::string_view ip;   // the peer's address ("" if unknown)
};

// Receives one Fetcher's exchanges, in order, on that Fetcher's thread. Not
// thread-safe: one observer per Fetcher. Calls must not throw (they run
// inside libcurl's callbacks).
class ExchangeObserver {
 public:
  virtual ~ExchangeObserver() = default;
  // The whole request head as sent (request line, fields, blank line). A
  // request that libcurl sends again (a reused connection that had closed)
  // is reported again; the last one before a response is the one answered.
  virtual void request(const ExchangeTarget& target, std::string_view head) noexcept = 0;
  // One response head line with its line ending; a status line starts a new
  // response head (an interim 1xx's is replaced by the final one's).
  virtual void response_line(std::string_view line) noexcept = 0;
  // Body bytes of the response whose head ended last.
  virtual void response_body(std::string_view bytes) noexcept = 0;
  // The fetch is over: `error` is why it failed (a body cut short, a limit,
  // a stop), nullopt when the last response arrived whole.
  virtual void end(const std::optional<Error>& error) noexcept = 0;
};

// Makes one observer per Fetcher (per worker thread). Thread-safe.
class ExchangeObserverFactory {
 public:
  virtual ~ExchangeObserverFactory() = default;
  virtual std::unique_ptr<ExchangeObserver> make_observer() = 0;
};

}  // namespace fetchpool
