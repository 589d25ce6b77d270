// See parse/link_scanner.hpp. Section numbers are those of the WHATWG HTML
// Standard, 13.2 "Parsing HTML documents".
#include "parse/link_scanner.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <unordered_set>
#include <utility>

#include "base/ascii.hpp"
#include "base/utf8.hpp"

namespace fetchpool::detail {
namespace {

struct NamedReference {
  std::string_view name;
  std::string_view value;
};

constexpr NamedReference kNamedReferences[] = {
#include "parse/html_entities.inc"
};
constexpr std::size_t kLongestReferenceName = 32;  // "CounterClockwiseContourIntegral;"

// 13.2.5.80 "Numeric character reference end state": C1 controls written as
// references mean what windows-1252 has there.
constexpr std::array<std::uint32_t, 32> kWindows1252 = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                                        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                                        0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                                        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool starts_with_ci(std::string_view text, std::size_t at, std::string_view prefix) noexcept {
  return at <= text.size() && text.size() - at >= prefix.size() && iequals(text.substr(at, prefix.size()), prefix);
}

void append_utf8(std::uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Whether a value needs more than a copy: a character reference, NUL, CR
// or bytes outside ASCII (which must be checked as UTF-8).
bool needs_decoding(std::string_view value, bool references) noexcept {
  for (const char c : value) {
    if (c == '\0' || c == '\r' || static_cast<unsigned char>(c) >= 0x80 || (references && c == '&')) return true;
  }
  return false;
}

const NamedReference* find_reference(std::string_view name) {
  const auto* end = std::end(kNamedReferences);
  const auto* found = std::lower_bound(std::begin(kNamedReferences), end, name,
                                       [](const NamedReference& r, std::string_view n) { return r.name < n; });
  return found != end && found->name == name ? found : nullptr;
}

// 13.2.5.72 "Character reference state" and what follows it, from the '&'
// at `at`. Appends the decoded text (or the '&' itself) to `out` and
// returns the offset after what it consumed.
std::size_t consume_reference(std::string_view s, std::size_t at, bool in_attribute, std::string& out) {
  const std::size_t start = at + 1;
  if (start < s.size() && detail::is_ascii_alnum(s[start])) {
    std::size_t run = start;
    while (run < s.size() && run - start < kLongestReferenceName && detail::is_ascii_alnum(s[run])) ++run;
    std::size_t longest = run - start;
    if (run < s.size() && s[run] == ';' && longest < kLongestReferenceName) ++longest;
    for (std::size_t length = longest; length > 0; --length) {
      const NamedReference* found = find_reference(s.substr(start, length));
      if (found == nullptr) continue;
      const std::size_t after = start + length;
      const bool semicolon = s[after - 1] == ';';
      if (in_attribute && !semicolon && after < s.size() && (s[after] == '=' || detail::is_ascii_alnum(s[after]))) {
        // "For historical reasons": the text stays as written.
        out.append(s.substr(at, after - at));
        return after;
      }
      out.append(found->value);
      return after;
    }
    out += '&';  // no match: the ambiguous ampersand state keeps it all as text
    return start;
  }
  if (start < s.size() && s[start] == '#') {
    std::size_t digits = start + 1;
    const bool hex = digits < s.size() && (s[digits] == 'x' || s[digits] == 'X');
    if (hex) ++digits;
    std::size_t end = digits;
    std::uint32_t value = 0;
    while (end < s.size() && (hex ? detail::is_ascii_hex_digit(s[end]) : detail::is_ascii_digit(s[end]))) {
      const char c = s[end];
      const std::uint32_t digit = detail::is_ascii_digit(c) ? static_cast<std::uint32_t>(c - '0')
                                                            : static_cast<std::uint32_t>(ascii_lower(c) - 'a' + 10);
      value = std::min<std::uint32_t>(value * (hex ? 16 : 10) + digit, 0x110000);  // saturates: too big is too big
      ++end;
    }
    if (end == digits) {  // "&#" or "&#x" with no digits: text as written
      out.append(s.substr(at, digits - at));
      return digits;
    }
    if (end < s.size() && s[end] == ';') ++end;
    if (value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
      out.append(kReplacement);
    } else if (value >= 0x80 && value <= 0x9F) {
      append_utf8(kWindows1252[value - 0x80], out);
    } else {
      append_utf8(value, out);
    }
    return end;
  }
  out += '&';
  return start;
}

// The text the tree holds for `raw` (13.2.3.5 "Preprocessing the input
// stream", then the tokenizer): CR LF and CR as LF, NUL as U+FFFD, invalid
// UTF-8 as U+FFFD, character references decoded if `references`.
void decode_into(std::string_view raw, bool references, bool in_attribute, std::string& out) {
  out.reserve(out.size() + raw.size());
  std::size_t at = 0;
  while (at < raw.size()) {
    const char c = raw[at];
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      const Utf8Sequence sequence = utf8_sequence_at(raw, at);
      if (sequence.valid) {
        out.append(raw.substr(at, sequence.length));
      } else {
        out.append(kReplacement);  // one per maximal subpart (Encoding Standard, UTF-8 decoder)
      }
      at += sequence.length;
    } else if (c == '\0') {
      out.append(kReplacement);
      ++at;
    } else if (c == '\r') {
      out += '\n';
      ++at;
      if (at < raw.size() && raw[at] == '\n') ++at;
    } else if (c == '&' && references) {
      at = consume_reference(raw, at, in_attribute, out);
    } else {
      out += c;
      ++at;
    }
  }
}

// One attribute of a tag token: the name folded to lower case, the value as
// written (its decoding waits until someone asks for it).
struct Attribute {
  std::string name;
  std::string_view raw_value;
};

struct Tag {
  std::string name;  // lower case, NUL as U+FFFD
  bool end = false;
  bool self_closing = false;
  std::vector<Attribute> attributes;  // first of each name only

