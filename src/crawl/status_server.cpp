#include "fetchpool/status_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "crawl/stats_json.hpp"
#include "crawl/status_page.hpp"
#include "fetchpool/thread_annotations.hpp"

namespace fetchpool {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::size_t kInFlightShown = 50;
constexpr std::size_t kHostsShown = 20;
constexpr std::size_t kRequestThreads = 2;  // a status page needs no more; each is a thread of ours
// Prometheus buckets for request latency, in seconds.
const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
// Rates are taken over the last samples spanning about this long.
constexpr auto kRateWindow = std::chrono::seconds(10);

struct Sample {
  double t_s = 0;
  std::uint64_t done = 0;
  std::uint64_t bytes = 0;
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Compares without an early exit, so the time taken does not tell how much
// of a guess was right.
bool same_token(std::string_view given, std::string_view expected) {
  unsigned diff = given.size() == expected.size() ? 0U : 1U;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i]) ^
            static_cast<unsigned char>(expected.empty() ? 0 : expected[i % expected.size()]);
  return diff == 0;
}

// The shortest text that reads back as the same double ("0.05", not
// "0.050000000000000003"), so bucket bounds read as written.
std::string prometheus_number(double v) {
  std::array<char, 32> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
  return ec == std::errc() ? std::string(buffer.data(), end) : std::string("NaN");
}

// Escapes a Prometheus label value.
std::string label_value(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<StatusAddress> parse_status_address(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return Error{ErrorCode::kConfig, "--status '" + std::string(text) + "': " + why};
  };
  StatusAddress address;
  std::string_view port_text = text;
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) return bad("no host before ':'");
    if (host.find_first_of(" /[]") != std::string_view::npos) return bad("not a host name or IP address");
    address.host = std::string(host);
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return bad("the port must be a number from 0 to 65535 (0: any free port)");
  address.port = static_cast<std::uint16_t>(port);
  return address;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

struct StatusServer::State {
  State(const CrawlEngine& e, StatusOptions o) : engine(e), options(std::move(o)), started(Clock::now()) {}

  const CrawlEngine& engine;
  const StatusOptions options;
  const Clock::time_point started;
  std::uint16_t port = 0;
  httplib::Server server;
  mutable Mutex mutex;
  std::deque<Sample> history FETCHPOOL_GUARDED_BY(mutex);
  std::condition_variable_any wake;
  std::jthread listener;
  std::jthread sampler;  // last: joined first

  void sample() {
    const auto snapshot = engine.live_stats().snapshot();
    Sample s{seconds(Clock::now() - started), snapshot.done, snapshot.bytes};
    MutexLock lock(mutex);
    history.push_back(s);
    while (history.size() > options.history_samples) history.pop_front();
  }

  void run_sampler(std::stop_token stop) {
    MutexLock lock(mutex);
    while (!stop.stop_requested()) {
      lock.unlock();
      sample();
      lock.lock();
      wake.wait_for(lock, stop, options.sample_interval, [] { return false; });
    }
  }

  bool authorised(const httplib::Request& request) const {
    if (options.token.empty()) return true;
    const std::string header = request.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.rfind(kBearer, 0) == 0 && same_token(std::string_view(header).substr(kBearer.size()), options.token))
      return true;
    return request.has_param("token") && same_token(request.get_param_value("token"), options.token);
  }

  json status() const;
  std::string metrics() const;
};

