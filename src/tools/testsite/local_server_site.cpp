// The synthetic site: which paths are pages, and each page's HTML.
//
// Everything is a pure function of SiteOptions (and of the base URL for the
// absolute links), so a crawl's expected result can be computed without a
// server: site_page_paths() is the manifest a crawl is compared against.
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "tools/testsite/local_server_internal.hpp"

namespace fetchpool {
namespace detail {
namespace {

constexpr std::uint32_t kPagesPerDirectory = 100;

// splitmix64: a tiny, well-mixed PRNG; deterministic across platforms, which
// std::uniform_int_distribution is not.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix(state_++); }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }

 private:
  std::uint64_t state_;
};

std::uint32_t directory_of(std::uint32_t page) { return page / kPagesPerDirectory; }

// Parses a decimal number that is all of `text` (no sign, no leading zeros).
std::optional<std::uint32_t> parse_index(std::string_view text) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// An href from page `from` to page `to`, in one of several equivalent forms,
// so that a crawler's URL resolution is exercised; all resolve to page_path(to).
std::string link_href(std::uint32_t from, std::uint32_t to, std::string_view base_url, Rng& rng) {
  const std::string target = SyntheticSite::page_path(to);
  const std::string leaf = std::to_string(to) + ".html";
  const std::string dir = std::to_string(directory_of(to));
  std::string href;
  switch (rng.below(4)) {
    case 0:  // relative to the current directory
      if (to == 0) {
        href = from == 0 ? "./" : "../../";
      } else if (from == 0) {
        href = "s/" + dir + "/" + leaf;
      } else if (directory_of(from) == directory_of(to)) {
        href = leaf;
      } else {
        href = "../" + dir + "/" + leaf;
      }
      break;
    case 1:  // root-relative
      href = target;
      break;
    case 2:  // absolute
      href = std::string(base_url) + target;
      break;
    default:  // through the parent; from "/" the ".." is clamped at the root (RFC 3986 5.2.4)
      if (to == 0) {
        href = from == 0 ? "../" : "../../";
      } else {
        href = from == 0 ? "../s/" + dir + "/" + leaf : "../" + dir + "/" + leaf;
      }
      break;
  }
  if (rng.below(4) == 0) href += "#sec" + std::to_string(rng.below(10));
  return href;
}

void append_link(std::string& html, std::string_view href, std::string_view text) {
  html += "<li><a href=\"";
  html += href;
  html += "\">";
  html += text;
  html += "</a></li>\n";
}

// Pads `html` with a paragraph so that, with `tail` appended, it is about
// `target` bytes long.
void pad(std::string& html, std::size_t target, std::string_view tail) {
  static constexpr std::string_view kWords =
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.\n";
  constexpr std::string_view kOpen = "<p>";
  constexpr std::string_view kClose = "</p>\n";
  const std::size_t fixed = html.size() + kOpen.size() + kClose.size() + tail.size();
  if (fixed >= target) return;
  std::size_t remaining = target - fixed;
  html += kOpen;
  while (remaining > 0) {
    const std::size_t n = std::min(remaining, kWords.size());
    html.append(kWords.substr(0, n));
    remaining -= n;
  }
  html += kClose;
}

}  // namespace

SyntheticSite::SyntheticSite(SiteOptions options, double error_rate) : options_(options), error_rate_(error_rate) {}

std::string SyntheticSite::page_path(std::uint32_t page) {
  if (page == 0) return "/";
  return "/s/" + std::to_string(directory_of(page)) + "/" + std::to_string(page) + ".html";
}

std::optional<std::uint32_t> SyntheticSite::page_for_path(std::string_view path) const {
  if (path == "/") return options_.pages > 0 ? std::optional<std::uint32_t>(0) : std::nullopt;
  constexpr std::string_view kPrefix = "/s/";
  constexpr std::string_view kSuffix = ".html";
  if (path.substr(0, kPrefix.size()) != kPrefix || path.size() < kPrefix.size() + kSuffix.size() ||
      path.substr(path.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  const std::string_view rest = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto dir = parse_index(rest.substr(0, slash));
  const auto page = parse_index(rest.substr(slash + 1));
  if (!dir || !page || *page == 0 || *page >= options_.pages || directory_of(*page) != *dir) return std::nullopt;
  return page;
}

std::optional<std::uint32_t> SyntheticSite::private_page_for_path(std::string_view path) const {
  constexpr std::string_view kPrefix = "/private/";
  constexpr std::string_view kSuffix = ".html";
  if (path.substr(0, kPrefix.size()) != kPrefix || path.size() < kPrefix.size() + kSuffix.size() ||
      path.substr(path.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  const auto page = parse_index(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
  if (!page || *page >= options_.pages || !has_private_link(*page)) return std::nullopt;
  return page;
}

bool SyntheticSite::page_fails(std::uint32_t page) const {
  if (page == 0 || error_rate_ <= 0.0) return false;
  // The top 53 bits as a uniform double in [0, 1).
  const double unit = static_cast<double>(mix(options_.seed ^ mix(page ^ 0x5EEDFA11ULL)) >> 11) * 0x1.0p-53;
  return unit < error_rate_;
}

std::string SyntheticSite::render_page(std::uint32_t page, std::string_view base_url) const {
  std::string html;
  html.reserve(options_.page_bytes + 1024);
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Page ";
  html += std::to_string(page);
  html += "</title>\n</head>\n<body>\n<h1>Page ";
  html += std::to_string(page);
  html += "</h1>\n<ul>\n";

  Rng rng(mix(options_.seed) ^ mix(page));
  std::uint32_t links = options_.links_per_page;
  if (page + 1 < options_.pages && links > 0) {
    // The chain 0 -> 1 -> 2 -> ... guarantees every page is reachable.
    append_link(html, link_href(page, page + 1, base_url, rng), "next");
    --links;
  }
  for (std::uint32_t n = 0; n < links; ++n) {
    const std::uint32_t to = rng.below(options_.pages);
    append_link(html, link_href(page, to, base_url, rng), "page " + std::to_string(to));
  }
  if (has_private_link(page)) {
    append_link(html, "/private/" + std::to_string(page) + ".html", "private");
  }
  append_link(html, "http://offsite.invalid/x", "off-site");
  append_link(html, "https://example.org/", "example");
  append_link(html, "mailto:webmaster@example.org", "mail");
  html += "</ul>\n";
  constexpr std::string_view kTail = "</body>\n</html>\n";
  pad(html, options_.page_bytes, kTail);
  html += kTail;
  return html;
}

std::string SyntheticSite::render_private_page(std::uint32_t page) const {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Private " +
         std::to_string(page) + "</title>\n</head>\n<body>\n<p>Robots should not see this.</p>\n" +
         "<p><a href=\"/\">home</a></p>\n</body>\n</html>\n";
}

}  // namespace detail

std::vector<std::string> site_page_paths(const SiteOptions& site) {
  std::vector<std::string> paths;
  paths.reserve(site.pages);
  for (std::uint32_t page = 0; page < site.pages; ++page) paths.push_back(detail::SyntheticSite::page_path(page));
  return paths;
}

std::vector<std::string> site_private_paths(const SiteOptions& site) {
  const detail::SyntheticSite synthetic(site, 0.0);
  std::vector<std::string> paths;
  for (std::uint32_t page = 0; page < site.pages; ++page) {
    if (synthetic.has_private_link(page)) paths.push_back("/private/" + std::to_string(page) + ".html");
  }
  return paths;
}

std::vector<std::string> site_error_paths(const SiteOptions& site, double error_rate) {
  const detail::SyntheticSite synthetic(site, error_rate);
  std::vector<std::string> paths;
  for (std::uint32_t page = 0; page < site.pages; ++page) {
    if (synthetic.page_fails(page)) paths.push_back(detail::SyntheticSite::page_path(page));
  }
  return paths;
}

}  // namespace fetchpool
