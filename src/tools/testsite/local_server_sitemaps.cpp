// The built-in site's sitemaps (ServerOptions::sitemaps names the first
// ones in robots.txt). Every entry is a page of the synthetic site, so a
// crawl of them can be checked against the server's request counts.
//
//   /sitemaps/index.xml          sitemap index: pages-a.xml, pages-b.xml.gz, pages-c.xml, pages.txt,
//                                nested-index.xml
//   /sitemaps/pages-a.xml        pages 1-10, <lastmod> in each W3C datetime form (page 10: an invalid
//                                one), plus an off-site URL (out of scope)
//   /sitemaps/pages-b.xml.gz     pages 11-20 as a gzip file (application/gzip), <lastmod> 2023-06-15
//   /sitemaps/pages-c.xml        pages 21-25 sent with Content-Encoding: gzip
//   /sitemaps/pages.txt          pages 26-30, one URL per line
//   /sitemaps/nested-index.xml   an index naming deep/pages-d.xml (pages 31-32)
//   /sitemaps/malformed.xml      pages 33-34, then a mismatched tag, then page 35
//   /sitemaps/outside.xml        /sitemaps/listed.html and page 40, which lies outside the sitemap's
//                                directory (sitemaps.org: dropped unless robots.txt named the sitemap)
//   /sitemaps/listed.html        a small page
//   /sitemaps/big.xml.gz?urls=N  N entries /big/<k>.html (default 50,010: over the protocol's limit), gzip
//   /sitemaps/hostile/laughs.xml billion laughs (nested internal entities)
//   /sitemaps/hostile/xxe.xml    external entities: file:///etc/passwd and /sitemaps/hostile/entity.txt
//   /sitemaps/hostile/dtd.xml    an external DTD: /sitemaps/hostile/evil.dtd
//   /sitemaps/hostile/entity.txt, /sitemaps/hostile/evil.dtd  served, so a test can count that no
//                                client ever asked for them
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "tools/testsite/local_server_internal.hpp"

