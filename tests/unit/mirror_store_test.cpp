// Tests for the mirror component (store/mirror_store.hpp) on real files in a
// scratch directory: the names URLs get, hostile names, planted symbolic
// links, atomic replacement, the validator index and link conversion.
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/mirror_store.hpp"
#include "support/scratch_dir.hpp"

namespace fs = std::filesystem;
using fetchpool::mirror_convert_links;
using fetchpool::mirror_file_name;
using fetchpool::mirror_relative_link;
using fetchpool::mirror_relative_path;
using fetchpool::mirror_site_path;
using fetchpool::MirrorStore;
using fetchpool::ResponseHead;
using fetchpool::Url;
using fetchpool::testing::ScratchDir;

namespace {

std::string path_of(const std::string& url) {
  auto parsed = Url::parse(url);
  REQUIRE(parsed);
  return mirror_relative_path(*parsed);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

ResponseHead head_with(std::string etag, std::string last_modified, std::string type = "text/html") {
  ResponseHead head;
  head.status = 200;
  head.etag = std::move(etag);
  head.last_modified = std::move(last_modified);
  head.content_type = std::move(type);
  return head;
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

// No component of a mirror path may climb out or hide a separator.
void require_safe(const std::string& relative) {
  INFO(relative);
  REQUIRE(!relative.empty());
  REQUIRE(relative.front() != '/');
  REQUIRE(relative.find('\0') == std::string::npos);
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = relative.find('/', start);
    const std::string part = relative.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    REQUIRE(!part.empty());
    REQUIRE(part != ".");
    REQUIRE(part != "..");
    REQUIRE(part.size() <= fetchpool::kMirrorMaxNameBytes);
    for (const char c : part) REQUIRE(static_cast<unsigned char>(c) >= 0x20);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

}  // namespace

TEST_CASE("URLs map to wget's layout: HOST[:PORT]/PATH, index.html, the query after '?'", "[mirror][naming]") {
  CHECK(path_of("http://example.com/") == "example.com/index.html");
  CHECK(path_of("http://example.com/a/b.html") == "example.com/a/b.html");
  CHECK(path_of("http://example.com/a/") == "example.com/a/index.html");
  CHECK(path_of("http://example.com:8080/a") == "example.com:8080/a");
  CHECK(path_of("https://example.com:443/x") == "example.com/x");
  CHECK(path_of("https://example.com:80/x") == "example.com:80/x");  // not https's default
  CHECK(path_of("http://example.com/a/?q=1&b=2") == "example.com/a/index.html?q=1&b=2");
  CHECK(path_of("http://example.com/p.php?next=/x/y") == "example.com/p.php?next=%2Fx%2Fy");
  CHECK(path_of("http://Example.COM/Case") == "example.com/Case");
}

TEST_CASE("escapes of plain characters are decoded, delimiters and unsafe bytes stay %XX", "[mirror][naming]") {
  CHECK(mirror_file_name("a%20b.html") == "a b.html");
  CHECK(mirror_file_name("caf%C3%A9") == "caf\xC3\xA9");  // valid UTF-8 is kept
  CHECK(mirror_file_name("a%2Fb") == "a%2Fb");
  CHECK(mirror_file_name("a%2fb") == "a%2Fb");
  CHECK(mirror_file_name("a%26b") == "a%26b");
  CHECK(mirror_file_name("a&b") == "a&b");
  CHECK(mirror_file_name("a%3Fb") == "a%3Fb");
  CHECK(mirror_file_name("a%00b") == "a%00b");
  CHECK(mirror_file_name("a%0D%0Ab") == "a%0D%0Ab");
  CHECK(mirror_file_name("a%7Fb") == "a%7Fb");
  CHECK(mirror_file_name("a%25b") == "a%25b");
  CHECK(mirror_file_name("%FF%FE") == "%FF%FE");  // not UTF-8
  CHECK(mirror_file_name("%C2%85") == "%C2%85");  // a C1 control
  CHECK(mirror_file_name("%C3") == "%C3");        // a cut sequence
  CHECK(mirror_file_name(std::string("a\x01", 2)) == "a%01");
  CHECK(mirror_file_name("..") == "%2E%2E");
  CHECK(mirror_file_name("%2e%2e") == "%2E%2E");
  CHECK(mirror_file_name("%2E") == "%2E");
  CHECK(mirror_file_name("") == "%");
}

TEST_CASE("hostile request paths never leave the host directory", "[mirror][naming]") {
  for (const std::string& path : std::vector<std::string>{
           "/../../etc/passwd", "/%2e%2e/%2E%2E/etc/passwd", "/a/%2f..%2f..%2fetc", "/a%00b/c", "/./x", "/a//b",
           "/..%5c..%5cwin", "/%0d%0aSet-Cookie:x", "/x?a=/../../y", "/%C0%AE%C0%AE/z", "/a/.", "/a/..",
           "/" + std::string(5000, 'a') + ".html", "/" + std::string(300, '/') + "x"}) {
    const std::string relative = mirror_site_path(path);
    require_safe(relative);
    require_safe(mirror_relative_path("host:1", path));
  }
}

TEST_CASE("distinct URLs get distinct files, long names keep a hash and their extension", "[mirror][naming]") {
  const std::vector<std::string> urls = {"http://h/a&b",
                                         "http://h/a%26b",
                                         "http://h/a?x=1",
                                         "http://h/a%3Fx=1",
                                         "http://h/a/",
                                         "http://h/a%2F",
                                         "http://h/p?q=%26",
                                         "http://h/p?q=&",
                                         "http://h/%2E%2E",
                                         "http://h/a%25",
                                         "http://h/a%2525",
                                         "http://h/" + std::string(250, 'x') + "1.html",
                                         "http://h/" + std::string(250, 'x') + "2.html",
                                         "http://h/x?" + std::string(400, 'q') + "1",
                                         "http://h/x?" + std::string(400, 'q') + "2",
                                         "http://h:81/a&b"};
  std::set<std::string> paths;
  for (const auto& url : urls) {
    const std::string relative = path_of(url);
    require_safe(relative);
    paths.insert(relative);
  }
  CHECK(paths.size() == urls.size());
  const std::string long_name = mirror_file_name(std::string(250, 'x') + "1.html");
  CHECK(long_name.size() <= fetchpool::kMirrorMaxNameBytes);
  CHECK(long_name.ends_with(".html"));
  CHECK(long_name.find('~') != std::string::npos);
}

TEST_CASE("relative links between mirror files climb only as far as needed and escape what a browser decodes",
          "[mirror][naming]") {
  CHECK(mirror_relative_link("h/s/0/1.html", "h/index.html") == "../../index.html");
  CHECK(mirror_relative_link("h/s/0/1.html", "h/s/0/2.html") == "2.html");
  CHECK(mirror_relative_link("h/s/0/1.html", "h/s/1/2.html") == "../1/2.html");
  CHECK(mirror_relative_link("h/index.html", "h/s/0/2.html") == "s/0/2.html");
  CHECK(mirror_relative_link("h/index.html", "h/index.html") == "index.html");
  CHECK(mirror_relative_link("h/index.html", "h/a b.html?x=1&y=%26") == "a%20b.html%3Fx=1%26y=%2526");
  CHECK(mirror_relative_link("h/index.html", "g:81/x#y") == "../g%3A81/x%23y");
  CHECK(mirror_relative_link("h/index.html", "h/\"><script>") == "%22%3E%3Cscript%3E");
}

TEST_CASE("store writes the body under its name and the index brings the validators back", "[mirror][store]") {
  const ScratchDir scratch("mirror-store");
  const fs::path dir = scratch.path() / "m";
  {
    auto store = MirrorStore::open(dir);
    REQUIRE(store);
    auto saved = (*store)->store("http://127.0.0.1:8080/a/b.html", head_with("\"v1\"", "Mon, 01 Jan 2024 00:00:00 GMT"),
                                 "<p>one</p>");
    REQUIRE(saved);
    CHECK(*saved == "127.0.0.1:8080/a/b.html");
    REQUIRE((*store)->store("http://127.0.0.1:8080/", head_with("", "", "text/plain"), "root"));
    CHECK(read_file(dir / "127.0.0.1:8080/a/b.html") == "<p>one</p>");
    CHECK(read_file(dir / "127.0.0.1:8080/index.html") == "root");
    CHECK((*store)->counts().written == 2);
    REQUIRE((*store)->finish());
  }
  auto again = MirrorStore::open(dir);
  REQUIRE(again);
  std::vector<std::string> headers;
  (*again)->add_request_headers("http://127.0.0.1:8080/a/b.html", headers);
  CHECK(headers ==
        std::vector<std::string>{"If-None-Match: \"v1\"", "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT"});
  headers.clear();
  (*again)->add_request_headers("http://127.0.0.1:8080/", headers);  // no validators: nothing to ask
  CHECK(headers.empty());
  auto kept = (*again)->stored("http://127.0.0.1:8080/a/b.html");
  REQUIRE(kept);
  CHECK(kept->body == "<p>one</p>");
  CHECK(kept->path == "127.0.0.1:8080/a/b.html");
  CHECK(kept->content_type == "text/html");
  CHECK((*again)->counts().not_modified == 1);
  CHECK_FALSE((*again)->stored("http://127.0.0.1:8080/never"));

  // A copy deleted since: fetched whole, no validators.
  fs::remove(dir / "127.0.0.1:8080/a/b.html");
  headers.clear();
  (*again)->add_request_headers("http://127.0.0.1:8080/a/b.html", headers);
  CHECK(headers.empty());
}

TEST_CASE("a 200 replaces the file atomically: a reader holds the old inode or the new, no temporary stays",
          "[mirror][store]") {
  const ScratchDir scratch("mirror-replace");
  const fs::path dir = scratch.path() / "m";
  auto store = MirrorStore::open(dir);
  REQUIRE(store);
  REQUIRE((*store)->store("http://h/x.html", head_with("\"1\"", ""), "old contents"));
  std::ifstream reader(dir / "h/x.html", std::ios::binary);
  struct stat before {};
  REQUIRE(::stat((dir / "h/x.html").c_str(), &before) == 0);
  REQUIRE((*store)->store("http://h/x.html", head_with("\"2\"", ""), "new"));
  struct stat after {};
  REQUIRE(::stat((dir / "h/x.html").c_str(), &after) == 0);
  CHECK(before.st_ino != after.st_ino);  // renamed over, not rewritten in place
  const std::string seen{std::istreambuf_iterator<char>(reader), std::istreambuf_iterator<char>()};
  CHECK(seen == "old contents");
  CHECK(read_file(dir / "h/x.html") == "new");
  CHECK(names_in(dir / "h") == std::set<std::string>{"x.html"});
}

TEST_CASE("a symbolic link planted in the mirror is never followed", "[mirror][store][safety]") {
  const ScratchDir scratch("mirror-symlinks");
  const fs::path dir = scratch.path() / "m";
  const fs::path outside = scratch.path() / "outside";
  fs::create_directories(dir);
  fs::create_directories(outside);
  write_file(outside / "victim.html", "precious");

  SECTION("a host directory that is a link") {
    fs::create_directory_symlink(outside, dir / "h");
    auto store = MirrorStore::open(dir);
    REQUIRE(store);
    auto saved = (*store)->store("http://h/victim.html", head_with("", ""), "overwritten");
    REQUIRE_FALSE(saved);
    CHECK(saved.error().message.find("symbolic link") != std::string::npos);
    CHECK_FALSE((*store)->stored("http://h/victim.html"));
  }
  SECTION("a directory deeper down that is a link") {
    fs::create_directories(dir / "h/a");
    fs::create_directory_symlink(outside, dir / "h/a/b");
    auto store = MirrorStore::open(dir);
    REQUIRE(store);
    auto saved = (*store)->store("http://h/a/b/victim.html", head_with("", ""), "overwritten");
    REQUIRE_FALSE(saved);
    CHECK(saved.error().message.find("symbolic link") != std::string::npos);
  }
  SECTION("the file itself is a link: replaced by the page, the target untouched") {
    fs::create_directories(dir / "h");
    fs::create_symlink(outside / "victim.html", dir / "h/page.html");
    auto store = MirrorStore::open(dir);
    REQUIRE(store);
    REQUIRE((*store)->store("http://h/page.html", head_with("", ""), "page"));
    CHECK_FALSE(fs::is_symlink(dir / "h/page.html"));
    CHECK(read_file(dir / "h/page.html") == "page");
  }
  SECTION("the index is a link: open refuses it, and finish writes a file of its own") {
    write_file(outside / "index", "{\"url\":\"http://h/victim.html\"}\n");
    fs::create_symlink(outside / "index", dir / std::string(fetchpool::kMirrorIndexName));
    auto refused = MirrorStore::open(dir);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("symbolic link") != std::string::npos);
  }
  CHECK(read_file(outside / "victim.html") == "precious");
  CHECK(names_in(outside).count("victim.html") == 1);
  CHECK(names_in(outside).size() <= 2);
}

TEST_CASE("a hostile or broken index cannot redirect reads or inject headers", "[mirror][store][safety]") {
  const ScratchDir scratch("mirror-index");
  const fs::path dir = scratch.path() / "m";
  fs::create_directories(dir / "h");
  write_file(dir / "h/p.html", "kept");
  SECTION("the path in the index is ignored; the URL decides") {
    write_file(dir / std::string(fetchpool::kMirrorIndexName),
               "{\"url\":\"http://h/p.html\",\"path\":\"../../etc/passwd\",\"etag\":\"\\\"e\\\"\","
               "\"content_type\":\"text/html\"}\n");
    auto store = MirrorStore::open(dir);
    REQUIRE(store);
    auto kept = (*store)->stored("http://h/p.html");
    REQUIRE(kept);
    CHECK(kept->body == "kept");
    CHECK(kept->path == "h/p.html");
  }
  SECTION("a validator with a line break is not sent") {
    write_file(dir / std::string(fetchpool::kMirrorIndexName),
               "{\"url\":\"http://h/p.html\",\"etag\":\"\\\"e\\\"\\r\\nX-Evil: 1\",\"last_modified\":\"ok\"}\n");
    auto store = MirrorStore::open(dir);
    REQUIRE(store);
    std::vector<std::string> headers;
    (*store)->add_request_headers("http://h/p.html", headers);
    CHECK(headers == std::vector<std::string>{"If-Modified-Since: ok"});
  }
  SECTION("a line that is no entry names the file and the line") {
    write_file(dir / std::string(fetchpool::kMirrorIndexName), "{\"url\":\"http://h/p.html\"}\nnot json\n");
    auto store = MirrorStore::open(dir);
    REQUIRE_FALSE(store);
    CHECK(store.error().message.find(".fetchpool-mirror.jsonl line 2") != std::string::npos);
  }
}

TEST_CASE("link conversion rewrites links to mirrored pages only, in place", "[mirror][links]") {
  const std::unordered_map<std::string, std::string> files = {
      {"http://h/", "h/index.html"},
      {"http://h/s/0/1.html", "h/s/0/1.html"},
      {"http://h/q?a=1", "h/q?a=1"},
  };
  const auto page_url = Url::parse("http://h/s/0/2.html");
  REQUIRE(page_url);
  std::string page =
      "<!DOCTYPE html><title>t</title>"
      "<a href=\"http://h/\">home</a>"
      "<a href='1.html#top'>one</a>"
      "<a href=/q?a=1>query</a>"
      "<a href=\"http://elsewhere.invalid/\">away</a>"
      "<a href=\"/not/mirrored.html\">missing</a>"
      "<a href=\"/q?a=1&amp;b\">entity</a>"
      "<p>http://h/ in text stays</p>";
  const std::size_t changed = mirror_convert_links(page, *page_url, "h/s/0/2.html", files);
  CHECK(changed == 2);  // "1.html#top" is already the relative link
  CHECK(page ==
        "<!DOCTYPE html><title>t</title>"
        "<a href=\"../../index.html\">home</a>"
        "<a href='1.html#top'>one</a>"
        "<a href=../../q%3Fa=1>query</a>"
        "<a href=\"http://elsewhere.invalid/\">away</a>"
        "<a href=\"/not/mirrored.html\">missing</a>"
        "<a href=\"/q?a=1&amp;b\">entity</a>"
        "<p>http://h/ in text stays</p>");
  // Converting again changes nothing.
  CHECK(mirror_convert_links(page, *page_url, "h/s/0/2.html", files) == 0);
}

TEST_CASE("link conversion resolves against <base>", "[mirror][links]") {
  const std::unordered_map<std::string, std::string> files = {{"http://h/docs/a.html", "h/docs/a.html"}};
  const auto page_url = Url::parse("http://h/index.html");
  REQUIRE(page_url);
  std::string page = "<base href=\"/docs/\"><a href=\"a.html\">a</a>";
  CHECK(mirror_convert_links(page, *page_url, "h/index.html", files) == 1);
  CHECK(page == "<base href=\"/docs/\"><a href=\"docs/a.html\">a</a>");
}

TEST_CASE("a kept copy read back for a 304 links the URLs the site uses, not index.html", "[mirror][links]") {
  const ScratchDir scratch("mirror-restore");
  const fs::path dir = scratch.path() / "m";
  {
    auto store = MirrorStore::open(dir);
    REQUIRE(store);
    REQUIRE((*store)->store("http://h/", head_with("\"r\"", ""), "<a href=\"http://h/s/1.html\">one</a>"));
    REQUIRE((*store)->store("http://h/s/1.html", head_with("\"1\"", ""), "<a href=\"http://h/\">home</a>"));
    REQUIRE((*store)->convert_links());
    CHECK((*store)->counts().links_converted == 2);
    REQUIRE((*store)->finish());
  }
  CHECK(read_file(dir / "h/s/1.html") == "<a href=\"../index.html\">home</a>");
  auto again = MirrorStore::open(dir);
  REQUIRE(again);
  auto kept = (*again)->stored("http://h/s/1.html");
  REQUIRE(kept);
  CHECK(kept->body == "<a href=\"http://h/\">home</a>");
  auto root = (*again)->stored("http://h/");
  REQUIRE(root);
  CHECK(root->body == "<a href=\"s/1.html\">one</a>");                           // already the URL it names
  CHECK(read_file(dir / "h/s/1.html") == "<a href=\"../index.html\">home</a>");  // the file is not touched
}
