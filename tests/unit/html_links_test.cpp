#include <gumbo.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "fetchpool/html_links.hpp"
#include "parse/html_guard.hpp"
#include "support/small_stack.hpp"

using fetchpool::extract_page_info;
using fetchpool::LinkExtractOptions;
using fetchpool::PageInfo;
using fetchpool::Url;
using namespace std::string_view_literals;
using namespace std::string_literals;

namespace {

Url must_parse(std::string_view text) {
  auto url = Url::parse(text);
  INFO(text);
  REQUIRE(url.ok());
  return std::move(url).value();
}

const Url& page_url() {
  static const Url page = must_parse("http://example.com/dir/page.html");
  return page;
}

std::vector<std::string> link_strings(const PageInfo& info) {
  std::vector<std::string> links;
  for (const Url& link : info.links) links.push_back(link.str());
  return links;
}

std::string repeat(std::string_view unit, int times) {
  std::string text;
  text.reserve(unit.size() * static_cast<std::size_t>(times));
  for (int i = 0; i < times; ++i) text += unit;
  return text;
}

// The deepest element nesting gumbo builds for `html` below <html>/<body>,
// walked without recursion.
std::size_t gumbo_depth(std::string_view html) {
  GumboOptions options = kGumboDefaultOptions;
  options.max_errors = 0;
  GumboOutput* output = gumbo_parse_with_options(&options, html.data(), html.size());
  std::size_t deepest = 0;
  std::vector<std::pair<const GumboNode*, std::size_t>> pending{{output->document, 0}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    const GumboVector* children = nullptr;
    std::size_t child_depth = depth;
    if (node->type == GUMBO_NODE_DOCUMENT) {
      children = &node->v.document.children;
    } else if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE) {
      const GumboTag tag = node->v.element.tag;
      if (tag != GUMBO_TAG_HTML && tag != GUMBO_TAG_HEAD && tag != GUMBO_TAG_BODY) child_depth = depth + 1;
      deepest = std::max(deepest, child_depth);
      children = &node->v.element.children;
    }
    for (unsigned int i = 0; children != nullptr && i < children->length; ++i) {
      pending.emplace_back(static_cast<const GumboNode*>(children->data[i]), child_depth);
    }
  }
  gumbo_destroy_output(&options, output);
  return deepest;
}

}  // namespace

