// Link conversion of mirror_store.hpp: the link extractor's own tokenizer
// finds each link value; those that point at mirrored files are replaced in
// place, byte for byte everywhere else.
#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "parse/link_scanner.hpp"
#include "store/mirror_store.hpp"

namespace fetchpool {

std::size_t mirror_rewrite_links(std::string& page, const Url& page_url, const MirrorLinkRewrite& rewrite,
                                 const LinkExtractOptions& options) {
  struct Replacement {
    std::size_t at;
    std::size_t length;
    std::string text;
  };
  std::vector<Replacement> replacements;
  {
    LinkExtractOptions every = options;
    every.max_links = std::max<std::size_t>(options.max_links, 1'000'000);
    const detail::RawPage raw = detail::scan_page(page, every);
    Url base = page_url;
    if (raw.base_href) {
      if (auto resolved = page_url.resolve(*raw.base_href)) base = std::move(resolved).value();
    }
    const char* const begin = page.data();
    const char* const end = page.data() + page.size();
    for (const std::string_view href : raw.hrefs) {
      // Only a value that is a view into the page has a place to rewrite.
      if (href.empty() || std::less<>{}(href.data(), begin) || std::less<>{}(end, href.data() + href.size())) continue;
      auto target = base.resolve(href);
      if (!target) continue;
      auto link = rewrite(*target, href);
      if (!link) continue;
      if (const std::size_t hash = href.find('#'); hash != std::string_view::npos) *link += href.substr(hash);
      if (*link == href) continue;
      replacements.push_back({static_cast<std::size_t>(href.data() - begin), href.size(), std::move(*link)});
    }
  }
  if (replacements.empty()) return 0;
  std::sort(replacements.begin(), replacements.end(),
            [](const Replacement& a, const Replacement& b) { return a.at < b.at; });
  std::string out;
  out.reserve(page.size() + page.size() / 8);
  std::size_t copied = 0;
  std::size_t changed = 0;
  for (const Replacement& r : replacements) {
    if (r.at < copied) continue;  // overlaps one already made (a value listed twice)
    out.append(page, copied, r.at - copied);
    out += r.text;
    copied = r.at + r.length;
    ++changed;
  }
  out.append(page, copied, std::string::npos);
  page = std::move(out);
  return changed;
}

std::size_t mirror_convert_links(std::string& page, const Url& page_url, std::string_view page_path,
                                 const std::unordered_map<std::string, std::string>& files,
                                 const LinkExtractOptions& options) {
  return mirror_rewrite_links(
      page, page_url,
      [&](const Url& target, std::string_view /*href*/) -> std::optional<std::string> {
        const auto file = files.find(target.str());
        if (file == files.end()) return std::nullopt;
        return mirror_relative_link(page_path, file->second);
      },
      options);
}

}  // namespace fetchpool
