// See parse/html_guard.hpp. Section names in comments are those of the
// WHATWG HTML Standard, 13.2 "Parsing HTML documents"; where gumbo 0.10.1
// differs from today's standard, this follows gumbo.
#include "parse/html_guard.hpp"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/ascii.hpp"

namespace fetchpool::detail {
namespace {

// Properties of HTML-namespace tags, indexed by GumboTag.
enum : std::uint32_t {
  kSpecial = 1U << 0,     // "special" category: stops "any other end tag"
  kScope = 1U << 1,       // boundary of "has an element in scope"
  kFormatting = 1U << 2,  // goes into the list of active formatting elements
  kClosesP = 1U << 3,     // start tag closes an open <p> in button scope
  kVoid = 1U << 4,        // never stays open
  kRawText = 1U << 5,     // content is text up to the matching end tag
  kMarker = 1U << 6,      // pushes a marker onto the formatting list
  kBlockEnd = 1U << 7,    // end tag closes through the element when in scope
  kHeading = 1U << 8,
  kImpliedEnd = 1U << 9,  // closed by "generate implied end tags"
  kTableSection = 1U << 10,
  kMergedStart = 1U << 11,  // html, head, body: merged into the existing element
};

using TagTable = std::array<std::uint32_t, GUMBO_TAG_LAST + 1>;

constexpr void mark(TagTable& table, std::initializer_list<GumboTag> tags, std::uint32_t bits) {
  for (GumboTag tag : tags) table[tag] |= bits;
}

constexpr TagTable make_tag_table() {
  TagTable t{};
  mark(t, {GUMBO_TAG_ADDRESS,    GUMBO_TAG_APPLET,    GUMBO_TAG_AREA,     GUMBO_TAG_ARTICLE,    GUMBO_TAG_ASIDE,
           GUMBO_TAG_BASE,       GUMBO_TAG_BASEFONT,  GUMBO_TAG_BGSOUND,  GUMBO_TAG_BLOCKQUOTE, GUMBO_TAG_BODY,
           GUMBO_TAG_BR,         GUMBO_TAG_BUTTON,    GUMBO_TAG_CAPTION,  GUMBO_TAG_CENTER,     GUMBO_TAG_COL,
           GUMBO_TAG_COLGROUP,   GUMBO_TAG_MENUITEM,  GUMBO_TAG_DD,       GUMBO_TAG_DETAILS,    GUMBO_TAG_DIR,
           GUMBO_TAG_DIV,        GUMBO_TAG_DL,        GUMBO_TAG_DT,       GUMBO_TAG_EMBED,      GUMBO_TAG_FIELDSET,
           GUMBO_TAG_FIGCAPTION, GUMBO_TAG_FIGURE,    GUMBO_TAG_FOOTER,   GUMBO_TAG_FORM,       GUMBO_TAG_FRAME,
           GUMBO_TAG_FRAMESET,   GUMBO_TAG_H1,        GUMBO_TAG_H2,       GUMBO_TAG_H3,         GUMBO_TAG_H4,
           GUMBO_TAG_H5,         GUMBO_TAG_H6,        GUMBO_TAG_HEAD,     GUMBO_TAG_HEADER,     GUMBO_TAG_HGROUP,
           GUMBO_TAG_HR,         GUMBO_TAG_HTML,      GUMBO_TAG_IFRAME,   GUMBO_TAG_IMG,        GUMBO_TAG_INPUT,
           GUMBO_TAG_ISINDEX,    GUMBO_TAG_LI,        GUMBO_TAG_LINK,     GUMBO_TAG_LISTING,    GUMBO_TAG_MAIN,
           GUMBO_TAG_MARQUEE,    GUMBO_TAG_MENU,      GUMBO_TAG_META,     GUMBO_TAG_NAV,        GUMBO_TAG_NOEMBED,
           GUMBO_TAG_NOFRAMES,   GUMBO_TAG_NOSCRIPT,  GUMBO_TAG_OBJECT,   GUMBO_TAG_OL,         GUMBO_TAG_P,
           GUMBO_TAG_PARAM,      GUMBO_TAG_PLAINTEXT, GUMBO_TAG_PRE,      GUMBO_TAG_SCRIPT,     GUMBO_TAG_SECTION,
           GUMBO_TAG_SELECT,     GUMBO_TAG_SOURCE,    GUMBO_TAG_STYLE,    GUMBO_TAG_SUMMARY,    GUMBO_TAG_TABLE,
           GUMBO_TAG_TBODY,      GUMBO_TAG_TD,        GUMBO_TAG_TEMPLATE, GUMBO_TAG_TEXTAREA,   GUMBO_TAG_TFOOT,
           GUMBO_TAG_TH,         GUMBO_TAG_THEAD,     GUMBO_TAG_TITLE,    GUMBO_TAG_TR,         GUMBO_TAG_TRACK,
           GUMBO_TAG_UL,         GUMBO_TAG_WBR,       GUMBO_TAG_XMP},
       kSpecial);
  mark(t,
       {GUMBO_TAG_APPLET, GUMBO_TAG_CAPTION, GUMBO_TAG_HTML, GUMBO_TAG_TABLE, GUMBO_TAG_TD, GUMBO_TAG_TH,
        GUMBO_TAG_MARQUEE, GUMBO_TAG_OBJECT, GUMBO_TAG_TEMPLATE},
       kScope);
  mark(t,
       {GUMBO_TAG_A, GUMBO_TAG_B, GUMBO_TAG_BIG, GUMBO_TAG_CODE, GUMBO_TAG_EM, GUMBO_TAG_FONT, GUMBO_TAG_I,
        GUMBO_TAG_NOBR, GUMBO_TAG_S, GUMBO_TAG_SMALL, GUMBO_TAG_STRIKE, GUMBO_TAG_STRONG, GUMBO_TAG_TT, GUMBO_TAG_U},
       kFormatting);
  // <table> closes a <p> only outside quirks mode; leaving it out keeps the
  // <p> open, the deeper of the two answers.
  mark(t, {GUMBO_TAG_ADDRESS,    GUMBO_TAG_ARTICLE, GUMBO_TAG_ASIDE,  GUMBO_TAG_BLOCKQUOTE, GUMBO_TAG_CENTER,
           GUMBO_TAG_DETAILS,    GUMBO_TAG_DIR,     GUMBO_TAG_DIV,    GUMBO_TAG_DL,         GUMBO_TAG_FIELDSET,
           GUMBO_TAG_FIGCAPTION, GUMBO_TAG_FIGURE,  GUMBO_TAG_FOOTER, GUMBO_TAG_HEADER,     GUMBO_TAG_HGROUP,
           GUMBO_TAG_MENU,       GUMBO_TAG_NAV,     GUMBO_TAG_OL,     GUMBO_TAG_P,          GUMBO_TAG_SECTION,
           GUMBO_TAG_SUMMARY,    GUMBO_TAG_UL,      GUMBO_TAG_H1,     GUMBO_TAG_H2,         GUMBO_TAG_H3,
           GUMBO_TAG_H4,         GUMBO_TAG_H5,      GUMBO_TAG_H6,     GUMBO_TAG_PRE,        GUMBO_TAG_LISTING,
           GUMBO_TAG_FORM,       GUMBO_TAG_LI,      GUMBO_TAG_DD,     GUMBO_TAG_DT,         GUMBO_TAG_PLAINTEXT,
           GUMBO_TAG_HR,         GUMBO_TAG_XMP,     GUMBO_TAG_MAIN},
       kClosesP);
  mark(t, {GUMBO_TAG_AREA, GUMBO_TAG_BR,       GUMBO_TAG_EMBED,   GUMBO_TAG_IMG,      GUMBO_TAG_IMAGE, GUMBO_TAG_KEYGEN,
           GUMBO_TAG_WBR,  GUMBO_TAG_INPUT,    GUMBO_TAG_PARAM,   GUMBO_TAG_SOURCE,   GUMBO_TAG_TRACK, GUMBO_TAG_HR,
           GUMBO_TAG_BASE, GUMBO_TAG_BASEFONT, GUMBO_TAG_BGSOUND, GUMBO_TAG_MENUITEM, GUMBO_TAG_LINK,  GUMBO_TAG_META,
           GUMBO_TAG_COL,  GUMBO_TAG_FRAME,    GUMBO_TAG_ISINDEX},
       kVoid);
  mark(t,
       {GUMBO_TAG_TITLE, GUMBO_TAG_TEXTAREA, GUMBO_TAG_STYLE, GUMBO_TAG_XMP, GUMBO_TAG_IFRAME, GUMBO_TAG_NOEMBED,
        GUMBO_TAG_NOFRAMES, GUMBO_TAG_SCRIPT},
       kRawText);
  mark(t,
       {GUMBO_TAG_APPLET, GUMBO_TAG_MARQUEE, GUMBO_TAG_OBJECT, GUMBO_TAG_TD, GUMBO_TAG_TH, GUMBO_TAG_CAPTION,
        GUMBO_TAG_TEMPLATE},
       kMarker);
  mark(t, {GUMBO_TAG_ADDRESS,  GUMBO_TAG_ARTICLE,    GUMBO_TAG_ASIDE,   GUMBO_TAG_BLOCKQUOTE, GUMBO_TAG_BUTTON,
           GUMBO_TAG_CENTER,   GUMBO_TAG_DETAILS,    GUMBO_TAG_DIR,     GUMBO_TAG_DIV,        GUMBO_TAG_DL,
           GUMBO_TAG_FIELDSET, GUMBO_TAG_FIGCAPTION, GUMBO_TAG_FIGURE,  GUMBO_TAG_FOOTER,     GUMBO_TAG_HEADER,
           GUMBO_TAG_HGROUP,   GUMBO_TAG_LISTING,    GUMBO_TAG_MENU,    GUMBO_TAG_NAV,        GUMBO_TAG_OL,
           GUMBO_TAG_PRE,      GUMBO_TAG_SECTION,    GUMBO_TAG_SUMMARY, GUMBO_TAG_UL,         GUMBO_TAG_DD,
           GUMBO_TAG_DT,       GUMBO_TAG_MAIN},
       kBlockEnd);
  mark(t, {GUMBO_TAG_H1, GUMBO_TAG_H2, GUMBO_TAG_H3, GUMBO_TAG_H4, GUMBO_TAG_H5, GUMBO_TAG_H6}, kHeading);
  mark(t,
       {GUMBO_TAG_DD, GUMBO_TAG_DT, GUMBO_TAG_LI, GUMBO_TAG_OPTGROUP, GUMBO_TAG_OPTION, GUMBO_TAG_P, GUMBO_TAG_RB,
        GUMBO_TAG_RP, GUMBO_TAG_RT, GUMBO_TAG_RTC},
       kImpliedEnd);
  mark(t, {GUMBO_TAG_TBODY, GUMBO_TAG_THEAD, GUMBO_TAG_TFOOT}, kTableSection);
  mark(t, {GUMBO_TAG_HTML, GUMBO_TAG_HEAD, GUMBO_TAG_BODY}, kMergedStart);
  return t;
}

constexpr TagTable kTags = make_tag_table();

// One tag token as far as the model needs it.
struct Tag {
  GumboTag tag = GUMBO_TAG_UNKNOWN;
  std::uint32_t attr_hash = 0;  // attribute text, for the Noah's Ark clause
};

struct Entry {
  GumboTag tag;
  std::uint64_t item = 0;     // its entry in the list of active formatting elements, or 0
  bool fresh = true;          // a <template> that has not had a start tag yet
  bool column_group = false;  // a <template> whose first start tag was <col>
};

// An entry of the list of active formatting elements: a marker, or a
// formatting element that is open or already closed. The parser reopens
// closed ones ("reconstruct the active formatting elements") at the next
// start tag or text, so the model counts them as open.
struct Item {
  bool marker;
  bool open;
  GumboTag tag;
  std::uint32_t attr_hash;
  std::uint64_t id;
};

enum class After { kNothing, kRawText };

// Gumbo's stack of open elements below <body>, and its list of active
// formatting elements.
class Model {
 public:
  std::size_t depth() const noexcept { return stack_.size() + closed_items_; }
  After start_tag(const Tag& tag);
  void end_tag(GumboTag name);

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

