// Fetches the URLs given on the command line with fetchpool's engine and
// prints one line per URL from a sink of its own: "STATUS URL (BYTES bytes)".
// Exits 0 when every URL was fetched with a 2xx/3xx answer.
#include <curl/curl.h>
#include <fetchpool/engine.hpp>
#include <fetchpool/fetcher.hpp>
#include <fetchpool/sinks.hpp>

#include <cstdint>
#include <iostream>
#include <mutex>

namespace {

// Workers call write() concurrently: a sink does its own locking.
class PrintingSink final : public fetchpool::ResultSink {
 public:
  void write(const fetchpool::ResultRecord& record) override {
    const std::lock_guard lock(mutex_);
    std::cout << record.status << ' ' << record.url << " (" << record.bytes << " bytes)\n";
    if (!record.ok()) ++failed_;
  }
  fetchpool::Result<void> flush() override {
    const std::lock_guard lock(mutex_);
    std::cout.flush();
    return {};
  }
  std::uint64_t failed() const {
    const std::lock_guard lock(mutex_);
    return failed_;
  }

 private:
  mutable std::mutex mutex_;
  std::uint64_t failed_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  // Once, before any thread (libcurl's rule): curl_global_init with libcurl's
  // allocations routed so that each worker's heap stays small (fetcher.hpp).
  if (!fetchpool::init_curl_global()) {
    std::cerr << "libcurl failed to initialise\n";
    return 2;
  }
  int rc = 0;
  {
    fetchpool::EngineOptions options;
    options.workers = 8;
    PrintingSink sink;
    fetchpool::CrawlEngine engine(options, sink);
    if (auto prepared = engine.prepare(); !prepared) {
      std::cerr << prepared.error().message << '\n';
      return 2;
    }
    engine.start();
    for (int i = 1; i < argc; ++i) engine.add(argv[i], static_cast<std::uint64_t>(i));
    engine.finish_input();
    const fetchpool::RunSummary summary = engine.wait();
    (void)sink.flush();
    std::cout << summary.stats.done << " fetched, " << sink.failed() << " failed\n";
    rc = sink.failed() == 0 ? 0 : 1;
  }
  curl_global_cleanup();
  return rc;
}
