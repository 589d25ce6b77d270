// Sitemap parser (sitemaps.org 0.9): urlset, index, text, W3C datetimes, the
// protocol's limits, gzip (whole, cut, bombs), and hostile XML (billion
// laughs, XXE, external DTD) refused before anything is expanded or loaded.
#include <zlib.h>
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/sitemap.hpp"

using fetchpool::is_w3c_datetime;
using fetchpool::kSitemapMaxBytes;
using fetchpool::kSitemapMaxUrls;
using fetchpool::parse_sitemap;
using fetchpool::SitemapKind;
using fetchpool::SitemapLimits;
using fetchpool::SitemapParser;
using fetchpool::SitemapResult;
using namespace std::literals;

namespace {

constexpr std::string_view kHead =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";

std::string gzip(std::string_view text) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out;
  std::array<char, 65536> buffer{};
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  int status = Z_OK;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buffer.data());
    z.avail_out = static_cast<uInt>(buffer.size());
    status = deflate(&z, Z_FINISH);
    out.append(buffer.data(), buffer.size() - z.avail_out);
  } while (status == Z_OK);
  deflateEnd(&z);
  return out;
}

std::vector<std::string> locs(const SitemapResult& result) {
  std::vector<std::string> out;
  for (const auto& entry : result.entries) out.push_back(entry.loc);
  return out;
}

std::string url_lines(std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i)
    text += "<url><loc>http://example.com/p/" + std::to_string(i) + "</loc></url>\n";
  return text;
}

}  // namespace

TEST_CASE("urlset: loc and lastmod, foreign elements skipped", "[sitemap]") {
  const std::string body = std::string(kHead).substr(0, kHead.size() - 2) +
                           " xmlns:image=\"http://www.google.com/schemas/sitemap-image/1.1\">\n"
                           "<url><loc> http://example.com/a?x=1&amp;y=2 </loc><lastmod>2024-05-01</lastmod>"
                           "<changefreq>daily</changefreq><priority>0.5</priority>"
                           "<image:image><image:loc>http://example.com/img.png</image:loc></image:image></url>\n"
                           "<url><loc><![CDATA[http://example.com/b]]></loc>"
                           "<lastmod>2024-05-01T10:20:30.5+02:00</lastmod></url>\n"
                           "<url><loc>http://example.com/c</loc><lastmod>yesterday</lastmod></url>\n"
                           "<url><lastmod>2024</lastmod></url>\n"
                           "</urlset>\n";
  const auto result = parse_sitemap(body);
  CHECK_FALSE(result.error);
  CHECK(result.over_limit.empty());
  CHECK(result.kind == SitemapKind::kUrlset);
  CHECK(locs(result) ==
        std::vector<std::string>{"http://example.com/a?x=1&y=2", "http://example.com/b", "http://example.com/c"});
  REQUIRE(result.entries.size() == 3);
  CHECK(result.entries[0].lastmod == "2024-05-01");
  CHECK(result.entries[1].lastmod == "2024-05-01T10:20:30.5+02:00");
  CHECK(result.entries[2].lastmod.empty());  // not a W3C datetime
  CHECK(result.bad_lastmod == 1);
  CHECK(result.skipped == 1);  // the <url> without a <loc>
  CHECK(result.bytes == body.size());
}