namespace fetchpool::detail {
namespace {

constexpr std::string_view kXml = "application/xml";
constexpr std::string_view kOpen =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
constexpr std::string_view kIndexOpen =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex "
    "xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
constexpr std::uint64_t kBigDefault = 50'010;
constexpr std::uint64_t kBigMax = 200'000;

std::string url_entry(const std::string& loc, std::string_view lastmod = {}) {
  std::string out = "<url><loc>" + loc + "</loc>";
  if (!lastmod.empty()) out += "<lastmod>" + std::string(lastmod) + "</lastmod>";
  return out + "</url>\n";
}

std::string page_url(const std::string& base, std::uint32_t page) { return base + SyntheticSite::page_path(page); }

std::string index_of(const std::string& base, std::initializer_list<std::string_view> paths) {
  std::string out(kIndexOpen);
  for (const auto path : paths) out += "<sitemap><loc>" + base + std::string(path) + "</loc></sitemap>\n";
  return out + "</sitemapindex>\n";
}

// The lastmod forms of https://www.w3.org/TR/NOTE-datetime, one per page.
std::string_view lastmod_of(std::uint32_t page) {
  switch (page % 5) {
    case 0:
      return "2024-01";
    case 1:
      return "2024-01-02";
    case 2:
      return "2024-01-02T03:04+05:00";
    case 3:
      return "2024-01-02T03:04:05Z";
    default:
      return "2024-01-02T03:04:05.678-01:30";
  }
}

Reply xml_reply(std::string body) { return text_reply(200, std::move(body), kXml); }

Reply gzip_file_reply(const std::string& text) {
  Reply reply = text_reply(200, gzip_text(text), "application/gzip");
  return reply;
}

}  // namespace

std::string sitemap_robots_lines(const std::string& base_url) {
  std::string out;
  for (const auto* path : {"/sitemaps/index.xml", "/sitemaps/malformed.xml", "/sitemaps/hostile/laughs.xml",
                           "/sitemaps/hostile/xxe.xml", "/sitemaps/hostile/dtd.xml"})
    out += "Sitemap: " + base_url + path + "\n";
  return out;
}

Reply sitemap_reply(std::string_view path, std::string_view query, const std::string& base_url) {
  const std::string& b = base_url;
  if (path == "/sitemaps/index.xml") {
    return xml_reply(index_of(b, {"/sitemaps/pages-a.xml", "/sitemaps/pages-b.xml.gz", "/sitemaps/pages-c.xml",
                                  "/sitemaps/pages.txt", "/sitemaps/nested-index.xml"}));
  }
  if (path == "/sitemaps/pages-a.xml") {
    std::string body(kOpen);
    for (std::uint32_t page = 1; page <= 9; ++page) body += url_entry(page_url(b, page), lastmod_of(page));
    body += url_entry(page_url(b, 10), "last tuesday");
    body += url_entry("http://elsewhere.invalid/a.html", "2024-01-01");
    return xml_reply(body + "</urlset>\n");
  }
  if (path == "/sitemaps/pages-b.xml.gz") {
    std::string body(kOpen);
    for (std::uint32_t page = 11; page <= 20; ++page) body += url_entry(page_url(b, page), "2023-06-15");
    return gzip_file_reply(body + "</urlset>\n");
  }
  if (path == "/sitemaps/pages-c.xml") {
    std::string body(kOpen);
    for (std::uint32_t page = 21; page <= 25; ++page) body += url_entry(page_url(b, page));
    Reply reply = text_reply(200, gzip_text(body + "</urlset>\n"), kXml);
    reply.fields += "Content-Encoding: gzip\r\n";
    return reply;
  }
  if (path == "/sitemaps/pages.txt") {
    std::string body;
    for (std::uint32_t page = 26; page <= 30; ++page) body += page_url(b, page) + "\n";
    return text_reply(200, body);
  }
  if (path == "/sitemaps/nested-index.xml") return xml_reply(index_of(b, {"/sitemaps/deep/pages-d.xml"}));
  if (path == "/sitemaps/deep/pages-d.xml") {
    return xml_reply(std::string(kOpen) + url_entry(page_url(b, 31)) + url_entry(page_url(b, 32)) + "</urlset>\n");
  }
  if (path == "/sitemaps/malformed.xml") {
    return xml_reply(std::string(kOpen) + url_entry(page_url(b, 33)) + url_entry(page_url(b, 34)) + "<url><loc>" +
                     page_url(b, 35) + "</lo></url>\n" + url_entry(page_url(b, 36)) + "</urlset>\n");
  }
  if (path == "/sitemaps/outside.xml") {
    return xml_reply(std::string(kOpen) + url_entry(b + "/sitemaps/listed.html", "2022-02-02") +
                     url_entry(page_url(b, 40)) + "</urlset>\n");
  }
  if (path == "/sitemaps/listed.html") {
    return text_reply(200, "<!DOCTYPE html>\n<title>Listed</title>\n<p>listed by a sitemap</p>\n",
                      "text/html; charset=utf-8");
  }
  if (path == "/sitemaps/big.xml.gz") {
    std::uint64_t urls = kBigDefault;
    if (const auto text = query_param(query, "urls")) {
      std::uint64_t asked = 0;
      const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), asked);
      if (ec != std::errc() || end != text->data() + text->size()) return text_reply(400, "urls must be a number\n");
      urls = std::min(asked, kBigMax);
    }
    std::string body(kOpen);
    body.reserve(body.size() + urls * 64);
    for (std::uint64_t k = 0; k < urls; ++k) body += url_entry(b + "/big/" + std::to_string(k) + ".html");
    return gzip_file_reply(body + "</urlset>\n");
  }
  if (path == "/sitemaps/hostile/laughs.xml") {
    std::string body = "<?xml version=\"1.0\"?>\n<!DOCTYPE urlset [\n<!ENTITY lol0 \"lol\">\n";
    for (int level = 1; level <= 9; ++level) {
      body += "<!ENTITY lol" + std::to_string(level) + " \"";
      for (int k = 0; k < 10; ++k) body += "&lol" + std::to_string(level - 1) + ";";
      body += "\">\n";
    }
    return xml_reply(body + "]>\n" + std::string(kOpen.substr(kOpen.find("<urlset"))) + "<url><loc>" + b +
                     "/&lol9;</loc></url>\n</urlset>\n");
  }
  if (path == "/sitemaps/hostile/xxe.xml") {
    return xml_reply(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE urlset [\n<!ENTITY passwd SYSTEM \"file:///etc/passwd\">\n"
        "<!ENTITY remote SYSTEM \"" +
        b + "/sitemaps/hostile/entity.txt\">\n]>\n" + std::string(kOpen.substr(kOpen.find("<urlset"))) + "<url><loc>" +
        b + "/&passwd;</loc></url>\n<url><loc>" + b + "/&remote;</loc></url>\n</urlset>\n");
  }
  if (path == "/sitemaps/hostile/dtd.xml") {
    return xml_reply("<?xml version=\"1.0\"?>\n<!DOCTYPE urlset SYSTEM \"" + b + "/sitemaps/hostile/evil.dtd\">\n" +
                     std::string(kOpen.substr(kOpen.find("<urlset"))) + "<url><loc>" + b +
                     "/&evil;</loc></url>\n</urlset>\n");
  }
  if (path == "/sitemaps/hostile/entity.txt") return text_reply(200, "s/0/1.html");
  if (path == "/sitemaps/hostile/evil.dtd") return text_reply(200, "<!ENTITY evil \"s/0/2.html\">\n");
  return text_reply(404, "no such sitemap\n");
}

}  // namespace fetchpool::detail