TEST_CASE("links are resolved against the document base URL, de-duplicated, in document order", "[html_links]") {
  struct Case {
    std::string_view html;
    std::vector<std::string> links;
    std::size_t invalid;
    const char* rule;
  };
  const Case kCases[] = {
      {"<a href=a.html>1</a><a href='/b'>2</a><a href=\"../c?x=1\">3</a>",
       {"http://example.com/dir/a.html", "http://example.com/b", "http://example.com/c?x=1"},
       0,
       "relative references, RFC 3986 5.2"},
      {"<a href=b></a><a href=a></a><a href=b#x></a><a href=./b></a><a href=B></a>",
       {"http://example.com/dir/b", "http://example.com/dir/a", "http://example.com/dir/B"},
       0,
       "each link once, first occurrence wins; fragments do not make a new link"},
      {"<base href=/other/><a href=x></a>",
       {"http://example.com/other/x"},
       0,
       "HTML: <base href> sets the document base URL"},
      {"<a href=x></a><base href=/other/>",
       {"http://example.com/other/x"},
       0,
       "HTML: the base applies to links before it too"},
      {"<base target=_top><base href=/first/><base href=/second/><a href=x></a>",
       {"http://example.com/first/x"},
       0,
       "HTML: the first <base> with an href counts"},
      {"<base href='http://[bad'><a href=x></a>",
       {"http://example.com/dir/x"},
       0,
       "a base that does not resolve is ignored"},
      {"<a href='mailto:a@b.c'></a><a href='javascript:void(0)'></a><a href='tel:1'></a><a href='data:,x'></a>"
       "<a href='ftp://f.example/'></a><a href=ok></a>",
       {"http://example.com/dir/ok"},
       0,
       "other schemes are skipped, not counted as invalid"},
      {"<a href='http://[bad'></a><a href='//'></a><a href='http://a:99999/'></a><a href=ok></a>",
       {"http://example.com/dir/ok"},
       3,
       "hrefs that do not resolve are counted"},
      {"<a>no href</a><a name=x></a>", {}, 0, "elements without a link"},
      {"<a href=''></a><a href='#top'></a>",
       {"http://example.com/dir/page.html"},
       0,
       "RFC 3986 5.2.2: an empty or fragment-only reference is the page itself"},
      {"<a href=' \n x.html\t '></a><a href='y\n.html'></a>",
       {"http://example.com/dir/x.html", "http://example.com/dir/y.html"},
       0,
       "whitespace trimmed, newlines removed"},
      {"<a href='q?a=1&amp;b=2'></a><a href='&#x2F;abs'></a>",
       {"http://example.com/dir/q?a=1&b=2", "http://example.com/abs"},
       0,
       "character references decoded"},
      {"<map><area href=area.html></map><link rel=stylesheet href=s.css><iframe src=if.html></iframe>"
       "<frameset><frame src=fr.html></frameset>",
       {"http://example.com/dir/area.html", "http://example.com/dir/s.css", "http://example.com/dir/if.html"},
       0,
       "area, link and iframe (src) by default; <frame> only outside a <body>"},
      {"<frameset><frame src=fr.html><frame src=//cdn.example.net/f2></frameset>",
       {"http://example.com/dir/fr.html", "http://cdn.example.net/f2"},
       0,
       "frames take src"},
      {"<img src=i.png><script src=s.js></script><video src=v.mp4></video><form action=f></form>",
       {},
       0,
       "embedded resources are not links by default"},
      {"<!-- <a href=comment></a> --><script>'<a href=script></a>'</script><style>a{}</style>"
       "<textarea><a href=textarea></a></textarea><a href=real></a>",
       {"http://example.com/dir/real"},
       0,
       "markup in comments, scripts and textareas is text"},
      {"<svg><a xlink:href='/svg-x'><text>t</text></a><a href='/svg-h'></a></svg>",
       {"http://example.com/svg-x", "http://example.com/svg-h"},
       0,
       "links inside SVG (href or xlink:href)"},
      {"<template><a href=in-template></a></template>",
       {"http://example.com/dir/in-template"},
       0,
       "template contents are walked"},
      {"<a href=one><a href=two></a></a><p><a href=three>",
       {"http://example.com/dir/one", "http://example.com/dir/two", "http://example.com/dir/three"},
       0,
       "misnested and unclosed anchors"},
  };
  for (const Case& c : kCases) {
    INFO(c.rule << ": " << c.html);
    const PageInfo info = extract_page_info(c.html, page_url());
    CHECK(link_strings(info) == c.links);
    CHECK(info.invalid_links == c.invalid);
    CHECK_FALSE(info.truncated);
  }
}

TEST_CASE("link options: tags, rel=nofollow, the link limit", "[html_links]") {
  struct Case {
    std::vector<std::string> tags;
    bool honour_nofollow;
    std::size_t max_links;
    std::vector<std::string> links;
  };
  const std::string_view html =
      "<a href=a rel='external NoFollow'></a><a href=b rel=nofollowing></a><img src=i.png>"
      "<my-link href=m></my-link><A HREF=c></A><script src=s.js></script><link rel=nofollow href=l>";
  const Case kCases[] = {
      {{"a"}, false, 100, {"http://example.com/dir/a", "http://example.com/dir/b", "http://example.com/dir/c"}},
      {{"a"}, true, 100, {"http://example.com/dir/b", "http://example.com/dir/c"}},  // rel is a token list
      {{"a", "link"}, true, 100, {"http://example.com/dir/b", "http://example.com/dir/c"}},
      {{"IMG", "script"}, false, 100, {"http://example.com/dir/i.png", "http://example.com/dir/s.js"}},
      {{"my-link"}, false, 100, {"http://example.com/dir/m"}},  // a name gumbo has no enum for
      {{"a"}, false, 2, {"http://example.com/dir/a", "http://example.com/dir/b"}},
      {{"a"}, false, 0, {}},
      {{}, false, 100, {}},
  };
  for (const Case& c : kCases) {
    LinkExtractOptions options;
    options.link_tags = c.tags;
    options.honour_rel_nofollow = c.honour_nofollow;
    options.max_links = c.max_links;
    INFO("tags " << c.tags.size() << ", nofollow " << c.honour_nofollow << ", max " << c.max_links);
    CHECK(link_strings(extract_page_info(html, page_url(), options)) == c.links);
  }
}

