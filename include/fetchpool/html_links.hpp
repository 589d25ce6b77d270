// Links and page metadata from an HTML document.
//
// Two parsers give the same answers (tests/unit/html_links_diff_test.cpp
// compares them document by document):
//   - HtmlParser::kFast (the default): one pass over the bytes with the WHATWG
//     tokenizer and the few tree-construction rules that decide whether a tag
//     is an element (src/parse/link_scanner.hpp). No tree: memory is the
//     links kept, a page costs about what reading it costs.
//   - HtmlParser::kGumbo: gumbo 0.10.1 builds the whole HTML5 tree, which is
//     walked. About ten times the CPU, and a tree of ~27x the page in memory.
//
// URLs are resolved against the document base URL: the first <base href>,
// if it resolves, else the page URL (HTML Standard, "document base URL").
// Only http and https links are returned, each once, in document order.
//
// Untrusted input is expected: malformed, binary, NUL bytes, huge attributes
// and deep nesting are all handled without crashing, using bounded stack
// (the tree is walked with an explicit stack, and gumbo's recursive tree
// destructor is never called). With kGumbo, two deviations from a browser
// follow from protecting gumbo (details in src/parse/html_guard.hpp):
//   - <svg> and <math> are parsed as ordinary elements, not foreign content:
//     gumbo 0.10.1 hits assertions, aborting the process, on some foreign
//     content. Links inside SVG (<a href>, <a xlink:href>) are still found.
//   - A document nesting elements deeper than kMaxHtmlNesting is parsed only
//     up to the tag that goes deeper, and PageInfo::truncated is set. Gumbo
//     needs time quadratic in the nesting depth; Blink caps it at 512 too.
//
// Thread-safety: extract_page_info is a pure function; call it from any
// number of threads.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/url.hpp"

namespace fetchpool {

inline constexpr std::size_t kMaxHtmlNesting = 512;

enum class HtmlParser { kFast, kGumbo };

struct LinkExtractOptions {
  HtmlParser parser = HtmlParser::kFast;
  // Elements whose link is followed: their href, else xlink:href, else src
  // (so <iframe>/<frame> use src). HTML element names, case-insensitive.
  std::vector<std::string> link_tags{"a", "area", "link", "iframe", "frame"};
  // At most this many links are returned; later ones are not even resolved.
  // This bounds a page's memory: the fast parser keeps a 16-byte view per
  // link element until then, and copies only values it had to decode.
  std::size_t max_links = 10000;
  // <meta http-equiv=refresh content="N; url=..."> is a link too.
  bool follow_meta_refresh = true;
  // Skip elements with rel="nofollow" (any element that has a rel).
  bool honour_rel_nofollow = false;
};

struct PageInfo {
  std::string title;              // text of the first <title>, whitespace collapsed
  std::vector<Url> links;         // resolved, http(s) only, de-duplicated, document order
  std::optional<Url> canonical;   // first <link rel="canonical" href>, resolved
  std::optional<Url> base;        // first <base href>, resolved against the page URL
  bool meta_nofollow = false;     // <meta name="robots" content="nofollow"> (or "none")
  bool meta_noindex = false;      // <meta name="robots" content="noindex"> (or "none")
  std::size_t invalid_links = 0;  // link values that are not URLs (other schemes do not count)
  bool truncated = false;         // kGumbo only: nested deeper than kMaxHtmlNesting, only the part before was parsed
};

PageInfo extract_page_info(std::string_view html, const Url& page_url, const LinkExtractOptions& options = {});

}  // namespace fetchpool