  static bool has(GumboTag tag, std::uint32_t bits) noexcept { return (kTags[tag] & bits) != 0; }
  static bool is_special(const Entry& e) noexcept { return has(e.tag, kSpecial); }
  static bool is_scope_boundary(const Entry& e) noexcept { return has(e.tag, kScope); }
  static bool never(const Entry&) noexcept { return false; }

  // Index of the topmost entry matching `target`, or kNone if a `boundary`
  // entry comes first.
  template <typename Target, typename Boundary>
  std::size_t find(Target target, Boundary boundary) const {
    for (std::size_t i = stack_.size(); i-- > 0;) {
      if (target(stack_[i])) return i;
      if (boundary(stack_[i])) return kNone;
    }
    return kNone;
  }
  std::size_t find_tag(GumboTag tag) const {
    return find([tag](const Entry& e) { return e.tag == tag; }, never);
  }
  std::size_t in_scope(GumboTag tag) const {
    return find([tag](const Entry& e) { return e.tag == tag; }, is_scope_boundary);
  }
  std::size_t in_button_scope(GumboTag tag) const {
    return find([tag](const Entry& e) { return e.tag == tag; },
                [](const Entry& e) { return is_scope_boundary(e) || e.tag == GUMBO_TAG_BUTTON; });
  }
  std::size_t in_list_scope(GumboTag tag) const {
    return find([tag](const Entry& e) { return e.tag == tag; },
                [](const Entry& e) { return is_scope_boundary(e) || e.tag == GUMBO_TAG_OL || e.tag == GUMBO_TAG_UL; });
  }
  std::size_t in_table_scope(GumboTag tag) const {
    return find([tag](const Entry& e) { return e.tag == tag; },
                [](const Entry& e) { return e.tag == GUMBO_TAG_TABLE || e.tag == GUMBO_TAG_TEMPLATE; });
  }
  // The open <select> while the parser is "in select": only <option> and
  // <optgroup> above it.
  std::size_t open_select() const {
    return find([](const Entry& e) { return e.tag == GUMBO_TAG_SELECT; },
                [](const Entry& e) { return e.tag != GUMBO_TAG_OPTION && e.tag != GUMBO_TAG_OPTGROUP; });
  }
  // The nearest open <table> or <template>.
  std::size_t table_context() const {
    return find([](const Entry& e) { return e.tag == GUMBO_TAG_TABLE || e.tag == GUMBO_TAG_TEMPLATE; }, never);
  }
  // Whether a table encloses the element at `index`: a <select> there was
  // opened in a table mode, so the parser is "in select in table".
  bool in_table(std::size_t index) const {
    for (std::size_t i = index; i-- > 0;) {
      if (stack_[i].tag == GUMBO_TAG_TABLE) return true;
      if (stack_[i].tag == GUMBO_TAG_TEMPLATE) return false;
    }
    return false;
  }
  bool current_is(GumboTag tag) const noexcept { return !stack_.empty() && stack_.back().tag == tag; }