TEST_CASE("title, canonical and base", "[html_links]") {
  struct Case {
    std::string_view html;
    std::string_view title, canonical, base;
  };
  static const Case kCases[] = {
      {"<title>  Hello \n\t World  </title>", "Hello World", "", ""},
      {"<title>A &amp; B &lt;i&gt;</title><title>second</title>", "A & B <i>", "", ""},
      {"<title></title>", "", "", ""},
      {"<p>no title</p>", "", "", ""},
      {"<body><p>x</p><title>late</title>", "late", "", ""},
      {"<link rel=canonical href=/c>", "", "http://example.com/c", ""},
      {"<link rel='alternate Canonical' href=c><link rel=canonical href=/second>", "", "http://example.com/dir/c", ""},
      {"<base href=https://other.example/b/><link rel=canonical href=c>", "", "https://other.example/b/c",
       "https://other.example/b/"},
      {"<link rel=canonical href='http://[bad'>", "", "", ""},
      {"<link rel=canonical>", "", "", ""},
      {"<base href=../up/>", "", "", "http://example.com/up/"},
  };
  for (const Case& c : kCases) {
    INFO(c.html);
    const PageInfo info = extract_page_info(c.html, page_url());
    CHECK(info.title == c.title);
    CHECK((info.canonical ? info.canonical->str() : "") == c.canonical);
    CHECK((info.base ? info.base->str() : "") == c.base);
  }
}

TEST_CASE("meta robots: nofollow, noindex, none", "[html_links]") {
  struct Case {
    std::string_view html;
    bool nofollow, noindex;
  };
  static const Case kCases[] = {
      {"<meta name=robots content=nofollow>", true, false},
      {"<meta name=robots content=NOINDEX>", false, true},
      {"<meta name=robots content='noindex, nofollow'>", true, true},
      {"<meta name=robots content='noindex nofollow'>", true, true},
      {"<meta name=robots content=none>", true, true},
      {"<meta name=' Robots ' content='index,follow'>", false, false},
      {"<meta name=googlebot content=nofollow>", false, false},
      {"<meta name=robots content=nofollowing>", false, false},
      {"<meta name=robots content=noindex><meta name=robots content=nofollow>", true, true},
      {"<meta name=robots>", false, false},
      {"<meta content=nofollow>", false, false},
  };
  for (const Case& c : kCases) {
    INFO(c.html);
    const PageInfo info = extract_page_info(c.html, page_url());
    CHECK(info.meta_nofollow == c.nofollow);
    CHECK(info.meta_noindex == c.noindex);
  }
}

LinkExtractOptions gumbo_options() {
  LinkExtractOptions options;
  options.parser = fetchpool::HtmlParser::kGumbo;
  return options;
}

TEST_CASE("gumbo: 100,000 nested <div>s on a 512 KiB stack: cut at the nesting limit, links before it kept",
          "[html_links]") {
  const std::string html = "<a href=first></a>" + repeat("<div>", 100000) + "<a href=deep></a>";
  PageInfo info;
  fetchpool::testing::run_with_stack(fetchpool::testing::kWorkerStackBytes,
                                     [&] { info = extract_page_info(html, page_url(), gumbo_options()); });
  CHECK(info.truncated);
  CHECK(link_strings(info) == std::vector<std::string>{"http://example.com/dir/first"});

  // Just within the limit, nothing is cut and the innermost link is found.
  const std::string fits = repeat("<div>", fetchpool::kMaxHtmlNesting - 1) + "<a href=deep></a>";
  fetchpool::testing::run_with_stack(fetchpool::testing::kWorkerStackBytes,
                                     [&] { info = extract_page_info(fits, page_url(), gumbo_options()); });
  CHECK_FALSE(info.truncated);
  CHECK(link_strings(info) == std::vector<std::string>{"http://example.com/dir/deep"});
}

