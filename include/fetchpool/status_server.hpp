// StatusServer: watch a running CrawlEngine from a browser or Prometheus.
//
// Serves, on its own threads (cpp-httplib's listener and a pool of two
// request threads, plus one sampler thread):
//   /status.json  counts, rates, in-flight URLs with their elapsed time,
//                 per-host queues, errors by class, latency percentiles and
//                 histogram, ETA, and the throughput history
//   /metrics      the same counters in the Prometheus text format
//                 (fetchpool_ prefix, _total counters, _seconds histogram)
//   /             a self-contained page (no external assets) that renders
//                 status.json and refreshes itself every second
// A shared crawl's status shows this node (its own records, rates, in-flight
// URLs) and the whole crawl (the shared frontier's counts).
//
// Everything is read through the engine's thread-safe accessors (atomics and
// the short locks of the frontier and the in-flight table); the server never
// holds a lock of its own across a request. A host that is not loopback is
// accepted only with a token, which every request must then carry
// (`Authorization: Bearer TOKEN`, or `?token=TOKEN` for a browser).
//
// Thread-safety: start() and the destructor on the owning thread; the
// renderers from any thread. The engine must outlive the server.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fetchpool/engine.hpp"
#include "fetchpool/error.hpp"

namespace fetchpool {

struct StatusAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (see StatusServer::url())
};

// "PORT", "HOST:PORT" or "[IPV6]:PORT"; a bare port is on 127.0.0.1.
Result<StatusAddress> parse_status_address(std::string_view text);
// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

struct StatusOptions {
  StatusAddress address;
  std::string token;  // required when address.host is not loopback
  std::string label = "fetchpool";
  std::chrono::milliseconds sample_interval{1000};  // throughput history resolution
  std::size_t history_samples = 600;
};

class StatusServer {
 public:
  // Binds and starts serving. kConfig: a non-loopback host without a token;
  // kIo: the address cannot be bound.
  static Result<std::unique_ptr<StatusServer>> start(const CrawlEngine& engine, StatusOptions options);
  ~StatusServer();  // stops and joins every thread
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  std::string url() const;  // "http://HOST:PORT/", with the port actually bound
  std::uint16_t port() const;

  // What the endpoints serve, for tests and embedding.
  std::string status_json() const;
  std::string metrics_text() const;
  std::string page_html() const;

  struct State;

 private:
  explicit StatusServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace fetchpool