  void push(const Tag& tag) {
    std::uint64_t item = 0;
    if (has(tag.tag, kFormatting)) {
      noahs_ark(tag);
      item = ++last_id_;
      list_.push_back(Item{false, true, tag.tag, tag.attr_hash, item});
    }
    stack_.push_back(Entry{tag.tag, item});
    if (has(tag.tag, kMarker)) list_.push_back(Item{true, false, tag.tag, 0, ++last_id_});
  }
  void push_implied(GumboTag tag) { stack_.push_back(Entry{tag}); }

  void pop_through(std::size_t index) {
    while (stack_.size() > index) {
      const Entry e = stack_.back();
      stack_.pop_back();
      if (e.item != 0) {
        if (const std::size_t i = list_index_of(e.item); i != kNone) {
          list_[i].open = false;
          ++closed_items_;
        }
      }
      // Closing a cell, a caption or a template clears the list to its
      // marker; <applet>, <marquee> and <object> do so only on their own end
      // tag (end_tag), not when a table end tag pops them.
      if (e.tag == GUMBO_TAG_TD || e.tag == GUMBO_TAG_TH || e.tag == GUMBO_TAG_CAPTION || e.tag == GUMBO_TAG_TEMPLATE) {
        clear_to_last_marker();
      }
    }
  }
  void pop_current() { pop_through(stack_.size() - 1); }
  void pop_if_current(GumboTag tag) {
    if (current_is(tag)) pop_current();
  }