TEST_CASE("the fast parser has no nesting limit: it keeps no stack of elements", "[html_links]") {
  const std::string html = "<a href=first></a>" + repeat("<div>", 100000) + "<a href=deep></a>";
  PageInfo info;
  fetchpool::testing::run_with_stack(fetchpool::testing::kWorkerStackBytes,
                                     [&] { info = extract_page_info(html, page_url()); });
  CHECK_FALSE(info.truncated);
  CHECK(link_strings(info) == std::vector<std::string>{"http://example.com/dir/first", "http://example.com/dir/deep"});
}

TEST_CASE("fast parser: the spec where gumbo 0.10.1 errs, and rules gumbo does not have", "[html_links]") {
  struct Case {
    std::string html;
    std::vector<std::string> links;
    const char* rule;
  };
  const Case kCases[] = {
      {"<a x x href=y>",
       {"http://example.com/dir/y"},
       "13.2.5.33: a repeated attribute is dropped (gumbo glues its name onto the next one)"},
      {"<a href='a\001b'>",
       {"http://example.com/dir/a%01b"},
       "13.2.3.5: a control character is a parse error and stays (gumbo makes it U+FFFD)"},
      {"<svg><style><a href=in-svg-style></a></style></svg><style><a href=no></style>",
       {"http://example.com/dir/in-svg-style"},
       "13.2.6.5: <style> in SVG is an SVG element, its text is markup"},
      {"<svg><![CDATA[ > <a href=no> ]]></svg><![CDATA[ > <a href=yes> ]]>",
       {"http://example.com/dir/yes"},
       "13.2.5.42: CDATA only in foreign content; elsewhere a bogus comment up to the first '>'"},
      {"<svg><p><a href=a></a>", {"http://example.com/dir/a"}, "13.2.6.5: <p> breaks out of foreign content"},
      {"<meta http-equiv=Refresh content='5; URL=\"/next\"'>",
       {"http://example.com/next"},
       "meta refresh: shared declarative refresh steps"},
      {"<meta http-equiv=refresh content='5'><meta http-equiv=refresh content='x; url=/no'>",
       {},
       "meta refresh without a URL, or with a bad time"},
      {"<a href='?a=1&notit=2&copy=3&copy;&amp'>",
       {"http://example.com/dir/page.html?a=1&notit=2&copy=3%C2%A9&"},
       "13.2.5.73: legacy references without ';' stay as written before '=' or an alphanumeric"},
      {"<a href='&CounterClockwiseContourIntegral;&#128512;&#x80;&#0;'>",
       {"http://example.com/dir/%E2%88%B3%F0%9F%98%80%E2%82%AC%EF%BF%BD"},
       "named (longest), numeric, windows-1252 and NUL references"},
      {"<select><a href=no><option></select><a href=yes>",
       {"http://example.com/dir/yes"},
       "13.2.6.4.16: in select, other tags are ignored"},
      {"<frameset><frame src=f></frameset><a href=no>",
       {"http://example.com/dir/f"},
       "13.2.6.4.20: in a frameset only frames"},
      {"<a href=lost></a><frameset><frame src=f>",
       {"http://example.com/dir/f"},
       "13.2.6.4.7: a frameset replaces a body in which nothing happened yet"},
      {"<template><col><a href=no></template><a href=yes>",
       {"http://example.com/dir/yes"},
       "13.2.6.4.18: a template in column-group mode ignores all but <col>"},
      {"<script><!--<script></script><a href=no></script>--></script><a href=yes>",
       {"http://example.com/dir/yes"},
       "13.2.5.20-27: script data escaped and double-escaped states"},
      {"<noscript><a href=ns></noscript>", {"http://example.com/dir/ns"}, "<noscript> parsed as markup, as gumbo does"},
  };
  for (const Case& c : kCases) {
    INFO(c.rule << ": " << c.html);
    CHECK(link_strings(extract_page_info(c.html, page_url())) == c.links);
  }
}