json StatusServer::State::status() const {
  const auto snapshot = engine.live_stats().snapshot();
  const auto counts = engine.frontier_counts();
  const auto in_flight = engine.in_flight(kInFlightShown);
  const auto hosts = engine.host_queues(kHostsShown);
  const double now_s = seconds(Clock::now() - started);
  std::vector<Sample> samples;
  {
    MutexLock lock(mutex);
    samples.assign(history.begin(), history.end());
  }
  samples.push_back(Sample{now_s, snapshot.done, snapshot.bytes});

  // Rates over the last kRateWindow (or since the start, when shorter).
  const Sample& last = samples.back();
  const Sample* first = &samples.front();
  for (const auto& s : samples)
    if (last.t_s - s.t_s <= seconds(kRateWindow)) {
      first = &s;
      break;
    }
  const double span = last.t_s - first->t_s;
  const double pages_per_s = span > 0 ? static_cast<double>(last.done - first->done) / span : 0.0;
  const double bytes_per_s = span > 0 ? static_cast<double>(last.bytes - first->bytes) / span : 0.0;

  json j;
  j["label"] = options.label;
  j["elapsed_s"] = now_s;
  // The counts as --stats-json writes them, then what only a live view has:
  // pages_per_s and bytes_per_s over the last kRateWindow (not the whole run),
  // the requests in flight, and the two fields status.json had before the
  // counts had one writer: `errors` (= by_error) and by_status keyed by the
  // raw status (0 = no response, -1 = outside 100..599).
  json node = counts_json(snapshot);
  node["in_flight"] = engine.in_flight_count();
  node["pages_per_s"] = pages_per_s;
  node["bytes_per_s"] = bytes_per_s;
  json by_status = json::object();
  for (const auto& [code, n] : snapshot.by_status) by_status[std::to_string(code)] = n;
  node["by_status"] = by_status;
  node["errors"] = node["by_error"];
  j["node"] = node;

  // The frontier's counts: a shared frontier's are the whole crawl's.
  json crawl;
  crawl["shared"] = engine.shared_frontier();
  crawl["queued"] = counts.queued;
  crawl["in_flight"] = counts.in_flight;
  crawl["delayed"] = counts.delayed;
  crawl["hosts"] = counts.hosts;
  crawl["seen"] = counts.seen;
  crawl["leased_total"] = counts.leased_total;
  crawl["finished"] = counts.finished;
  j["crawl"] = crawl;

  // A list's size is known once read; a crawl's remaining work is what waits now.
  const std::uint64_t total = engine.follows_links() ? 0 : engine.input_total();
  const std::uint64_t remaining = total > 0 ? (total > snapshot.done ? total - snapshot.done : 0)
                                            : counts.queued + counts.delayed + counts.in_flight;
  j["total"] = total > 0 ? json(total) : json(nullptr);
  j["remaining"] = remaining;
  j["eta_s"] = remaining == 0 ? json(0.0)
                              : (pages_per_s > 0 ? json(static_cast<double>(remaining) / pages_per_s) : json(nullptr));

  json urls = json::array();
  for (const auto& u : in_flight)
    urls.push_back({{"url", u.url}, {"robots", u.robots}, {"elapsed_s", seconds(u.elapsed)}});
  j["in_flight"] = urls;
  json host_list = json::array();
  for (const auto& h : hosts)
    host_list.push_back({{"host", h.host_key}, {"queued", h.queued}, {"in_flight", h.in_flight}});
  j["hosts"] = host_list;

  const auto histogram = engine.live_stats().latency_histogram(kLatencyBounds);
  json buckets = json::array();
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < histogram.counts.size(); ++i) {
    buckets.push_back({{"le_s", histogram.upper_bounds_s[i]}, {"count", histogram.counts[i] - below}});
    below = histogram.counts[i];
  }
  buckets.push_back({{"le_s", nullptr}, {"count", histogram.count - below}});
  j["latency_histogram"] = buckets;

  json history_json = json::array();
  for (const auto& s : samples) history_json.push_back({{"t_s", s.t_s}, {"done", s.done}, {"bytes", s.bytes}});
  j["history"] = history_json;
  return j;
}