  // Removes one element from the stack (not those above it), and its entry
  // from the list.
  void erase_entry(std::size_t index) {
    const std::uint64_t item = stack_[index].item;
    stack_.erase(stack_.begin() + static_cast<std::ptrdiff_t>(index));
    if (item != 0) {
      if (const std::size_t i = list_index_of(item); i != kNone) remove_item(i);
    }
  }

  std::size_t list_index_of(std::uint64_t id) const {
    for (std::size_t i = list_.size(); i-- > 0;) {
      if (list_[i].id == id) return i;
    }
    return kNone;
  }
  std::size_t stack_index_of(std::uint64_t id) const {
    for (std::size_t i = stack_.size(); i-- > 0;) {
      if (stack_[i].item == id) return i;
    }
    return kNone;
  }
  // Index in list_ of the first entry after the last marker.
  std::size_t after_last_marker() const {
    for (std::size_t i = list_.size(); i-- > 0;) {
      if (list_[i].marker) return i + 1;
    }
    return 0;
  }
  // The last entry for `tag` after the last marker.
  std::size_t last_in_list(GumboTag tag) const {
    for (std::size_t i = list_.size(); i-- > after_last_marker();) {
      if (list_[i].tag == tag) return i;
    }
    return kNone;
  }
  void remove_item(std::size_t index) {
    if (!list_[index].open && !list_[index].marker) --closed_items_;
    list_.erase(list_.begin() + static_cast<std::ptrdiff_t>(index));
  }
  // "Clear the list of active formatting elements up to the last marker."
  void clear_to_last_marker() {
    while (!list_.empty()) {
      const bool marker = list_.back().marker;
      remove_item(list_.size() - 1);
      if (marker) return;
    }
  }

  // The Noah's Ark clause: at most three identical entries after the last
  // marker. Attributes compare as written, so some identical ones look
  // different and stay: the deeper reading.
  void noahs_ark(const Tag& tag) {
    std::size_t count = 0;
    std::size_t earliest = kNone;
    for (std::size_t i = after_last_marker(); i < list_.size(); ++i) {
      if (list_[i].tag == tag.tag && list_[i].attr_hash == tag.attr_hash && count++ == 0) earliest = i;
    }
    if (count < 3) return;
    if (list_[earliest].open) {
      if (const std::size_t at = stack_index_of(list_[earliest].id); at != kNone) stack_[at].item = 0;  // stays open
    }
    remove_item(earliest);
  }

  // The adoption agency algorithm, as far as depth goes. Returns false when
  // the end tag falls through to "any other end tag".
  bool adopt(GumboTag tag) {
    const std::size_t found = last_in_list(tag);
    if (found == kNone) return false;
    if (!list_[found].open) {
      remove_item(found);  // not on the stack: just leaves the list
      return true;
    }
    const std::size_t at = stack_index_of(list_[found].id);
    if (at == kNone) return true;
    for (std::size_t i = at + 1; i < stack_.size(); ++i) {
      if (is_scope_boundary(stack_[i])) return true;  // not in scope: ignored
    }
    for (std::size_t i = at + 1; i < stack_.size(); ++i) {
      if (is_special(stack_[i])) {
        // A furthest block: the formatting element goes and the block stays.
        // Keeping everything else open is the deeper reading of steps 9-15.
        erase_entry(at);
        return true;
      }
    }
    stack_[at].item = 0;
    remove_item(found);
    pop_through(at);
    return true;
  }

  void close_p() {
    if (const std::size_t p = in_button_scope(GUMBO_TAG_P); p != kNone) pop_through(p);
  }