TEST_CASE("the link cap bounds what a page of a million links keeps", "[html_links]") {
  std::string html;
  for (int i = 0; i < 200000; ++i) html += "<a href=/p" + std::to_string(i) + ">x</a>";
  LinkExtractOptions options;
  options.max_links = 1000;
  const PageInfo info = extract_page_info(html, page_url(), options);
  REQUIRE(info.links.size() == 1000);
  CHECK(info.links.back().str() == "http://example.com/p999");
}

TEST_CASE("deep or broken documents never crash and never take long", "[html_links]") {
  std::string reopened;  // distinct formatting elements that the parser keeps reopening
  for (int i = 0; i < 3000; ++i) reopened += "<p><b id=" + std::to_string(i) + "></p>";
  struct Case {
    std::string html;
    bool truncated;
    const char* what;
  };
  const Case kCases[] = {
      {repeat("<span>", 100000), true, "unclosed inline elements"},
      {repeat("<b><i><u>", 40000), true, "unclosed formatting elements"},
      {repeat("<div></span>", 50000), true, "end tags that close nothing"},
      {repeat("<div title='</div>'>", 50000), true, "end tags inside attribute values"},
      {repeat("<table><tr><td>", 30000), true, "nested tables"},
      {reopened, true, "formatting elements reopened in every paragraph"},
      {"<template><col><title><template>" + repeat("<div>", 50000), true,
       "a template in column-group mode ignores <title>, so its text is parsed as tags"},
      {"<template><col><plaintext><template>" + repeat("<div>", 50000), true, "and ignores <plaintext>"},
      {repeat("<li><a href=x>", 50000), false, "<li> closes <li>"},
      {repeat("<p>text", 50000), false, "<p> closes <p>"},
      {repeat("<select><option>a<option>b</select>", 20000), false, "options"},
      {"<table>" + repeat("<tr><td>cell<td>cell", 30000), false, "unclosed cells and rows"},
      {repeat("<div>", 300) + repeat("</div>", 300) + repeat("<div>", 300), false, "closed, then deep again"},
  };
  for (const Case& c : kCases) {
    INFO(c.what);
    PageInfo info;
    fetchpool::testing::run_with_stack(fetchpool::testing::kWorkerStackBytes,
                                       [&] { info = extract_page_info(c.html, page_url(), gumbo_options()); });
    CHECK(info.truncated == c.truncated);
    fetchpool::testing::run_with_stack(fetchpool::testing::kWorkerStackBytes,
                                       [&] { info = extract_page_info(c.html, page_url()); });
    CHECK_FALSE(info.truncated);
  }
}

TEST_CASE("binary garbage, NUL bytes and huge attributes are handled", "[html_links]") {
  std::uint64_t state = 7;
  auto next_byte = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<char>(state >> 56);
  };
  for (int document = 0; document < 50; ++document) {
    std::string garbage(20000, '\0');
    for (char& byte : garbage) byte = next_byte();
    // Sprinkle markup so that the tree builder has work to do.
    for (std::size_t at = 0; at + 16 < garbage.size(); at += 997) garbage.replace(at, 9, "<a href=x");
    const PageInfo info = extract_page_info(garbage, page_url());
    CHECK(info.links.size() <= 21);
    for (const Url& link : info.links) {
      auto again = Url::parse(link.str());
      REQUIRE(again.ok());
      CHECK(again->str() == link.str());
    }
  }

  const std::string with_nuls = "<a href='a\0b'>\0</a><title>t\0t</title><a\0 href=c>"s;
  const PageInfo nuls = extract_page_info(with_nuls, page_url());
  CHECK(nuls.title == "t\xEF\xBF\xBDt");  // NUL becomes U+FFFD
  CHECK(link_strings(nuls) == std::vector<std::string>{"http://example.com/dir/a%EF%BF%BDb"});

  const std::string huge_value(std::size_t{4} * 1024 * 1024, 'x');
  const PageInfo huge = extract_page_info(
      "<a href='" + huge_value + "'></a><a title='" + huge_value + "' href=ok></a><title>" + huge_value + "</title>",
      page_url());
  CHECK(huge.invalid_links == 1);  // longer than Url::kMaxLength
  CHECK(link_strings(huge) == std::vector<std::string>{"http://example.com/dir/ok"});
  CHECK(huge.title.size() == huge_value.size());

  CHECK(extract_page_info("", page_url()).links.empty());
  CHECK(extract_page_info("<", page_url()).links.empty());
  CHECK(extract_page_info("<a href=\"unterminated", page_url()).links.empty());
}

