// bare_list: the floor of the worker model fetchpool is built on, for the
// benchmarks to print beside fetchpool and its peers. N threads, each with one
// libcurl easy handle created once and reused, take URLs from a shared list
// and run curl_easy_perform on them, discarding the bodies: no frontier, no
// records, no options beyond what a body sink needs. Whatever memory and CPU
// this costs per request or per worker, a program that does blocking I/O with
// one libcurl easy handle per thread cannot go below it with this libcurl.
// -H adds a request header (repeatable), so that the floor can send the same
// request bytes as the program it is compared with: libcurl 7.88 writes every
// byte of a request head through its own printf, at about a hundred
// instructions a byte.
//
// Usage: bare_list -i FILE -j N [-o SUMMARY] [-H 'Name: value']...
//        bare_list --version   (the libcurl it runs on: benchmarks compare builds
//                               of libcurl through LD_LIBRARY_PATH)
// Writes "bare_list: OK of TOTAL answered 2xx" to SUMMARY (else stdout); exit 0
// when every URL was.
#include <curl/curl.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

void work(const std::vector<std::string>& urls, curl_slist* headers, std::atomic<std::size_t>& next,
          std::atomic<std::size_t>& ok) {
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return;
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &discard);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM-based DNS timeouts
  if (headers != nullptr) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  for (std::size_t i = next.fetch_add(1); i < urls.size(); i = next.fetch_add(1)) {
    curl_easy_setopt(easy, CURLOPT_URL, urls[i].c_str());
    long status = 0;
    if (curl_easy_perform(easy) == CURLE_OK && curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status >= 200 && status < 300) {
      ok.fetch_add(1);
    }
  }
  curl_easy_cleanup(easy);
}

}  // namespace

int main(int argc, char** argv) {
  const char* list = nullptr;
  const char* summary = nullptr;
  long jobs = 16;
  std::vector<const char*> header_lines;
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("%s\n", curl_version());
    return 0;
  }
  for (int i = 1; i < argc; i += 2) {
    const bool has_value = i + 1 < argc;
    if (has_value && std::strcmp(argv[i], "-i") == 0) {
      list = argv[i + 1];
    } else if (has_value && std::strcmp(argv[i], "-j") == 0) {
      jobs = std::strtol(argv[i + 1], nullptr, 10);
    } else if (has_value && std::strcmp(argv[i], "-o") == 0) {
      summary = argv[i + 1];
    } else if (has_value && std::strcmp(argv[i], "-H") == 0) {
      header_lines.push_back(argv[i + 1]);
    } else {
      std::fprintf(stderr, "bare_list: %s: unknown option or missing value\n", argv[i]);
      return 2;
    }
  }
  if (list == nullptr || jobs < 1 || jobs > 10000) {
    std::fprintf(stderr, "usage: bare_list -i FILE -j N (1..10000) [-o SUMMARY] [-H 'Name: value']... | --version\n");
    return 2;
  }
  std::ifstream in(list);
  if (!in) {
    std::fprintf(stderr, "bare_list: %s: cannot open\n", list);
    return 2;
  }
  std::vector<std::string> urls;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) urls.push_back(line);
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  curl_slist* headers = nullptr;
  for (const char* line : header_lines) {
    curl_slist* longer = curl_slist_append(headers, line);
    if (longer == nullptr) {
      std::fprintf(stderr, "bare_list: out of memory\n");
      return 1;
    }
    headers = longer;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> ok{0};
  {
    std::vector<std::jthread> workers;
    const auto count = static_cast<std::size_t>(jobs) < urls.size() ? static_cast<std::size_t>(jobs) : urls.size();
    workers.reserve(count);
    for (std::size_t t = 0; t < count; ++t) workers.emplace_back([&] { work(urls, headers, next, ok); });
  }
  curl_slist_free_all(headers);
  curl_global_cleanup();
  std::FILE* out = summary != nullptr ? std::fopen(summary, "w") : stdout;
  if (out == nullptr) {
    std::fprintf(stderr, "bare_list: %s: cannot write\n", summary);
    return 2;
  }
  std::fprintf(out, "bare_list: %zu of %zu answered 2xx\n", ok.load(), urls.size());
  if (out != stdout) std::fclose(out);
  return ok.load() == urls.size() ? 0 : 1;
}