  // "li" and "dd, dt" start tags close an open item, unless a special
  // element other than address, div and p comes first.
  void close_list_item(GumboTag name) {
    for (std::size_t i = stack_.size(); i-- > 0;) {
      const GumboTag tag = stack_[i].tag;
      const bool item = name == GUMBO_TAG_LI ? tag == GUMBO_TAG_LI : (tag == GUMBO_TAG_DD || tag == GUMBO_TAG_DT);
      if (item) {
        pop_through(i);
        return;
      }
      if (is_special(stack_[i]) && tag != GUMBO_TAG_ADDRESS && tag != GUMBO_TAG_DIV && tag != GUMBO_TAG_P) return;
    }
  }

  // After <a> ran the adoption agency, an <a> left in the list goes too.
  void remove_from_list(GumboTag tag) {
    const std::size_t i = last_in_list(tag);
    if (i == kNone) return;
    const std::size_t at = list_[i].open ? stack_index_of(list_[i].id) : kNone;
    if (at != kNone) {
      erase_entry(at);
    } else {
      remove_item(i);
    }
  }

  // Cells, rows, row groups, captions and column groups: ignored outside a
  // table; inside one they close what the table modes close and add the
  // implied <tbody> and <tr>.
  void table_part(const Tag& tag) {
    const GumboTag name = tag.tag;
    const std::size_t context = table_context();
    if (context == kNone) return;
    if (stack_[context].tag == GUMBO_TAG_TEMPLATE) {
      // Template contents pick their mode from their first tag; keeping
      // every part open is the deeper reading.
      push(tag);
      return;
    }
    const bool cell = name == GUMBO_TAG_TD || name == GUMBO_TAG_TH;
    const bool row = name == GUMBO_TAG_TR;
    while (true) {
      const std::size_t at = find(
          [cell, row, name](const Entry& e) {
            switch (e.tag) {
              case GUMBO_TAG_TABLE:
                return true;
              case GUMBO_TAG_TD:
              case GUMBO_TAG_TH:
              case GUMBO_TAG_TR:
                return cell || row;
              case GUMBO_TAG_TBODY:
              case GUMBO_TAG_THEAD:
              case GUMBO_TAG_TFOOT:
                return name != GUMBO_TAG_CAPTION && name != GUMBO_TAG_COLGROUP;
              default:
                return false;
            }
          },
          never);
      const GumboTag found = stack_[at].tag;  // the table itself at worst
      if (found == GUMBO_TAG_TD || found == GUMBO_TAG_TH || (found == GUMBO_TAG_TR && row) ||
          (has(found, kTableSection) && has(name, kTableSection))) {
        pop_through(at);  // close the cell, row or row group, then look again
        continue;
      }
      pop_through(at + 1);  // "clear the stack back to a table (body, row) context"
      if (found == GUMBO_TAG_TABLE && (cell || row)) push_implied(GUMBO_TAG_TBODY);
      if (found != GUMBO_TAG_TR && cell) push_implied(GUMBO_TAG_TR);
      push(tag);
      return;
    }
  }