TEST_CASE("documents that make gumbo 0.10.1 abort are parsed without foreign content", "[html_links]") {
  // Each of these aborts the process in gumbo's tree construction when <svg>
  // or <math> is foreign content (assertions in close_current_cell,
  // node_qualified_tag_is, handle_in_body); found by fuzzing.
  static const std::string_view kAborting[] = {
      "<table><tr><svg><td><foreignObject><select></table><a href=after>",
      "<table><svg><select><desc><template></template><caption><a href=after>",
      "<svg><tbody><title>t<div></title><strike><select><textarea><p></textarea><tr><tbody><select></select>"
      "</body><a href=after>",
      "<table><tr><math><td><mi><select></table><a href=after>",
  };
  for (const std::string_view html : kAborting) {
    INFO(html);
    const PageInfo info = extract_page_info(html, page_url());
    CHECK(link_strings(info) == std::vector<std::string>{"http://example.com/dir/after"});
  }
}

TEST_CASE("without_foreign_content renames <svg> and <math> tags only", "[html_links]") {
  struct Case {
    std::string_view html;
    std::string_view expected;
  };
  static const Case kCases[] = {
      {"<svg><path/></svg>", "<x-svg><path/></x-svg>"},
      {"<SVG width=1>a</Svg >", "<x-SVG width=1>a</x-Svg >"},
      {"<math/><math\n>", "<x-math/><x-math\n>"},
      {"<svgx><mathml><svg", "<svgx><mathml><svg"},  // other names; an unfinished tag is dropped anyway
      {"1 < svg", "1 < svg"},
  };
  for (const Case& c : kCases) {
    std::string storage;
    CHECK(fetchpool::detail::without_foreign_content(c.html, storage) == c.expected);
  }
  const std::string_view plain = "<div><a href=x></a></div>";
  std::string storage;
  CHECK(fetchpool::detail::without_foreign_content(plain, storage).data() == plain.data());  // no copy
}