  const Attribute* find(std::string_view wanted) const {
    for (const Attribute& a : attributes) {
      if (std::string_view(a.name) == wanted) return &a;
    }
    return nullptr;
  }
  void clear() {
    name.clear();
    end = false;
    self_closing = false;
    attributes.clear();
  }
};

enum class Namespace : std::uint8_t { kHtml, kSvg, kMathMl };

// An element open inside foreign content: foreign elements, and HTML ones
// opened in an integration point.
struct ForeignEntry {
  Namespace ns;
  std::string name;  // lower case
  bool html_integration = false;
  bool mathml_text_integration = false;
  bool annotation_xml = false;
};

// Where tags go: the document itself, or the contents of a <template>.
struct Context {
  bool template_fresh = false;        // a template that has had no start tag yet
  bool column_group = false;          // ... whose first start tag was <col>: all but <col> ignored
  bool select_open = false;           // "in select": most tags ignored
  bool select_in_table = false;       // "in select in table": table tags close the select
  std::size_t tables = 0;             // open <table>s, as far as end tags tell
  std::uint32_t table_parts = 0;      // bits of kTableParts whose start tag came since the last <table>
  std::vector<ForeignEntry> foreign;  // open elements below the outermost <svg>/<math>
};

// Table parts: in a select in a table, their end tag closes the select only
// if one is open ("has an element in table scope").
constexpr std::array<std::string_view, 8> kTableParts = {"caption", "table", "tbody", "tfoot",
                                                         "thead",   "tr",    "td",    "th"};

std::uint32_t table_part_bit(std::string_view name) {
  if (name.empty() || (name.front() != 't' && name.front() != 'c')) return 0;  // most tags, at one compare
  for (std::size_t i = 0; i < kTableParts.size(); ++i) {
    if (kTableParts[i] == name) return 1U << i;
  }
  return 0;
}

Context template_context() {
  Context context;
  context.template_fresh = true;
  return context;
}

template <std::size_t N>
bool one_of(std::string_view name, const std::array<std::string_view, N>& names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// 13.2.6.5: start tags that leave foreign content.
constexpr std::array<std::string_view, 44> kBreakout = {
    "b",     "big",   "blockquote", "body",   "br",   "center", "code",  "dd", "div",  "dl",   "dt",
    "em",    "embed", "h1",         "h2",     "h3",   "h4",     "h5",    "h6", "head", "hr",   "i",
    "img",   "li",    "listing",    "menu",   "meta", "nobr",   "ol",    "p",  "pre",  "ruby", "s",
    "small", "span",  "strong",     "strike", "sub",  "sup",    "table", "tt", "u",    "ul",   "var"};

// The attributes any rule here reads.
constexpr std::array<std::string_view, 12> kReadAttributes = {
    "href", "xlink:href", "src", "rel", "name", "content", "http-equiv", "type", "encoding", "color", "face", "size"};

// Elements that are never open (13.1.2 "void elements"), inside foreign content's integration points.
constexpr std::array<std::string_view, 18> kVoid = {"area",  "base",  "basefont", "bgsound", "br",    "col",
                                                    "embed", "frame", "hr",       "img",     "input", "keygen",
                                                    "link",  "meta",  "param",    "source",  "track", "wbr"};

// Start tags that "in template" hands to "in head" without choosing a mode.
constexpr std::array<std::string_view, 10> kTemplateHeadTags = {"base",     "basefont", "bgsound", "link",     "meta",
                                                                "noframes", "script",   "style",   "template", "title"};

// Start tags "in head" handles; any other one starts the body.
constexpr std::array<std::string_view, 13> kHeadTags = {"html",     "head",  "base",     "basefont", "bgsound",
                                                        "link",     "meta",  "noframes", "script",   "style",
                                                        "template", "title", "noscript"};

// Start tags "in body" that set the frameset-ok flag to "not ok".
constexpr std::array<std::string_view, 22> kFramesetNotOk = {
    "applet", "marquee", "object", "table", "area", "br",     "embed",    "img", "keygen", "wbr",    "hr",
    "pre",    "listing", "li",     "dd",    "dt",   "button", "textarea", "xmp", "iframe", "select", "body"};

// End tags that close HTML elements around foreign content: the scanner
// does not keep the HTML stack, and takes them to close the foreign content
// (they are "special" elements that a document keeps open around an <svg>).
constexpr std::array<std::string_view, 24> kClosesForeign = {
    "html", "body", "div", "p",  "table", "tbody",   "thead",   "tfoot", "tr",     "td",     "th",  "li",
    "ul",   "ol",   "dl",  "dd", "dt",    "section", "article", "aside", "header", "footer", "nav", "form"};

class Scanner {
 public:
  Scanner(std::string_view html, const LinkExtractOptions& options, RawPage& page)
      : html_(html), options_(options), page_(page) {
    contexts_.emplace_back();
  }

  void run();

 private:
  enum class Mode { kHead, kBody, kFrameset };
  enum class Text { kRcdata, kRawText, kScript, kPlaintext };

  // What the page had found when the body started: a <frameset> the body
  // gives way to takes everything the body held with it.
  struct Snapshot {
    std::size_t hrefs = 0;
    bool has_title = false;
    std::string title;
    std::optional<std::string> base_href;
    std::optional<std::string> canonical_href;
    bool meta_nofollow = false;
    bool meta_noindex = false;
  };

  Context& context() { return contexts_.back(); }
  bool in_foreign_content() { return !context().foreign.empty() && context().foreign.back().ns != Namespace::kHtml; }

  std::size_t scan_tag(std::size_t at, bool end);
  std::size_t markup_declaration(std::size_t at);
  void text(std::string_view run);
  void start_body();
  void start_tag();
  void html_start_tag();
  void foreign_start_tag();
  void end_tag();
  std::size_t skip_text(std::size_t at, Text kind, std::string_view name, bool capture_title);
  std::size_t skip_script(std::size_t at);

  void element(bool html);
  std::string_view value(const Attribute& attribute);

  std::string_view html_;
  const LinkExtractOptions& options_;
  RawPage& page_;
  std::vector<Context> contexts_;
  Mode mode_ = Mode::kHead;
  bool frameset_ok_ = true;
  std::size_t framesets_ = 0;
  Snapshot body_start_;
  Tag tag_;
  std::size_t pos_ = 0;
};

void Scanner::run() {
  const std::size_t n = html_.size();
  std::size_t at = 0;
  while (at < n) {
    const void* found = std::memchr(html_.data() + at, '<', n - at);
    const std::size_t open =
        found != nullptr ? static_cast<std::size_t>(static_cast<const char*>(found) - html_.data()) : n;
    if (open > at) text(html_.substr(at, open - at));
    if (open + 1 >= n) {
      if (open < n) text("<");
      return;
    }
    const char c = html_[open + 1];
    if (detail::is_ascii_alpha(c)) {
      at = scan_tag(open + 1, false);
      if (at == std::string_view::npos) return;  // EOF in a tag: no token
      start_tag();
      at = pos_;
    } else if (c == '/') {
      if (open + 2 >= n) {
        text("</");
        return;
      }
      const char d = html_[open + 2];
      if (detail::is_ascii_alpha(d)) {
        at = scan_tag(open + 2, true);
        if (at == std::string_view::npos) return;
        end_tag();
      } else if (d == '>') {
        at = open + 3;  // "</>": nothing
      } else {
        const std::size_t close = html_.find('>', open + 2);  // bogus comment
        at = close == std::string_view::npos ? n : close + 1;
      }
    } else if (c == '!') {
      at = markup_declaration(open + 2);
    } else if (c == '?') {
      const std::size_t close = html_.find('>', open + 2);  // bogus comment
      at = close == std::string_view::npos ? n : close + 1;
    } else {
      text("<");
      at = open + 1;
    }
  }
}

// 13.2.5.42 "Markup declaration open state", from just after "<!".
std::size_t Scanner::markup_declaration(std::size_t at) {
  const std::size_t n = html_.size();
  if (html_.compare(at, 2, "--") == 0) {
    // 13.2.5.43 onwards: "<!-->" and "<!--->" end at once; else the first
    // "-->" or "--!>" ends the comment, EOF too.
    const std::size_t body = at + 2;
    if (body < n && html_[body] == '>') return body + 1;
    if (html_.compare(body, 2, "->") == 0) return body + 2;
    const std::size_t close = html_.find("--", body);
    for (std::size_t dash = close; dash != std::string_view::npos; dash = html_.find("--", dash + 1)) {
      std::size_t after = dash + 2;
      while (after < n && html_[after] == '-') ++after;  // "--->" ends too
      if (after < n && html_[after] == '>') return after + 1;
      if (after + 1 < n && html_[after] == '!' && html_[after + 1] == '>') return after + 2;
      dash = after - 2;
    }
    return n;
  }
  if (starts_with_ci(html_, at, "doctype")) {
    const std::size_t close = html_.find('>', at);  // '>' ends a DOCTYPE even inside its quotes
    return close == std::string_view::npos ? n : close + 1;
  }
  if (html_.compare(at, 7, "[CDATA[") == 0 && in_foreign_content()) {
    const std::size_t close = html_.find("]]>", at + 7);
    return close == std::string_view::npos ? n : close + 3;
  }
  const std::size_t close = html_.find('>', at);  // bogus comment
  return close == std::string_view::npos ? n : close + 1;
}

// Text between tags only matters to the insertion mode: text that is not
// whitespace starts the body and spends the frameset-ok flag.
void Scanner::text(std::string_view run) {
  if (mode_ == Mode::kFrameset || contexts_.size() > 1) return;
  if (mode_ == Mode::kBody && !frameset_ok_) return;
  bool visible = false;
  bool nul = false;
  for (const char c : run) {
    if (c == '\0') {
      nul = true;
    } else if (!detail::is_html_space(c)) {
      visible = true;
      break;
    }
  }
  if (mode_ == Mode::kHead && (visible || nul)) start_body();
  if (visible && !context().select_open) frameset_ok_ = false;
}

void Scanner::start_body() {
  mode_ = Mode::kBody;
  body_start_ = Snapshot{page_.hrefs.size(),   page_.has_title,     page_.title,       page_.base_href,
                         page_.canonical_href, page_.meta_nofollow, page_.meta_noindex};
}

// 13.2.5.6 "Tag open state" to the end of the tag: the tag name and
// attributes into tag_, pos_ after the '>', or npos at EOF (no token).
std::size_t Scanner::scan_tag(std::size_t at, bool end) {
  tag_.clear();
  tag_.end = end;
  const std::size_t n = html_.size();
  while (at < n && !detail::is_html_space(html_[at]) && html_[at] != '/' && html_[at] != '>') {
    const char c = html_[at++];
    if (c == '\0') {
      tag_.name.append(kReplacement);
    } else {
      tag_.name += ascii_lower(c);
    }
  }
  std::string name;
  while (true) {
    // Before attribute name.
    while (at < n && (detail::is_html_space(html_[at]) || html_[at] == '/')) {
      if (html_[at] == '/') {
        // Self-closing start tag state: only "/>" closes; "/x" is an attribute.
        if (at + 1 < n && html_[at + 1] == '>') {
          tag_.self_closing = true;
          pos_ = at + 2;
          return pos_;
        }
      }
      ++at;
    }
    if (at >= n) return std::string_view::npos;
    if (html_[at] == '>') {
      pos_ = at + 1;
      return pos_;
    }
    // Attribute name: a leading '=' belongs to it.
    name.clear();
    do {
      const char c = html_[at++];
      if (c == '\0') {
        name.append(kReplacement);
      } else {
        name += ascii_lower(c);
      }
    } while (at < n && !detail::is_html_space(html_[at]) && html_[at] != '/' && html_[at] != '>' && html_[at] != '=');
    // After attribute name.
    while (at < n && detail::is_html_space(html_[at])) ++at;
    if (at >= n) return std::string_view::npos;
    std::string_view raw_value;
    if (html_[at] == '=') {
      ++at;
      while (at < n && detail::is_html_space(html_[at])) ++at;
      if (at >= n) return std::string_view::npos;
      const char quote = html_[at];
      if (quote == '"' || quote == '\'') {
        const std::size_t close = html_.find(quote, at + 1);
        if (close == std::string_view::npos) return std::string_view::npos;
        raw_value = html_.substr(at + 1, close - at - 1);
        at = close + 1;
        // After attribute value (quoted): anything but space, '/' or '>'
        // starts the next attribute at once, which the loop above does.
      } else if (quote != '>') {
        const std::size_t start = at;
        while (at < n && !detail::is_html_space(html_[at]) && html_[at] != '>') ++at;
        if (at >= n) return std::string_view::npos;
        raw_value = html_.substr(start, at - start);
      }
    }
    // Only the attributes some rule reads are kept, so a tag with a million
    // attributes costs no memory; the first of each name wins (13.2.5.33).
    if (one_of(std::string_view(name), kReadAttributes) && tag_.find(name) == nullptr) {
      tag_.attributes.push_back(Attribute{name, raw_value});
    }
  }
}

std::string_view Scanner::value(const Attribute& attribute) {
  if (!needs_decoding(attribute.raw_value, true)) return attribute.raw_value;
  std::string decoded;
  decode_into(attribute.raw_value, true, true, decoded);
  return page_.owned.emplace_front(std::move(decoded));
}

void Scanner::start_tag() {
  if (tag_.name == "image" && !in_foreign_content()) tag_.name = "img";  // 13.2.6.4.7 "image": "Don't ask."
  const std::string_view name = tag_.name;
  Context& ctx = context();
  if (mode_ == Mode::kFrameset) {
    // 13.2.6.4.20-21 "in frameset", "after frameset".
    if (name == "frameset" && framesets_ > 0) {
      if (!tag_.self_closing) ++framesets_;
    } else if (name == "frame" && framesets_ > 0) {
      element(true);
    } else if (name == "noframes") {
      pos_ = skip_text(pos_, Text::kRawText, "noframes", false);
    }
    return;
  }
  if (ctx.template_fresh && !one_of(name, kTemplateHeadTags)) {
    // 13.2.6.4.18 "in template": the first start tag that is not for the
    // head picks the mode; after <col> it is "in column group" with the
    // template as current node.
    ctx.template_fresh = false;
    ctx.column_group = name == "col";
    // A row, cell or section first puts the contents in a table mode, so a
    // <select> in them is "in select in table".
    if (name != "table" && table_part_bit(name) != 0) ctx.tables = 1;
  }
  if (ctx.column_group) {
    if (name == "template") contexts_.push_back(template_context());
    return;
  }
  if (!ctx.foreign.empty()) {
    const ForeignEntry& current = ctx.foreign.back();
    bool html_rules = current.ns == Namespace::kHtml || current.html_integration;
    if (current.mathml_text_integration && name != "mglyph" && name != "malignmark") html_rules = true;
    if (current.annotation_xml && name == "svg") html_rules = true;
    if (!html_rules) {
      const bool breakout =
          one_of(name, kBreakout) || (name == "font" && (tag_.find("color") || tag_.find("face") || tag_.find("size")));
      if (!breakout) {
        foreign_start_tag();
        return;
      }
      // 13.2.6.5: pop to an HTML element or an integration point, then the
      // tag is an HTML tag again.
      while (!ctx.foreign.empty()) {
        const ForeignEntry& e = ctx.foreign.back();
        if (e.ns == Namespace::kHtml || e.html_integration || e.mathml_text_integration) break;
        ctx.foreign.pop_back();
      }
    }
  }
  html_start_tag();
}

void Scanner::foreign_start_tag() {
  Context& ctx = context();
  const std::string_view name = tag_.name;
  const Namespace ns = ctx.foreign.back().ns == Namespace::kHtml ? Namespace::kSvg : ctx.foreign.back().ns;
  element(false);
  if (tag_.self_closing) return;
  ForeignEntry entry{ns, std::string(name)};
  if (ns == Namespace::kSvg) {
    entry.html_integration = name == "foreignobject" || name == "desc" || name == "title";
  } else {
    entry.mathml_text_integration = name == "mi" || name == "mo" || name == "mn" || name == "ms" || name == "mtext";
    if (name == "annotation-xml") {
      entry.annotation_xml = true;
      if (const Attribute* encoding = tag_.find("encoding")) {
        const std::string_view v = value(*encoding);
        entry.html_integration = iequals(v, "text/html") || iequals(v, "application/xhtml+xml");
      }
    }
  }
  ctx.foreign.push_back(std::move(entry));
}

// A start tag under the rules for HTML content.
void Scanner::html_start_tag() {
  const std::string_view name = tag_.name;
  const bool top = contexts_.size() == 1;
  if (mode_ == Mode::kHead && top && !one_of(name, kHeadTags)) {
    // 13.2.6.4.6 "after head".
    if (name == "frameset") {
      mode_ = Mode::kFrameset;
      framesets_ = tag_.self_closing ? 0 : 1;
      return;
    }
    start_body();
  }
  Context& ctx = context();
  if (ctx.select_open) {
    // 13.2.6.4.16-17 "in select", "in select in table".
    if (name == "option" || name == "optgroup") return;
    if (name == "select") {
      ctx.select_open = false;
      return;
    }
    const bool table_part = table_part_bit(name) != 0;
    if (name == "input" || name == "keygen" || name == "textarea" || (table_part && ctx.select_in_table)) {
      ctx.select_open = false;  // and the tag is processed again
    } else if (name != "script" && name != "template") {
      return;  // ignored
    }
  }
  if (name == "frameset") {
    // 13.2.6.4.7: the body gives way only while nothing has happened in it.
    if (mode_ == Mode::kBody && top && frameset_ok_ && ctx.foreign.empty()) {
      page_.hrefs.resize(body_start_.hrefs);
      page_.has_title = body_start_.has_title;
      page_.title = body_start_.title;
      page_.base_href = body_start_.base_href;
      page_.canonical_href = body_start_.canonical_href;
      page_.meta_nofollow = body_start_.meta_nofollow;
      page_.meta_noindex = body_start_.meta_noindex;
      mode_ = Mode::kFrameset;
      framesets_ = tag_.self_closing ? 0 : 1;
    }
    return;
  }
  if (name == "frame") return;  // ignored outside a frameset
  // Once spent, the frameset-ok flag stays "not ok": no need to look again.
  if (mode_ == Mode::kBody && frameset_ok_ && one_of(name, kFramesetNotOk)) frameset_ok_ = false;
  if (mode_ == Mode::kBody && frameset_ok_ && name == "input") {
    const Attribute* type = tag_.find("type");
    if (type == nullptr || !iequals(value(*type), "hidden")) frameset_ok_ = false;
  }
  element(true);
  if (name == "template") {
    contexts_.push_back(template_context());
    return;
  }
  if (name == "select") {
    ctx.select_open = true;
    ctx.select_in_table = ctx.tables > 0;
    return;
  }
  if (name == "table") {
    ++ctx.tables;
    ctx.table_parts = 0;
  }
  ctx.table_parts |= table_part_bit(name);
  if (name == "svg" || name == "math") {
    if (!tag_.self_closing)
      ctx.foreign.push_back(ForeignEntry{name == "svg" ? Namespace::kSvg : Namespace::kMathMl, std::string(name)});
    return;
  }
  const bool capture_title = name == "title" && !page_.has_title;
  if (capture_title) page_.has_title = true;
  // The tree builder switches the tokenizer for these (13.2.6.2), self-closing or not.
  if (name == "title" || name == "textarea") {
    const std::string element_name(name);  // scanning the end tag reuses tag_
    pos_ = skip_text(pos_, Text::kRcdata, element_name, capture_title);
  } else if (name == "style" || name == "xmp" || name == "iframe" || name == "noembed" || name == "noframes") {
    const std::string element_name(name);
    pos_ = skip_text(pos_, Text::kRawText, element_name, false);
  } else if (name == "script") {
    pos_ = skip_script(pos_);
  } else if (name == "plaintext") {
    pos_ = html_.size();
  } else if (!ctx.foreign.empty() && !tag_.self_closing && !one_of(name, kVoid)) {
    ctx.foreign.push_back(ForeignEntry{Namespace::kHtml, std::string(name)});
  }
}

// What an element means for the page: a link, the base, the canonical URL,
// meta robots or refresh. `html` is false for elements in SVG or MathML.
void Scanner::element(bool html) {
  const std::string_view name = tag_.name;
  if (html) {
    if (name == "base") {
      if (!page_.base_href) {
        if (const Attribute* href = tag_.find("href")) page_.base_href = std::string(value(*href));
      }
    } else if (name == "link") {
      if (!page_.canonical_href) {
        const Attribute* rel = tag_.find("rel");
        if (rel != nullptr && has_token(value(*rel), "canonical")) {
          if (const Attribute* href = tag_.find("href")) page_.canonical_href = std::string(value(*href));
        }
      }
    } else if (name == "meta") {
      const Attribute* content = tag_.find("content");
      if (content != nullptr) {
        if (const Attribute* meta_name = tag_.find("name"))
          apply_meta_robots(value(*meta_name), value(*content), page_);
        const Attribute* equiv = tag_.find("http-equiv");
        if (options_.follow_meta_refresh && equiv != nullptr && iequals(value(*equiv), "refresh")) {
          if (auto target = refresh_url(value(*content))) page_.hrefs.push_back(*target);
        }
      }
    }
  }
  // Tag names are folded to lower case already; the option's may be in any case.
  if (std::none_of(options_.link_tags.begin(), options_.link_tags.end(),
                   [name](const std::string& tag) { return iequals(tag, name); }))
    return;
  if (options_.honour_rel_nofollow) {
    const Attribute* rel = tag_.find("rel");
    if (rel != nullptr && has_token(value(*rel), "nofollow")) return;
  }
  const Attribute* target = tag_.find("href");
  if (target == nullptr) target = tag_.find("xlink:href");
  if (target == nullptr) target = tag_.find("src");
  if (target != nullptr) page_.hrefs.push_back(value(*target));
}

void Scanner::end_tag() {
  const std::string_view name = tag_.name;
  if (mode_ == Mode::kFrameset) {
    if (name == "frameset" && framesets_ > 0) --framesets_;
    return;
  }
  Context& ctx = context();
  if (ctx.column_group && name != "template") return;
  if (!ctx.foreign.empty()) {
    // 13.2.6.5 "any other end tag": the nearest open element of that name.
    for (std::size_t i = ctx.foreign.size(); i-- > 0;) {
      if (std::string_view(ctx.foreign[i].name) == name) {
        ctx.foreign.resize(i);
        return;
      }
    }
    if (name == "br" || name == "p" || one_of(name, kClosesForeign)) ctx.foreign.clear();
  }
  if (name == "template") {
    if (contexts_.size() > 1) contexts_.pop_back();
    return;
  }
  if (ctx.select_open) {
    const bool table_part = name == "table" || (ctx.table_parts & table_part_bit(name)) != 0;
    if (name == "select" || (table_part && ctx.select_in_table)) ctx.select_open = false;
    if (name != "table") return;
  }
  if (name == "table" && ctx.tables > 0) --ctx.tables;
  if (contexts_.size() == 1) {
    if (mode_ == Mode::kHead && (name == "body" || name == "html" || name == "br")) start_body();
    if (mode_ == Mode::kBody && name == "br") frameset_ok_ = false;  // "</br>" is a <br>
  }
}

// RCDATA and RAWTEXT (13.2.5.2-3): text up to "</name" followed by
// whitespace, '/' or '>', which starts an end tag scanned as usual.
std::size_t Scanner::skip_text(std::size_t at, Text kind, std::string_view name, bool capture_title) {
  std::size_t text_end = html_.size();
  std::size_t next = html_.size();
  for (std::size_t lt = html_.find("</", at); lt != std::string_view::npos; lt = html_.find("</", lt + 2)) {
    const std::size_t after = lt + 2 + name.size();
    if (!starts_with_ci(html_, lt + 2, name)) continue;
    if (after < html_.size() && !detail::is_html_space(html_[after]) && html_[after] != '/' && html_[after] != '>')
      continue;
    if (after >= html_.size()) break;  // "</title" at EOF is text
    text_end = lt;
    const std::size_t end = scan_tag(lt + 2, true);
    next = end == std::string_view::npos ? html_.size() : end;
    break;
  }
  if (capture_title) {
    std::string decoded;
    const std::string_view raw = html_.substr(at, text_end - at);
    if (needs_decoding(raw, kind == Text::kRcdata)) {
      decode_into(raw, kind == Text::kRcdata, false, decoded);
      append_collapsed(decoded, page_.title);
    } else {
      append_collapsed(raw, page_.title);
    }
    finish_collapsed(page_.title);
  }
  return next;
}

// 13.2.5.4 "Script data state" and the states after it: "<!--" escapes
// the script, "<script" inside that escapes it twice, and in the doubly
// escaped state "</script>" only goes back one level; "-->" ends both.
std::size_t Scanner::skip_script(std::size_t at) {
  const std::size_t n = html_.size();
  enum class State { kData, kEscaped, kDoubleEscaped } state = State::kData;
  std::size_t dashes = 0;  // '-'s just before `at` in an escaped state
  const auto name_ends = [&](std::size_t i) {
    return i < n && (detail::is_html_space(html_[i]) || html_[i] == '/' || html_[i] == '>');
  };
  const auto script_end_tag = [&](std::size_t lt) {  // "</script" and a terminator at `lt`
    return html_.compare(lt, 2, "</") == 0 && starts_with_ci(html_, lt + 2, "script") && name_ends(lt + 8);
  };
  while (at < n) {
    if (state == State::kData) {
      const std::size_t lt = html_.find('<', at);
      if (lt == std::string_view::npos) return n;
      if (script_end_tag(lt)) {
        const std::size_t end = scan_tag(lt + 2, true);
        return end == std::string_view::npos ? n : end;
      }
      at = lt + 1;
      if (html_.compare(at, 3, "!--") == 0) {
        // "Script data escape start (dash) state": on to "escaped dash dash".
        state = State::kEscaped;
        at += 3;
        dashes = 2;
      }
      continue;
    }
    const char c = html_[at];
    if (c == '-') {
      ++dashes;
      ++at;
      continue;
    }
    if (c == '>' && dashes >= 2) {
      state = State::kData;
      dashes = 0;
      ++at;
      continue;
    }
    dashes = 0;
    if (c != '<') {
      ++at;
      continue;
    }
    if (state == State::kEscaped) {
      if (script_end_tag(at)) {
        const std::size_t end = scan_tag(at + 2, true);
        return end == std::string_view::npos ? n : end;
      }
      if (starts_with_ci(html_, at + 1, "script") && name_ends(at + 7)) {
        state = State::kDoubleEscaped;
        at += 7;
        continue;
      }
    } else if (script_end_tag(at)) {
      state = State::kEscaped;  // "script data double escape end state"
      at += 8;
      continue;
    }
    ++at;
  }
  return n;
}

}  // namespace

bool has_token(std::string_view list, std::string_view token) {
  std::size_t at = 0;
  while (at < list.size()) {
    while (at < list.size() && detail::is_html_space(list[at])) ++at;
    std::size_t end = at;
    while (end < list.size() && !detail::is_html_space(list[end])) ++end;
    if (end > at && iequals(list.substr(at, end - at), token)) return true;
    at = end;
  }
  return false;
}

void apply_meta_robots(std::string_view name, std::string_view content, RawPage& page) {
  while (!name.empty() && detail::is_html_space(name.front())) name.remove_prefix(1);
  while (!name.empty() && detail::is_html_space(name.back())) name.remove_suffix(1);
  if (!iequals(name, "robots")) return;
  std::size_t at = 0;
  while (at < content.size()) {
    while (at < content.size() && (detail::is_html_space(content[at]) || content[at] == ',')) ++at;
    std::size_t end = at;
    while (end < content.size() && !detail::is_html_space(content[end]) && content[end] != ',') ++end;
    const std::string_view directive = content.substr(at, end - at);
    if (!directive.empty()) {
      const bool none = iequals(directive, "none");
      page.meta_nofollow = page.meta_nofollow || none || iequals(directive, "nofollow");
      page.meta_noindex = page.meta_noindex || none || iequals(directive, "noindex");
    }
    at = end;
  }
}

std::optional<std::string_view> refresh_url(std::string_view content) {
  std::size_t at = 0;
  const std::size_t n = content.size();
  const auto skip_space = [&] {
    while (at < n && detail::is_html_space(content[at])) ++at;
  };
  skip_space();
  const std::size_t digits = at;
  while (at < n && detail::is_ascii_digit(content[at])) ++at;
  if (at == digits && (at >= n || content[at] != '.')) return std::nullopt;
  while (at < n && (detail::is_ascii_digit(content[at]) || content[at] == '.')) ++at;
  if (at >= n) return std::nullopt;  // a plain reload
  if (content[at] != ';' && content[at] != ',' && !detail::is_html_space(content[at])) return std::nullopt;
  skip_space();
  if (at < n && (content[at] == ';' || content[at] == ',')) ++at;
  skip_space();
  if (at >= n) return std::nullopt;
  std::string_view url = content.substr(at);
  bool skip_quotes = false;
  if (ascii_lower(content[at]) == 'u') {
    ++at;
    if (at < n && ascii_lower(content[at]) == 'r') {
      ++at;
      if (at < n && ascii_lower(content[at]) == 'l') {
        ++at;
        skip_space();
        if (at < n && content[at] == '=') {
          ++at;
          skip_space();
          skip_quotes = true;
        }
      }
    }
  } else {
    skip_quotes = true;
  }
  if (skip_quotes) {
    char quote = 0;
    if (at < n && (content[at] == '\'' || content[at] == '"')) quote = content[at++];
    url = content.substr(at);
    if (quote != 0) url = url.substr(0, url.find(quote));
  }
  return url;
}

void append_collapsed(std::string_view text, std::string& out) {
  for (const char c : text) {
    if (detail::is_html_space(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
}

void finish_collapsed(std::string& out) {
  if (!out.empty() && out.back() == ' ') out.pop_back();
}

RawPage scan_page(std::string_view html, const LinkExtractOptions& options) {
  RawPage page;
  Scanner(html, options, page).run();
  return page;
}

PageInfo resolve_page(const RawPage& raw, const Url& page_url, const LinkExtractOptions& options) {
  PageInfo info;
  info.title = raw.title;
  info.meta_nofollow = raw.meta_nofollow;
  info.meta_noindex = raw.meta_noindex;
  if (raw.base_href) {
    if (auto base = page_url.resolve(*raw.base_href)) info.base = std::move(base).value();
  }
  const Url& base = info.base ? *info.base : page_url;
  if (raw.canonical_href) {
    if (auto canonical = base.resolve(*raw.canonical_href)) info.canonical = std::move(canonical).value();
  }
  // Views into the Urls' own strings, which do not move when links grows.
  // A page's first few links are checked one by one: a hash set costs a
  // node allocation per link, more than comparing against a handful.
  constexpr std::size_t kLinearSeen = 16;
  std::unordered_set<std::string_view> seen;
  const auto already_kept = [&info, &seen](std::string_view url) {
    if (info.links.size() <= kLinearSeen) {
      return std::any_of(info.links.begin(), info.links.end(), [url](const Url& kept) { return kept.str() == url; });
    }
    if (seen.empty()) {
      for (const Url& kept : info.links) seen.insert(kept.str());
    }
    return seen.contains(url);
  };
  for (const std::string_view href : raw.hrefs) {
    if (info.links.size() >= options.max_links) break;
    Result<Url> link = base.resolve(href);
    if (!link) {
      if (link.error().code == ErrorCode::kInvalidUrl) ++info.invalid_links;
      continue;
    }
    if (already_kept(link->str())) continue;
    info.links.push_back(std::move(link).value());
    if (!seen.empty()) seen.insert(info.links.back().str());
  }
  return info;
}

}  // namespace fetchpool::detail