std::string StatusServer::State::metrics() const {
  const auto snapshot = engine.live_stats().snapshot();
  const auto counts = engine.frontier_counts();
  const auto histogram = engine.live_stats().latency_histogram(kLatencyBounds);
  std::string out;
  const auto family = [&out](std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP fetchpool_";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE fetchpool_";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  const auto sample = [&out](std::string_view name, std::string_view labels, double value) {
    out += "fetchpool_";
    out += name;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
    out += prometheus_number(value);
    out += '\n';
  };
  const auto d = [](std::uint64_t v) { return static_cast<double>(v); };

  family("urls_total", "counter", "URLs finished by this process, by outcome.");
  sample("urls_total", "outcome=\"ok\"", d(snapshot.ok));
  sample("urls_total", "outcome=\"failed\"", d(snapshot.failed));
  sample("urls_total", "outcome=\"skipped\"", d(snapshot.skipped));
  family("responses_total", "counter", "Final responses by HTTP status code (0: no response).");
  for (const auto& [code, n] : snapshot.by_status)
    sample("responses_total", "code=\"" + std::to_string(code) + "\"", d(n));
  family("errors_total", "counter", "URLs that ended in an error, by error class.");
  for (const auto& [name, n] : snapshot.by_error) sample("errors_total", "class=\"" + label_value(name) + "\"", d(n));
  family("retries_total", "counter", "Attempts given back to be tried again.");
  sample("retries_total", "", d(snapshot.retries));
  family("received_bytes_total", "counter", "Body bytes received.");
  sample("received_bytes_total", "", d(snapshot.bytes));
  family("queued_urls", "gauge", "URLs waiting in the frontier (the whole crawl's when shared).");
  sample("queued_urls", "", d(counts.queued + counts.delayed));
  family("in_flight_requests", "gauge", "Leases held by workers (the whole crawl's when shared).");
  sample("in_flight_requests", "", d(counts.in_flight));
  family("hosts", "gauge", "Hosts seen by the frontier.");
  sample("hosts", "", d(counts.hosts));
  family("workers", "gauge", "Worker threads started.");
  sample("workers", "", d(engine.stats().workers_started));
  family("elapsed_seconds", "gauge", "Seconds since the status server started.");
  sample("elapsed_seconds", "", seconds(Clock::now() - started));
  family("request_duration_seconds", "histogram", "Time from a URL's lease to its record.");
  for (std::size_t i = 0; i < histogram.counts.size(); ++i)
    sample("request_duration_seconds_bucket", "le=\"" + prometheus_number(histogram.upper_bounds_s[i]) + "\"",
           d(histogram.counts[i]));
  sample("request_duration_seconds_bucket", "le=\"+Inf\"", d(histogram.count));
  sample("request_duration_seconds_sum", "", histogram.sum_s);
  sample("request_duration_seconds_count", "", d(histogram.count));
  return out;
}

StatusServer::StatusServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

StatusServer::~StatusServer() {
  state_->sampler.request_stop();
  state_->wake.notify_all();
  if (state_->sampler.joinable()) state_->sampler.join();
  state_->server.stop();
  if (state_->listener.joinable()) state_->listener.join();
}

Result<std::unique_ptr<StatusServer>> StatusServer::start(const CrawlEngine& engine, StatusOptions options) {
  if (!is_loopback_host(options.address.host) && options.token.empty())
    return Error{ErrorCode::kConfig, "--status " + options.address.host +
                                         ": serving beyond loopback needs an access token (--status-token or "
                                         "FETCHPOOL_STATUS_TOKEN)"};
  auto state = std::make_unique<State>(engine, std::move(options));
  State& s = *state;
  s.server.new_task_queue = [] { return new httplib::ThreadPool(kRequestThreads); };
  s.server.set_keep_alive_max_count(20);
  s.server.set_read_timeout(5);
  s.server.set_write_timeout(5);
  s.server.set_pre_routing_handler([&s](const httplib::Request& request, httplib::Response& response) {
    if (s.authorised(request)) return httplib::Server::HandlerResponse::Unhandled;
    response.status = 401;
    response.set_header("WWW-Authenticate", "Bearer");
    response.set_content("a valid token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN\n", "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.server.Get("/status.json", [&s](const httplib::Request&, httplib::Response& response) {
    response.set_header("Cache-Control", "no-store");
    response.set_content(s.status().dump(), "application/json");
  });
  s.server.Get("/metrics", [&s](const httplib::Request&, httplib::Response& response) {
    response.set_content(s.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.server.Get("/", [&s](const httplib::Request&, httplib::Response& response) {
    response.set_header("Cache-Control", "no-store");
    response.set_content(detail::render_status_page(s.options.label, s.status().dump()), "text/html; charset=utf-8");
  });

  const std::string& host = s.options.address.host;
  if (s.options.address.port == 0) {
    const int port = s.server.bind_to_any_port(host);
    if (port <= 0) return Error{ErrorCode::kIo, "--status " + host + ":0: cannot bind a port on that address"};
    s.port = static_cast<std::uint16_t>(port);
  } else {
    if (!s.server.bind_to_port(host, s.options.address.port))
      return Error{ErrorCode::kIo, "--status " + host + ":" + std::to_string(s.options.address.port) +
                                       ": cannot bind (address in use, or not one of this machine's)"};
    s.port = s.options.address.port;
  }
  s.sample();
  s.listener = std::jthread([&s] { s.server.listen_after_bind(); });
  // stop() only stops a server that is running: wait for it, so the
  // destructor cannot miss a listener that had yet to start (bounded).
  for (int i = 0; i < 5000 && !s.server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.sampler = std::jthread([&s](std::stop_token stop) { s.run_sampler(stop); });
  std::unique_ptr<StatusServer> server(new StatusServer(std::move(state)));
  if (!server->state_->server.is_running()) return Error{ErrorCode::kIo, "--status: the server did not start"};
  return server;
}

std::string StatusServer::url() const {
  const std::string& host = state_->options.address.host;
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(state_->port) + "/";
}

std::uint16_t StatusServer::port() const { return state_->port; }
std::string StatusServer::status_json() const { return state_->status().dump(); }
std::string StatusServer::metrics_text() const { return state_->metrics(); }
std::string StatusServer::page_html() const {
  return detail::render_status_page(state_->options.label, state_->status().dump());
}

}  // namespace fetchpool