TEST_CASE("sitemap index, and namespaces", "[sitemap]") {
  SECTION("index in the sitemaps.org namespace") {
    const auto result = parse_sitemap(
        "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
        "<sitemap><loc>http://example.com/s1.xml</loc><lastmod>2023-01-02T03:04Z</lastmod></sitemap>"
        "<sitemap><loc>http://example.com/s2.xml.gz</loc></sitemap></sitemapindex>");
    CHECK_FALSE(result.error);
    CHECK(result.kind == SitemapKind::kIndex);
    CHECK(locs(result) == std::vector<std::string>{"http://example.com/s1.xml", "http://example.com/s2.xml.gz"});
    CHECK(result.entries[0].lastmod == "2023-01-02T03:04Z");
  }
  SECTION("no namespace is accepted") {
    const auto result = parse_sitemap("<urlset><url><loc>http://example.com/</loc></url></urlset>");
    CHECK_FALSE(result.error);
    CHECK(locs(result) == std::vector<std::string>{"http://example.com/"});
  }
  SECTION("Google's 0.84 namespace is accepted") {
    const auto result = parse_sitemap(
        "<urlset xmlns=\"http://www.google.com/schemas/sitemap/0.84\"><url><loc>http://e.com/</loc></url></urlset>");
    CHECK_FALSE(result.error);
    CHECK(result.entries.size() == 1);
  }
  SECTION("another namespace is not a sitemap") {
    const auto result =
        parse_sitemap("<urlset xmlns=\"http://example.com/other\"><url><loc>http://e.com/</loc></url></urlset>");
    REQUIRE(result.error);
    CHECK(result.error->message.find("not a sitemap") != std::string::npos);
    CHECK(result.entries.empty());
  }
  SECTION("children in another namespace than the root are skipped") {
    const auto result = parse_sitemap(
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" xmlns:o=\"http://example.com/o\">"
        "<o:url><loc>http://e.com/1</loc></o:url><url><o:loc>http://e.com/2</o:loc><loc>http://e.com/3</loc></url>"
        "</urlset>");
    CHECK_FALSE(result.error);
    CHECK(locs(result) == std::vector<std::string>{"http://e.com/3"});
  }
  SECTION("an HTML page is not a sitemap") {
    const auto result = parse_sitemap("<html><body><a href=\"http://e.com/\">x</a></body></html>");
    REQUIRE(result.error);
    CHECK(result.error->message == "not a sitemap: the root element is <html>");
  }
}

TEST_CASE("text sitemaps: one URL per line", "[sitemap]") {
  const std::string long_line = "http://example.com/" + std::string(3000, 'x');
  const auto result = parse_sitemap("\xEF\xBB\xBFhttp://example.com/a\r\n\n  http://example.com/b  \n" + long_line +
                                    "\nhttp://example.com/\xC3\x28\nhttp://example.com/\xC3\xA9");
  CHECK_FALSE(result.error);
  CHECK(result.kind == SitemapKind::kText);
  CHECK(locs(result) ==
        std::vector<std::string>{"http://example.com/a", "http://example.com/b", "http://example.com/\xC3\xA9"});
  CHECK(result.skipped == 2);  // the over-long line and the one that is not UTF-8
}

TEST_CASE("W3C datetimes (https://www.w3.org/TR/NOTE-datetime)", "[sitemap]") {
  for (const auto* good : {"1997", "1997-07", "1997-07-16", "1997-07-16T19:20+01:00", "1997-07-16T19:20:30+01:00",
                           "1997-07-16T19:20:30.45+01:00", "1997-07-16T19:20:30Z", "2024-12-31T23:59:60-12:30"}) {
    INFO(good);
    CHECK(is_w3c_datetime(good));
  }
  for (const auto* bad : {"", "97", "1997-7", "1997-13", "1997-07-32", "1997-07-16T19:20", "1997-07-16 19:20:30Z",
                          "1997-07-16T24:00Z", "1997-07-16T19:20:30.Z", "1997-07-16T19:20:30+1:00",
                          "1997-07-16T19:20:30Zjunk", "1997-07-16junk", "July 16, 1997"}) {
    INFO(bad);
    CHECK_FALSE(is_w3c_datetime(bad));
  }
}

