// What html_links does to a document before gumbo 0.10.1 parses it, so that
// no page can crash the parser or keep it busy for minutes. Two measures:
//
// 1. Foreign content is switched off. Debian builds gumbo with assertions on,
//    and tree construction around <svg>/<math> content trips them: 50 bytes
//    such as "<table><tr><svg><td><foreignObject><select></table>" abort the
//    whole process (close_current_cell, node_qualified_tag_is and
//    node_html_tag_is assertions, found by fuzzing; none found in 18 million
//    tokens of fuzzed markup without foreign content). Renaming <svg> and
//    <math> tags to <x-svg> and <x-math> makes gumbo treat them as ordinary
//    unknown HTML elements. A crawler loses nothing it needs: an <a> inside
//    SVG is still an <a>.
//
// 2. Nesting is bounded. Gumbo spends time proportional to the depth of its
//    stack of open elements on most start tags (the "has a p element in
//    button scope" check walks the whole stack), so N unclosed <div>s cost
//    O(N^2): 20,000 take 0.4 s, 100,000 take 13 s. Browsers bound the same
//    way (Blink stops nesting at depth 512). estimate_nesting() runs a
//    tokenizer that follows the WHATWG tokenizer states that decide where
//    tags are (attribute quoting, comments, raw text, script escapes) and
//    feeds a model of gumbo's stack of open elements and list of active
//    formatting elements: implied end tags (p, li, dd/dt, option, table
//    rows and cells), scopes, "any other end tag" stopping at special
//    elements, formatting elements that stay in the list after being closed
//    (counted, as gumbo reopens them), table and select modes. Where it is
//    unsure it keeps elements open, so it errs towards deeper. It is an
//    estimate, not a proof; markup built to exploit a rule it does not follow
//    could still reach gumbo deeper than the limit. That costs parse time,
//    never stack: html_links never lets gumbo recurse (see html_links.cpp).
//
// Both are pure functions: no state, safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fetchpool::detail {

// `html` itself if it has no <svg> or <math> tag (the common case, no copy),
// else a copy in `storage` with those tags renamed <x-svg>, <x-math>.
std::string_view without_foreign_content(std::string_view html, std::string& storage);

struct NestingEstimate {
  // Length of the prefix to parse: the whole document, or the offset of the
  // '<' of the first start tag that would nest deeper than the limit.
  std::size_t safe_length = 0;
  // The deepest nesting in that prefix: elements below <body>, counting
  // closed formatting elements that the parser will reopen.
  std::size_t max_depth = 0;
};

// For a document without foreign content (see above).
NestingEstimate estimate_nesting(std::string_view html, std::size_t depth_limit);

}  // namespace fetchpool::detail