TEST_CASE("the nesting estimate is never far below gumbo's real nesting", "[html_links]") {
  // Random tag soup from the constructs the estimate models. The estimate may
  // be deeper than gumbo (it keeps elements open when unsure); it must not be
  // much shallower, or the nesting limit would not bound gumbo's work.
  static const std::string_view kPieces[] = {"<div>",
                                             "<span>",
                                             "<p>",
                                             "<li>",
                                             "<ul>",
                                             "<b>",
                                             "<i>",
                                             "<a href=x>",
                                             "<font color=red>",
                                             "<nobr>",
                                             "<b id=1>",
                                             "<b id=2>",
                                             "<table>",
                                             "<tr>",
                                             "<td>",
                                             "<th>",
                                             "<tbody>",
                                             "<caption>",
                                             "<colgroup>",
                                             "<col>",
                                             "<select>",
                                             "<option>",
                                             "<optgroup>",
                                             "<svg>",
                                             "<g>",
                                             "<math>",
                                             "<mi>",
                                             "<form>",
                                             "<button>",
                                             "<h1>",
                                             "<h2>",
                                             "<template>",
                                             "<object>",
                                             "<marquee>",
                                             "<dd>",
                                             "<dt>",
                                             "<dl>",
                                             "<rt>",
                                             "<ruby>",
                                             "<x-custom>",
                                             "<center>",
                                             "<pre>",
                                             "<hr>",
                                             "<br>",
                                             "<img>",
                                             "<input>",
                                             "<noscript>",
                                             "<main>",
                                             "<script>a<div></script>",
                                             "<script><!--<script></script>--></script>",
                                             "<title>t<div></title>",
                                             "<textarea><p></textarea>",
                                             "<style>p{}</style>",
                                             "<xmp><div></xmp>",
                                             "<div title='</div>'>",
                                             "<div a=\"x>y\">",
                                             "<div/>",
                                             "<!-- <div> -->",
                                             "<!-->",
                                             "<![CDATA[<div>]]>",
                                             "<?pi <div>?>",
                                             "text",
                                             "<",
                                             "</",
                                             "<p><b></p>",
                                             "<plaintext>"};
  std::uint64_t state = 2024;
  auto next = [&state](std::size_t bound) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>((state >> 33) % bound);
  };
  std::size_t worst_gap = 0;
  std::string worst;
  for (int document = 0; document < 400; ++document) {
    std::string html;
    for (int piece = 0; piece < 150; ++piece) {
      const std::string_view chosen = kPieces[next(std::size(kPieces))];
      if (next(3) == 0 && chosen.size() > 2 && chosen[1] != '!' && chosen[1] != '?') {
        const std::size_t name_end = chosen.find_first_of(" >/", 1);
        html.append("</").append(chosen.substr(1, name_end - 1)).append(">");
      } else {
        html += chosen;
      }
    }
    std::string storage;
    const std::string_view parsed = fetchpool::detail::without_foreign_content(html, storage);
    const std::size_t estimated = fetchpool::detail::estimate_nesting(parsed, 1000000).max_depth;
    const std::size_t real = gumbo_depth(parsed);
    if (real > estimated && real - estimated > worst_gap) {
      worst_gap = real - estimated;
      worst = html;
    }
  }
  INFO("worst document: " << worst);
  CHECK(worst_gap <= 3);
}

TEST_CASE("the nesting estimate follows real page structure closely", "[html_links]") {
  struct Case {
    std::string html;
    std::size_t estimate, gumbo;
  };
  const Case kCases[] = {
      {repeat("<div>", 10) + repeat("</div>", 10), 10, 10},
      {"<ul>" + repeat("<li><a href=x>item</a>", 1000) + "</ul>", 3, 3},
      {"<table>" + repeat("<tr><td>a<td><b>b</b>", 1000) + "</table>", 5, 5},  // table tbody tr td b
      {repeat("<p>para <i>it</i>", 1000), 2, 2},
      {"<dl>" + repeat("<dt>t<dd>d", 1000) + "</dl>", 2, 2},
      {"<select>" + repeat("<option>o", 1000) + "</select>", 2, 2},
      // Each <p> reopens the three <font>s the Noah's Ark clause keeps in the
      // list, then adds its own; the estimate counts the list, one less.
      {repeat("<p><font size=2>unclosed</p>", 1000), 4, 5},
      // Elements holding only text (script, title, textarea) are not counted.
      {"<div><script>document.write('<div><div><div>')</script></div>", 1, 2},
  };
  for (const Case& c : kCases) {
    INFO(c.html.substr(0, 80));
    CHECK(fetchpool::detail::estimate_nesting(c.html, 1000000).max_depth == c.estimate);
    CHECK(gumbo_depth(c.html) == c.gumbo);
  }
}

TEST_CASE("extract_page_info may run on many threads at once", "[html_links]") {
  std::string html = "<title>t</title>";
  for (int i = 0; i < 200; ++i) html += "<a href=/p" + std::to_string(i) + ">x</a>";
  const PageInfo expected = extract_page_info(html, page_url());
  REQUIRE(expected.links.size() == 200);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const PageInfo info = extract_page_info(html, page_url());
        if (link_strings(info) != link_strings(expected) || info.title != "t") {
          ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(mismatches == std::vector<int>(4, 0));
}