  std::vector<Entry> stack_;
  std::vector<Item> list_;
  std::size_t closed_items_ = 0;  // formatting entries in list_ whose element is closed
  std::uint64_t last_id_ = 0;
};

// 13.2.6.4.7 "in body", with the table and select modes where they differ.
After Model::start_tag(const Tag& tag) {
  const GumboTag name = tag.tag;
  if (current_is(GUMBO_TAG_TEMPLATE)) {
    // Template contents take their insertion mode from their first start
    // tag. After <col> it is "in column group", where the template is the
    // current node and so every start tag but <col> and <template> is
    // ignored: even <title> and <script>, whose text is then parsed as tags.
    Entry& current = stack_.back();
    if (current.column_group && name != GUMBO_TAG_COL && name != GUMBO_TAG_TEMPLATE) return After::kNothing;
    if (current.fresh) {
      current.fresh = false;
      current.column_group = name == GUMBO_TAG_COL;
    }
  }
  // "In column group", anything but <col> and <template> closes the group.
  if (current_is(GUMBO_TAG_COLGROUP) && name != GUMBO_TAG_COL && name != GUMBO_TAG_TEMPLATE) pop_current();
  if (const std::size_t select = open_select(); select != kNone) {
    switch (name) {
      case GUMBO_TAG_OPTION:
        pop_if_current(GUMBO_TAG_OPTION);
        push(tag);
        return After::kNothing;
      case GUMBO_TAG_OPTGROUP:
        pop_if_current(GUMBO_TAG_OPTION);
        pop_if_current(GUMBO_TAG_OPTGROUP);
        push(tag);
        return After::kNothing;
      case GUMBO_TAG_SELECT:
        pop_through(select);
        return After::kNothing;
      case GUMBO_TAG_INPUT:
      case GUMBO_TAG_KEYGEN:
      case GUMBO_TAG_TEXTAREA:
        pop_through(select);
        break;  // and reprocess
      case GUMBO_TAG_CAPTION:
      case GUMBO_TAG_TABLE:
      case GUMBO_TAG_TBODY:
      case GUMBO_TAG_TFOOT:
      case GUMBO_TAG_THEAD:
      case GUMBO_TAG_TR:
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TH:
        if (!in_table(select)) return After::kNothing;  // "in select": ignored
        pop_through(select);
        break;  // "in select in table": and reprocess
      case GUMBO_TAG_SCRIPT:
      case GUMBO_TAG_TEMPLATE:
        break;  // "in head" rules
      default:
        return After::kNothing;  // ignored
    }
  }
  if (has(name, kMergedStart)) return After::kNothing;
  if (has(name, kRawText)) {
    if (name == GUMBO_TAG_XMP) close_p();
    return After::kRawText;
  }
  switch (name) {
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_COLGROUP:
      table_part(tag);
      return After::kNothing;
    case GUMBO_TAG_COL:
      // In a table, <col> closes any cell, row and row group and opens an
      // implied <colgroup>; elsewhere it is ignored (or void in a template).
      if (const std::size_t context = table_context(); context != kNone && stack_[context].tag == GUMBO_TAG_TABLE) {
        pop_through(context + 1);
        push_implied(GUMBO_TAG_COLGROUP);
      }
      return After::kNothing;
    case GUMBO_TAG_TABLE: {
      // In a table, but not in one of its cells or its caption, a new
      // <table> closes the old one. <table> closes a <p> only outside quirks
      // mode, which the model does not know: it leaves the <p> open.
      const std::size_t open = find(
          [](const Entry& e) {
            return e.tag == GUMBO_TAG_TABLE || e.tag == GUMBO_TAG_TD || e.tag == GUMBO_TAG_TH ||
                   e.tag == GUMBO_TAG_CAPTION;
          },
          [](const Entry& e) { return e.tag == GUMBO_TAG_TEMPLATE; });
      if (open != kNone && stack_[open].tag == GUMBO_TAG_TABLE) pop_through(open);
      push(tag);
      return After::kNothing;
    }
    case GUMBO_TAG_LI:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DT:
      close_list_item(name);
      break;
    case GUMBO_TAG_BUTTON:
      if (const std::size_t open = in_scope(GUMBO_TAG_BUTTON); open != kNone) pop_through(open);
      break;
    case GUMBO_TAG_A:
      adopt(GUMBO_TAG_A);
      remove_from_list(GUMBO_TAG_A);
      break;
    case GUMBO_TAG_NOBR:
      if (in_scope(GUMBO_TAG_NOBR) != kNone) adopt(GUMBO_TAG_NOBR);
      break;
    case GUMBO_TAG_OPTION:
    case GUMBO_TAG_OPTGROUP:
      pop_if_current(GUMBO_TAG_OPTION);
      break;
    case GUMBO_TAG_RP:
    case GUMBO_TAG_RT:
      if (in_scope(GUMBO_TAG_RUBY) != kNone) {
        while (!stack_.empty() && has(stack_.back().tag, kImpliedEnd)) pop_current();
      }
      break;
    default:
      break;
  }
  if (has(name, kClosesP)) close_p();
  if (has(name, kHeading) && !stack_.empty() && has(stack_.back().tag, kHeading)) pop_current();
  if (!has(name, kVoid)) push(tag);
  return After::kNothing;
}

void Model::end_tag(GumboTag name) {
  if (current_is(GUMBO_TAG_TEMPLATE) && stack_.back().column_group && name != GUMBO_TAG_TEMPLATE) return;
  if (current_is(GUMBO_TAG_COLGROUP) && name != GUMBO_TAG_COL && name != GUMBO_TAG_TEMPLATE) {
    pop_current();
    if (name == GUMBO_TAG_COLGROUP) return;
  }
  if (const std::size_t select = open_select(); select != kNone) {
    switch (name) {
      case GUMBO_TAG_OPTION:
        pop_if_current(GUMBO_TAG_OPTION);
        return;
      case GUMBO_TAG_OPTGROUP:
        if (stack_.size() >= 2 && current_is(GUMBO_TAG_OPTION) && stack_[stack_.size() - 2].tag == GUMBO_TAG_OPTGROUP) {
          pop_current();
        }
        pop_if_current(GUMBO_TAG_OPTGROUP);
        return;
      case GUMBO_TAG_SELECT:
        pop_through(select);
        return;
      case GUMBO_TAG_CAPTION:
      case GUMBO_TAG_TABLE:
      case GUMBO_TAG_TBODY:
      case GUMBO_TAG_TFOOT:
      case GUMBO_TAG_THEAD:
      case GUMBO_TAG_TR:
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TH:
        if (!in_table(select) || in_table_scope(name) == kNone) return;
        pop_through(select);
        break;  // and reprocess
      case GUMBO_TAG_TEMPLATE:
        break;  // "in head" rules
      default:
        return;  // ignored
    }
  }
  std::size_t at = kNone;
  switch (name) {
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_BR:
      return;
    case GUMBO_TAG_P:
      at = in_button_scope(GUMBO_TAG_P);
      break;
    case GUMBO_TAG_LI:
      at = in_list_scope(GUMBO_TAG_LI);
      break;
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
      at = find([](const Entry& e) { return has(e.tag, kHeading); }, is_scope_boundary);
      break;
    case GUMBO_TAG_FORM:
      if (const std::size_t form = in_scope(GUMBO_TAG_FORM); form != kNone) erase_entry(form);  // the form only
      return;
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_COLGROUP:
      // Template contents may be in a mode that ignores these (table_part).
      if (const std::size_t context = table_context(); context != kNone && stack_[context].tag == GUMBO_TAG_TEMPLATE) {
        return;
      }
      at = in_table_scope(name);
      break;
    case GUMBO_TAG_TABLE:
      at = in_table_scope(name);
      break;
    case GUMBO_TAG_APPLET:
    case GUMBO_TAG_MARQUEE:
    case GUMBO_TAG_OBJECT:
      if (const std::size_t open = in_table_scope(name); open != kNone) {
        pop_through(open);
        clear_to_last_marker();
      }
      return;
    case GUMBO_TAG_TEMPLATE:
      at = find_tag(GUMBO_TAG_TEMPLATE);
      break;
    default:
      if (has(name, kBlockEnd)) {
        at = in_scope(name);
        break;
      }
      if (has(name, kFormatting) && adopt(name)) return;
      // "Any other end tag": the nearest element of that name, unless a
      // special element comes first. Gumbo compares tag enums, so an unknown
      // end tag matches the nearest unknown element whatever its name.
      at = find([name](const Entry& e) { return e.tag == name; }, is_special);
      break;
  }
  if (at != kNone) pop_through(at);
}

// ---- Tokenizer (13.2.5), as far as where tags begin and end ----

bool starts_with_ci(std::string_view text, std::size_t at, std::string_view lower_prefix) noexcept {
  return at <= text.size() && istarts_with_lower(text.substr(at), lower_prefix);
}

bool ends_tag_name(std::string_view text, std::size_t at) noexcept {
  return at < text.size() && (is_html_space(text[at]) || text[at] == '/' || text[at] == '>');
}

// Reads a tag from its name (`at` just after "<" or "</") to just past its
// '>', following the attribute states so that a quoted '>' does not end it.
// Returns npos at the end of input: the tokenizer drops an unfinished tag.
std::size_t scan_tag(std::string_view html, std::size_t at, Tag& tag) {
  const std::size_t n = html.size();
  char name[16] = {};
  std::size_t name_length = 0;
  for (; at < n && !is_html_space(html[at]) && html[at] != '/' && html[at] != '>'; ++at, ++name_length) {
    if (name_length < sizeof name) name[name_length] = html[at];
  }
  // Longer names are no tag gumbo knows; gumbo_tagn_enum ignores case.
  tag.tag =
      name_length <= sizeof name ? gumbo_tagn_enum(name, static_cast<unsigned int>(name_length)) : GUMBO_TAG_UNKNOWN;
  const std::size_t attributes = at;
  while (true) {
    while (at < n && is_html_space(html[at])) ++at;
    if (at >= n) return std::string_view::npos;
    if (html[at] == '>') break;
    if (html[at] == '/') {
      ++at;
      continue;
    }
    ++at;  // an attribute name; a leading '=' belongs to it
    while (at < n && !is_html_space(html[at]) && html[at] != '/' && html[at] != '>' && html[at] != '=') ++at;
    while (at < n && is_html_space(html[at])) ++at;
    if (at >= n || html[at] != '=') continue;
    ++at;
    while (at < n && is_html_space(html[at])) ++at;
    if (at >= n) return std::string_view::npos;
    if (html[at] == '"' || html[at] == '\'') {
      const std::size_t close = html.find(html[at], at + 1);
      if (close == std::string_view::npos) return std::string_view::npos;
      at = close + 1;
    } else {
      while (at < n && !is_html_space(html[at]) && html[at] != '>') ++at;
    }
  }
  std::uint32_t hash = 2166136261U;  // FNV-1a
  for (std::size_t i = attributes; i < at; ++i) hash = (hash ^ static_cast<unsigned char>(html[i])) * 16777619U;
  tag.attr_hash = hash;
  return at + 1;
}

// Whether "</name" and a tag-name terminator start at `at`.
bool is_end_tag_of(std::string_view html, std::size_t at, std::string_view name) noexcept {
  return starts_with_ci(html, at, "</") && starts_with_ci(html, at + 2, name) &&
         ends_tag_name(html, at + 2 + name.size());
}

std::size_t skip_end_tag(std::string_view html, std::size_t at) {
  Tag ignored;
  const std::size_t end = scan_tag(html, at + 2, ignored);
  return end == std::string_view::npos ? html.size() : end;
}

// RCDATA and RAWTEXT: text up to "</name".
std::size_t skip_raw_text(std::string_view html, std::size_t at, std::string_view name) {
  while (true) {
    at = html.find("</", at);
    if (at == std::string_view::npos) return html.size();
    if (is_end_tag_of(html, at, name)) return skip_end_tag(html, at);
    at += 2;
  }
}

// Script data with its escaped ("<!--") and double-escaped ("<!--<script>")
// states, in which "</script>" does not always end the script.
std::size_t skip_script(std::string_view html, std::size_t at) {
  enum class State { kData, kEscaped, kDoubleEscaped } state = State::kData;
  int dashes = 0;
  for (; at < html.size(); ++at) {
    const char c = html[at];
    if (c == '-') {
      ++dashes;
      continue;
    }
    if (c == '>' && dashes >= 2) state = State::kData;
    dashes = 0;
    if (c != '<') continue;
    switch (state) {
      case State::kData:
        if (is_end_tag_of(html, at, "script")) return skip_end_tag(html, at);
        if (html.compare(at + 1, 3, "!--") == 0) {
          state = State::kEscaped;
          at += 3;
          dashes = 2;
        }
        break;
      case State::kEscaped:
        if (is_end_tag_of(html, at, "script")) return skip_end_tag(html, at);
        if (starts_with_ci(html, at + 1, "script") && ends_tag_name(html, at + 7)) {
          state = State::kDoubleEscaped;
          at += 6;
        }
        break;
      case State::kDoubleEscaped:
        if (is_end_tag_of(html, at, "script")) {
          state = State::kEscaped;
          at += 7;
        }
        break;
    }
  }
  return html.size();
}

// A comment, from just after "<!--": "<!-->", "<!--->", else up to the
// first "-->" or "--!>".
std::size_t skip_comment(std::string_view html, std::size_t at) {
  if (at < html.size() && html[at] == '>') return at + 1;
  if (html.compare(at, 2, "->") == 0) return at + 2;
  const std::size_t close = html.find("-->", at);
  const std::size_t bang_close = html.find("--!>", at);
  return std::min(close == std::string_view::npos ? html.size() : close + 3,
                  bang_close == std::string_view::npos ? html.size() : bang_close + 4);
}

std::size_t skip_past(std::string_view html, std::size_t at, char c) {
  const std::size_t found = html.find(c, at);
  return found == std::string_view::npos ? html.size() : found + 1;
}

// Whether a <svg> or <math> start or end tag begins at `at` (a '<'), and
// where its name starts.
std::size_t foreign_tag_name(std::string_view html, std::size_t at) noexcept {
  std::size_t name = at + 1;
  if (name < html.size() && html[name] == '/') ++name;
  if (starts_with_ci(html, name, "svg") && ends_tag_name(html, name + 3)) return name;
  if (starts_with_ci(html, name, "math") && ends_tag_name(html, name + 4)) return name;
  return std::string_view::npos;
}

}  // namespace

std::string_view without_foreign_content(std::string_view html, std::string& storage) {
  std::size_t copied = 0;
  for (std::size_t at = html.find('<'); at != std::string_view::npos; at = html.find('<', at + 1)) {
    const std::size_t name = foreign_tag_name(html, at);
    if (name == std::string_view::npos) continue;
    if (copied == 0) {
      storage.clear();
      storage.reserve(html.size() + 64);
    }
    storage.append(html, copied, name - copied).append("x-");
    copied = name;
  }
  if (copied == 0) return html;
  storage.append(html, copied);
  return storage;
}

NestingEstimate estimate_nesting(std::string_view html, std::size_t depth_limit) {
  NestingEstimate estimate{html.size(), 0};
  Model model;
  const std::size_t n = html.size();
  std::size_t at = 0;
  while (true) {
    const std::size_t open = html.find('<', at);
    if (open == std::string_view::npos || open + 1 >= n) break;
    at = open + 1;
    const char c = html[at];
    if (c == '!') {
      at = html.compare(at + 1, 2, "--") == 0 ? skip_comment(html, at + 3) : skip_past(html, at, '>');
    } else if (c == '?') {
      at = skip_past(html, at, '>');  // a bogus comment
    } else if (c == '/') {
      if (at + 1 < n && is_ascii_alpha(html[at + 1])) {
        Tag tag;
        const std::size_t end = scan_tag(html, at + 1, tag);
        if (end == std::string_view::npos) break;
        model.end_tag(tag.tag);
        at = end;
      } else {
        at = skip_past(html, at, '>');  // "</>" or a bogus comment
      }
    } else if (is_ascii_alpha(c)) {
      Tag tag;
      const std::size_t end = scan_tag(html, at, tag);
      if (end == std::string_view::npos) break;
      const After after = model.start_tag(tag);
      if (model.depth() > depth_limit) {
        estimate.safe_length = open;
        return estimate;
      }
      estimate.max_depth = std::max(estimate.max_depth, model.depth());
      at = end;
      // <plaintext> is an ordinary element here: the rest of the document is
      // text to gumbo, unless gumbo ignored the tag (in a template, say), so
      // reading on as markup can only make the estimate deeper.
      if (after == After::kRawText) {
        at = tag.tag == GUMBO_TAG_SCRIPT ? skip_script(html, at)
                                         : skip_raw_text(html, at, gumbo_normalized_tagname(tag.tag));
      }
    }
  }
  return estimate;
}

}  // namespace fetchpool::detail