TEST_CASE("limits: 50,000 URLs per file, then reading stops", "[sitemap][limits]") {
  const std::string body = std::string(kHead) + url_lines(kSitemapMaxUrls + 10) + "</urlset>\n";
  SitemapParser parser;
  // Fed in 4 KiB pieces as a transfer would: the parser says when to stop.
  std::size_t fed = 0;
  while (fed < body.size() && parser.feed(std::string_view(body).substr(fed, 4096))) fed += 4096;
  CHECK(fed < body.size());
  const auto result = parser.finish();
  CHECK_FALSE(result.error);
  CHECK(result.entries.size() == kSitemapMaxUrls);
  CHECK(result.over_limit == "more than 50000 URLs");
  CHECK(result.entries.back().loc == "http://example.com/p/" + std::to_string(kSitemapMaxUrls - 1));
}

TEST_CASE("limits: exactly 50,000 URLs is within the limit", "[sitemap][limits]") {
  const auto result = parse_sitemap(std::string(kHead) + url_lines(kSitemapMaxUrls) + "</urlset>\n");
  CHECK_FALSE(result.error);
  CHECK(result.over_limit.empty());
  CHECK(result.entries.size() == kSitemapMaxUrls);
}

TEST_CASE("limits: uncompressed bytes, and a gzip bomb stops at the limit", "[sitemap][limits]") {
  SECTION("a small limit cuts a plain body") {
    const std::string body = std::string(kHead) + url_lines(100) + "</urlset>\n";
    const auto result = parse_sitemap(body, SitemapLimits{kSitemapMaxUrls, 1000});
    CHECK(result.bytes == 1000);
    CHECK(result.over_limit == "larger than 1000 bytes uncompressed");
    CHECK_FALSE(result.error);
    CHECK(!result.entries.empty());
    CHECK(result.entries.size() < 100);
  }
  SECTION("64 MiB of white space in a few hundred KiB of gzip") {
    std::string body = std::string(kHead) + url_lines(3);
    body.append(std::size_t{64} << 20, ' ');
    body += "</urlset>\n";
    const std::string coded = gzip(body);
    CHECK(coded.size() < body.size() / 100);  // a bomb: a few hundred KiB that inflate to 64 MiB
    const auto result = parse_sitemap(coded);
    CHECK(result.bytes == kSitemapMaxBytes);
    CHECK(result.over_limit == "larger than 52428800 bytes uncompressed");
    CHECK(result.entries.size() == 3);
  }
}

TEST_CASE("gzip: whole, in pieces, cut short, corrupt", "[sitemap][gzip]") {
  const std::string body = std::string(kHead) + url_lines(200) + "</urlset>\n";
  const std::string coded = gzip(body);
  SECTION("whole") {
    const auto result = parse_sitemap(coded);
    CHECK_FALSE(result.error);
    CHECK(result.entries.size() == 200);
    CHECK(result.bytes == body.size());
  }
  SECTION("one byte at a time, the same entries") {
    SitemapParser parser;
    for (const char c : coded) REQUIRE(parser.feed(std::string_view(&c, 1)));
    const auto result = parser.finish();
    CHECK_FALSE(result.error);
    CHECK(result.entries.size() == 200);
  }
  SECTION("cut short: an error, the entries before it kept") {
    const auto result = parse_sitemap(std::string_view(coded).substr(0, coded.size() / 2));
    REQUIRE(result.error);
    CHECK(result.error->message == "the gzip stream is cut short");
    CHECK(!result.entries.empty());
    CHECK(result.entries.size() < 200);
  }
  SECTION("corrupt") {
    std::string broken = coded;
    for (std::size_t i = 20; i < 60; ++i) broken[i] = static_cast<char>(broken[i] ^ 0x5A);
    const auto result = parse_sitemap(broken);
    REQUIRE(result.error);
    CHECK(result.error->message.find("gzip") != std::string::npos);
  }
  SECTION("two members one after the other") {
    const std::string first = std::string(kHead) + url_lines(2);
    const auto result = parse_sitemap(gzip(first) + gzip("</urlset>\n"));
    CHECK_FALSE(result.error);
    CHECK(result.entries.size() == 2);
  }
}

