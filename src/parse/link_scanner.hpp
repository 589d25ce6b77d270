// The default link extractor: one pass over the bytes of a page, no tree.
//
// It runs the WHATWG HTML tokenizer (13.2.5) wherever the tokenizer decides
// what is markup: tags and their attributes (quoted, unquoted, duplicates,
// case folding), comments, bogus comments, DOCTYPE, CDATA sections (only in
// foreign content), RCDATA (title, textarea), RAWTEXT (style, xmp, iframe,
// noembed, noframes), script data with its escaped states, and plaintext;
// character references (the full named table, numeric ones, the legacy rules
// for a missing ';' in attribute values); NUL, CR and invalid UTF-8 in the
// values it returns. Of tree construction (13.2.6) it keeps only the parts
// that decide whether a tag becomes an element at all or switches the
// tokenizer: head or body, framesets (with the frameset-ok flag), <select>
// (which ignores most tags inside it), templates (and their column-group
// mode, which ignores everything but <col>), and foreign content (<svg>,
// <math>, integration points, breakout tags). It never needs the stack of
// open elements for anything else, so memory is the links it keeps: a view
// into the page per link element (decoded copies only where a value has a
// character reference, NUL, CR or bytes that are not valid UTF-8).
//
// Like gumbo 0.10.1 it parses <noscript> contents as markup (scripting off),
// and it walks <template> contents as the gumbo path does. Links are
// returned in source order; gumbo's tree order differs only where foster
// parenting moves content out of a table. For the same reason the first
// <title> and <base> are the first in source order: a document that puts
// one inside a table's cell or caption and a later one where the table
// fosters it out (13.2.6.4.9, 13.2.6.1) gets the earlier one here and the
// later one from gumbo (html_links_diff_test lists such documents).
//
// Pure functions: safe from any number of threads.
#pragma once

#include <cstddef>
#include <forward_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetchpool/html_links.hpp"

namespace fetchpool::detail {

// What a parser found on a page before any URL is resolved. Shared by the
// gumbo path and the scanner so that both follow the same rules from here on.
struct RawPage {
  bool has_title = false;
  std::string title;  // whitespace collapsed
  std::optional<std::string> base_href;
  std::optional<std::string> canonical_href;
  bool meta_nofollow = false;
  bool meta_noindex = false;
  // Link targets in document order: views into the page, into `owned`, or
  // into the parser's own storage, all alive until resolve_page returns.
  // A list, as its strings never move and an empty one allocates nothing.
  std::vector<std::string_view> hrefs;
  std::forward_list<std::string> owned;
};

// The one-pass extractor described above.
RawPage scan_page(std::string_view html, const LinkExtractOptions& options);

// Resolves base, canonical and links against `page_url` as html_links.hpp
// documents: first max_links distinct http(s) links.
PageInfo resolve_page(const RawPage& raw, const Url& page_url, const LinkExtractOptions& options);

// Rules both paths share, taking attribute values as the tree holds them.
bool has_token(std::string_view list, std::string_view token);  // whitespace-separated, ASCII case-insensitive
// <meta name=robots content=...>: sets the nofollow / noindex flags.
void apply_meta_robots(std::string_view name, std::string_view content, RawPage& page);
// The URL of <meta http-equiv=refresh content="5; url=...">, if it has one
// (HTML Standard, "shared declarative refresh steps").
std::optional<std::string_view> refresh_url(std::string_view content);
// Appends `text` to `out` with runs of ASCII whitespace as one space.
void append_collapsed(std::string_view text, std::string& out);
// Removes one trailing space that append_collapsed may have left.
void finish_collapsed(std::string& out);

}  // namespace fetchpool::detail
