// `fetchpool crawl --mirror DIR`: the built-in site mirrored through the real
// engine, fetcher and files; the mirror served back by the built-in server's
// directory mode and crawled again; conditional refreshes.
#include <sys/stat.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/percent_coding.hpp"
#include "parse/link_scanner.hpp"
#include "store/mirror_store.hpp"
#include "support/cli_runner.hpp"
#include "tools/cli/exit_codes.hpp"
#include "tools/testsite/local_server.hpp"

namespace fs = std::filesystem;
using fetchpool::testing::run_fetchpool;
using fetchpool::testing::ScratchDir;

namespace {

std::vector<nlohmann::json> read_records(const fs::path& results) {
  std::ifstream in(results);
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every file under `dir`, by path relative to it, with its bytes.
std::map<std::string, std::string> files_under(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files[fs::relative(entry.path(), dir).string()] = read_file(entry.path());
  }
  return files;
}

struct FileId {
  ino_t inode;
  std::int64_t mtime_ns;
  bool operator==(const FileId&) const = default;
};

std::map<std::string, FileId> ids_under(const fs::path& dir) {
  std::map<std::string, FileId> ids;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    struct stat st {};
    REQUIRE(::stat(entry.path().c_str(), &st) == 0);
    ids[fs::relative(entry.path(), dir).string()] =
        FileId{st.st_ino, std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
  }
  return ids;
}

std::string host_directory(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

fetchpool::ServerOptions site(std::uint32_t pages) {
  fetchpool::ServerOptions options;
  options.site.pages = pages;
  options.site.links_per_page = 6;
  options.site.page_bytes = 1500;
  return options;
}

int crawl_into(const std::string& seed, const fs::path& mirror, const fs::path& results) {
  return run_fetchpool(
      {"-q", "crawl", seed, "--mirror", mirror.string(), "--convert-links", "-o", results.string(), "-j", "4"});
}

}  // namespace

TEST_CASE("crawl --mirror saves every page, converted links are relative and reach existing files",
          "[mirror][integration]") {
  fetchpool::LocalServer server(site(120));
  const ScratchDir scratch("mirror-crawl");
  const fs::path mirror = scratch.path() / "m";
  const int rc = crawl_into(server.base_url() + "/", mirror, scratch.path() / "r.jsonl");
  // The /private/ pages are disallowed by robots.txt: recorded as failures.
  CHECK((rc == fetchpool::cli::kExitOk || rc == fetchpool::cli::kExitSomeFailed));
  const std::string host = host_directory(server.port());
  const fs::path root = mirror / host;

  const auto pages = fetchpool::site_page_paths(site(120).site);
  for (const auto& path : pages) {
    INFO(path);
    CHECK(fs::is_regular_file(root / fetchpool::mirror_site_path(path)));
  }
  std::size_t with_path = 0;
  for (const auto& record : read_records(scratch.path() / "r.jsonl")) {
    if (record["status"] != 200) continue;
    const std::string url = record["url"];
    const std::string path = url.substr(server.base_url().size());
    CHECK(record["path"] == host + "/" + fetchpool::mirror_site_path(path));
    ++with_path;
  }
  CHECK(with_path == pages.size());

  std::size_t relative_links = 0;
  const std::string absolute_site = server.base_url() + "/s/";
  for (const auto& [name, bytes] : files_under(root)) {
    INFO(name);
    const auto raw = fetchpool::detail::scan_page(bytes, {});
    for (const std::string_view href : raw.hrefs) {
      // Every site page was mirrored, so no absolute link to one is left.
      CHECK_FALSE(href.starts_with(absolute_site));
      if (href.find("://") != std::string_view::npos || href.starts_with('/') || href.starts_with("mailto:")) continue;
      const std::string file = fetchpool::detail::percent_decode(href.substr(0, href.find('#')));
      const fs::path target = (root / name).parent_path() / file;
      INFO(href);
      CHECK(fs::is_regular_file(target));
      CHECK(fs::weakly_canonical(target).string().starts_with(fs::weakly_canonical(root).string()));
      ++relative_links;
    }
  }
  CHECK(relative_links >= pages.size() * 5);
}

TEST_CASE("the mirror served back by the built-in server crawls to the same pages, byte for byte",
          "[mirror][integration]") {
  fetchpool::LocalServer origin(site(80));
  const ScratchDir scratch("mirror-served");
  const fs::path first = scratch.path() / "first";
  crawl_into(origin.base_url() + "/", first, scratch.path() / "r1.jsonl");
  const fs::path first_root = first / host_directory(origin.port());

  fetchpool::ServerOptions back_options;
  back_options.root = first_root.string();
  fetchpool::LocalServer back(back_options);
  const fs::path second = scratch.path() / "second";
  crawl_into(back.base_url() + "/", second, scratch.path() / "r2.jsonl");

  const auto original = files_under(first_root);
  const auto copy = files_under(second / host_directory(back.port()));
  CHECK(original.size() == fetchpool::site_page_paths(site(80).site).size());
  REQUIRE(original.size() == copy.size());
  for (const auto& [name, bytes] : original) {
    INFO(name);
    REQUIRE(copy.count(name) == 1);
    CHECK(copy.at(name) == bytes);
  }
}

TEST_CASE("a rerun into the same mirror asks with the saved validators: all 304, nothing rewritten",
          "[mirror][integration]") {
  fetchpool::LocalServer server(site(60));
  const ScratchDir scratch("mirror-refresh");
  const fs::path mirror = scratch.path() / "m";
  crawl_into(server.base_url() + "/", mirror, scratch.path() / "r1.jsonl");
  const auto before = ids_under(mirror / host_directory(server.port()));
  const auto bytes_before = files_under(mirror / host_directory(server.port()));

  crawl_into(server.base_url() + "/", mirror, scratch.path() / "r2.jsonl");
  const auto pages = fetchpool::site_page_paths(site(60).site);
  std::set<std::string> not_modified;
  for (const auto& record : read_records(scratch.path() / "r2.jsonl")) {
    if (record["status"] == 304) {
      CHECK(record["path"].is_string());
      CHECK(record["ok"] == true);
      CHECK(record["title"].is_string());  // parsed from the kept copy
      not_modified.insert(record["url"].get<std::string>());
    }
    CHECK(record["status"] != 200);
    CHECK(record["status"] != 404);
  }
  // Every page was reached again through the links of the kept copies.
  CHECK(not_modified.size() == pages.size());
  for (const auto& path : pages) CHECK(server.requests_for(path) == 2);
  // The copies link "/" as "index.html"; read back, that is "/" again.
  CHECK(server.requests_for("/index.html") == 0);
  CHECK(server.requests_for("/s/0/index.html") == 0);
  CHECK(ids_under(mirror / host_directory(server.port())) == before);
  CHECK(files_under(mirror / host_directory(server.port())) == bytes_before);
}

TEST_CASE("a page changed on the server is fetched whole and replaced, the others answer 304",
          "[mirror][integration]") {
  // The origin is the built-in server's directory mode over a copy of a
  // mirror, so a file can change under it.
  fetchpool::LocalServer site_server(site(30));
  const ScratchDir scratch("mirror-changed");
  crawl_into(site_server.base_url() + "/", scratch.path() / "seed", scratch.path() / "r0.jsonl");
  const fs::path served = scratch.path() / "served";
  fs::copy(scratch.path() / "seed" / host_directory(site_server.port()), served, fs::copy_options::recursive);

  fetchpool::ServerOptions options;
  options.root = served.string();
  fetchpool::LocalServer origin(options);
  const fs::path mirror = scratch.path() / "m";
  crawl_into(origin.base_url() + "/", mirror, scratch.path() / "r1.jsonl");
  std::size_t first_fetched = 0;
  for (const auto& record : read_records(scratch.path() / "r1.jsonl")) first_fetched += record["status"] == 200;
  const fs::path kept = mirror / host_directory(origin.port());
  const auto before = ids_under(kept);
  REQUIRE(before.count("s/0/3.html") == 1);

  const std::string changed = read_file(served / "s/0/3.html") + "<!-- changed -->\n";
  std::ofstream(served / "s/0/3.html", std::ios::binary | std::ios::trunc) << changed;

  crawl_into(origin.base_url() + "/", mirror, scratch.path() / "r2.jsonl");
  std::size_t fetched = 0;
  std::size_t unchanged = 0;
  for (const auto& record : read_records(scratch.path() / "r2.jsonl")) {
    if (record["status"] == 200) {
      CHECK(record["url"] == origin.base_url() + "/s/0/3.html");
      CHECK(record["path"] == host_directory(origin.port()) + "/s/0/3.html");
      ++fetched;
    } else if (record["status"] == 304) {
      ++unchanged;
    }
  }
  CHECK(fetched == 1);
  // The copy links "/" as "index.html", so both URLs are fetched (one file).
  CHECK(unchanged == first_fetched - 1);
  CHECK(read_file(kept / "s/0/3.html") == changed);  // its links were relative already: nothing to convert
  const auto after = ids_under(kept);
  for (const auto& [name, id] : before) {
    INFO(name);
    if (name == "s/0/3.html") {
      CHECK_FALSE(after.at(name) == id);
    } else {
      CHECK(after.at(name) == id);
    }
  }
}

TEST_CASE("the directory mode never serves through a symbolic link", "[mirror][integration][safety]") {
  const ScratchDir scratch("mirror-serve-links");
  const fs::path root = scratch.path() / "root";
  fs::create_directories(root / "s");
  std::ofstream(scratch.path() / "secret.html") << "secret";
  std::ofstream(root / "s" / "ok.html") << "<title>ok</title>";
  fs::create_symlink(scratch.path() / "secret.html", root / "s" / "leak.html");
  fs::create_directory_symlink(scratch.path(), root / "up");
  fetchpool::ServerOptions options;
  options.root = root.string();
  fetchpool::LocalServer server(options);
  const fs::path results = scratch.path() / "r.jsonl";
  run_fetchpool({"-q", "get", server.base_url() + "/s/ok.html", server.base_url() + "/s/leak.html",
                 server.base_url() + "/up/secret.html", server.base_url() + "/%2e%2e/secret.html",
                 server.base_url() + "/s/%2e%2e/%2e%2e/secret.html", "-o", results.string()});
  std::map<std::string, long> status;
  for (const auto& record : read_records(results)) {
    // "/%2e%2e/secret.html" normalises to "/secret.html": its twin is a duplicate, never fetched.
    if (record["status"].is_number()) status[record["url"]] = record["status"].get<long>();
  }
  CHECK(status.at(server.base_url() + "/s/ok.html") == 200);
  CHECK(status.at(server.base_url() + "/s/leak.html") == 404);
  CHECK(status.at(server.base_url() + "/up/secret.html") == 404);
  for (const auto& [url, code] : status) {
    if (url.find("secret") != std::string::npos) CHECK(code == 404);
  }
}

TEST_CASE("crawl --convert-links without --mirror is a usage error", "[mirror][integration]") {
  CHECK(run_fetchpool({"-q", "crawl", "http://127.0.0.1:9/", "--convert-links"}) == fetchpool::cli::kExitUsage);
}