TEST_CASE("hostile XML: no DTD is read, no entity expanded, nothing loaded", "[sitemap][hostile]") {
  SECTION("billion laughs") {
    std::string body = "<?xml version=\"1.0\"?>\n<!DOCTYPE urlset [\n<!ENTITY lol \"lol\">\n";
    for (int i = 1; i <= 9; ++i) {
      body += "<!ENTITY lol" + std::to_string(i) + " \"";
      for (int k = 0; k < 10; ++k) body += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
      body += "\">\n";
    }
    body += "]>\n<urlset><url><loc>http://e.com/&lol9;</loc></url></urlset>\n";
    const auto result = parse_sitemap(body);
    REQUIRE(result.error);
    CHECK(result.error->message.find("<!DOCTYPE urlset> refused") == 0);
    CHECK(result.entries.empty());
    CHECK(result.bytes == body.size());
  }
  SECTION("XXE: an external entity naming /etc/passwd") {
    const auto result = parse_sitemap(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE urlset [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
        "<urlset><url><loc>http://e.com/&xxe;</loc></url></urlset>\n");
    REQUIRE(result.error);
    CHECK(result.error->message.find("refused") != std::string::npos);
    CHECK(result.entries.empty());
  }
  SECTION("an external DTD") {
    const auto result = parse_sitemap(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE urlset SYSTEM \"http://127.0.0.1:9/evil.dtd\">\n"
        "<urlset><url><loc>http://e.com/&ent;</loc></url></urlset>\n");
    REQUIRE(result.error);
    CHECK(result.entries.empty());
  }
  SECTION("an undeclared entity is an error, not a lookup") {
    const auto result = parse_sitemap("<urlset><url><loc>http://e.com/1</loc></url><url><loc>&x;</loc></url></urlset>");
    REQUIRE(result.error);
    CHECK(locs(result) == std::vector<std::string>{"http://e.com/1"});
  }
}

TEST_CASE("malformed XML: the entries before the error are kept", "[sitemap]") {
  SECTION("a mismatched tag") {
    const auto result = parse_sitemap(std::string(kHead) +
                                      "<url><loc>http://e.com/1</loc></url>\n<url><loc>http://e.com/2</loc></url>\n"
                                      "<url><loc>http://e.com/3</lo></url>\n<url><loc>http://e.com/4</loc></url>\n");
    REQUIRE(result.error);
    CHECK(result.error->message.find("XML line 5:") == 0);
    CHECK(locs(result) == std::vector<std::string>{"http://e.com/1", "http://e.com/2"});
  }
  SECTION("cut short") {
    const auto result = parse_sitemap(std::string(kHead) + "<url><loc>http://e.com/1</loc></url><url><loc>http:");
    REQUIRE(result.error);
    CHECK(locs(result) == std::vector<std::string>{"http://e.com/1"});
  }
  SECTION("invalid UTF-8") {
    const auto result =
        parse_sitemap(std::string(kHead) +
                      "<url><loc>http://e.com/1</loc></url>\n<url><loc>http://e.com/\xC3\x28</loc></url>\n"
                      "<url><loc>http://e.com/3</loc></url></urlset>\n");
    REQUIRE(result.error);
    CHECK(locs(result) == std::vector<std::string>{"http://e.com/1"});
  }
  SECTION("empty body") {
    const auto result = parse_sitemap("");
    REQUIRE(result.error);
    CHECK(result.error->message == "the body is empty");
  }
  SECTION("a <loc> of 2048 bytes or more is skipped") {
    const auto result = parse_sitemap(std::string(kHead) + "<url><loc>http://e.com/" + std::string(2100, 'a') +
                                      "</loc></url><url><loc>http://e.com/ok</loc></url></urlset>");
    CHECK_FALSE(result.error);
    CHECK(result.skipped == 1);
    CHECK(locs(result) == std::vector<std::string>{"http://e.com/ok"});
  }
}
