#include "fetchpool/html_links.hpp"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <unordered_set>
#include <utility>

#include "base/ascii.hpp"
#include "parse/html_guard.hpp"

namespace fetchpool {
namespace {

using detail::iequals;
using detail::is_html_space;
using detail::trim_html_space;

// Memory for one parse, handed out by bumping a pointer and released all at
// once. Gumbo frees through the callback, which does nothing, so gumbo's own
// destructor (gumbo_destroy_output, which recurses once per level of nesting)
// is never called and deep trees cannot overflow a worker's stack. On 2,900
// real pages gumbo allocates 1.25x its peak live memory in total, so not
// reusing freed blocks costs little. Running out of memory inside gumbo ends
// the program (std::bad_alloc cannot unwind through gumbo's C frames), as a
// NULL from malloc would with gumbo's default allocator, which it never checks.
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  static void* allocate(void* self, std::size_t size) { return static_cast<Arena*>(self)->take(size); }
  static void deallocate(void* /*self*/, void* /*pointer*/) noexcept {}

 private:
  static constexpr std::size_t kAlignment = alignof(std::max_align_t);
  static constexpr std::size_t kMaxBlock = std::size_t{1} << 20;

  void* take(std::size_t size) {
    size = (size + kAlignment - 1) & ~(kAlignment - 1);
    if (size > left_) {
      block_size_ = std::min(block_size_ * 2, kMaxBlock);
      const std::size_t bytes = std::max(size, block_size_);
      // new[] rather than make_unique: no need to zero what gumbo overwrites.
      blocks_.emplace_back(new std::byte[bytes]);
      next_ = blocks_.back().get();
      left_ = bytes;
    }
    void* block = next_;
    next_ += size;
    left_ -= size;
    return block;
  }

  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  std::byte* next_ = nullptr;
  std::size_t left_ = 0;
  std::size_t block_size_ = std::size_t{16} * 1024;
};

// Calls `visit` with each token of `text` split at whitespace and `extra`.
template <typename Visit>
void for_each_token(std::string_view text, char extra, Visit visit) {
  std::size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && (is_html_space(text[at]) || text[at] == extra)) ++at;
    std::size_t end = at;
    while (end < text.size() && !is_html_space(text[end]) && text[end] != extra) ++end;
    if (end > at) visit(text.substr(at, end - at));
    at = end;
  }
}

const char* attribute(const GumboElement& element, const char* name) {
  const GumboAttribute* found = gumbo_get_attribute(&element.attributes, name);
  return found != nullptr ? found->value : nullptr;
}

// Whether a rel attribute (a set of space-separated tokens) contains `token`.
bool has_rel(const GumboElement& element, std::string_view token) {
  const char* rel = attribute(element, "rel");
  if (rel == nullptr) return false;
  bool found = false;
  for_each_token(rel, ' ', [&](std::string_view value) { found = found || iequals(value, token); });
  return found;
}

// Appends `text` with runs of whitespace as one space and none at the ends.
void append_collapsed(std::string_view text, std::string& out) {
  for (const char c : text) {
    if (is_html_space(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
}

// The elements LinkExtractOptions::link_tags names.
class TagSet {
 public:
  explicit TagSet(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      if (name.empty()) continue;
      const GumboTag tag = gumbo_tagn_enum(name.data(), static_cast<unsigned int>(name.size()));
      if (tag == GUMBO_TAG_UNKNOWN) {
        unknown_.push_back(name);
      } else {
        known_[tag] = true;
      }
    }
  }

  bool contains(const GumboElement& element) const {
    if (element.tag != GUMBO_TAG_UNKNOWN) return known_[element.tag];
    if (unknown_.empty() || element.original_tag.length == 0) return false;
    GumboStringPiece name = element.original_tag;
    gumbo_tag_from_original_text(&name);
    const std::string_view written(name.data, name.length);
    return std::any_of(unknown_.begin(), unknown_.end(),
                       [written](const std::string& wanted) { return iequals(written, wanted); });
  }

 private:
  std::array<bool, GUMBO_TAG_LAST + 1> known_{};
  std::vector<std::string> unknown_;  // names gumbo has no enum for, matched by text
};

// What the walk over the tree collects; the strings live in the arena.
struct Collected {
  bool has_title = false;
  std::string title;
  const char* base_href = nullptr;
  const char* canonical_href = nullptr;
  std::vector<std::string_view> hrefs;
};

void visit(const GumboElement& element, const TagSet& link_tags, const LinkExtractOptions& options,
           Collected& collected, PageInfo& info) {
  switch (element.tag) {
    case GUMBO_TAG_TITLE:
      if (!collected.has_title) {
        collected.has_title = true;
        for (unsigned int i = 0; i < element.children.length; ++i) {
          const auto* child = static_cast<const GumboNode*>(element.children.data[i]);
          if (child->type == GUMBO_NODE_TEXT || child->type == GUMBO_NODE_WHITESPACE) {
            append_collapsed(child->v.text.text, collected.title);
          }
        }
        if (!collected.title.empty() && collected.title.back() == ' ') collected.title.pop_back();
      }
      break;
    case GUMBO_TAG_BASE:
      if (collected.base_href == nullptr) collected.base_href = attribute(element, "href");
      break;
    case GUMBO_TAG_LINK:
      if (collected.canonical_href == nullptr && has_rel(element, "canonical")) {
        collected.canonical_href = attribute(element, "href");
      }
      break;
    case GUMBO_TAG_META: {
      const char* name = attribute(element, "name");
      const char* content = attribute(element, "content");
      const std::string_view trimmed_name = trim_html_space(name != nullptr ? name : "");
      if (content != nullptr && iequals(trimmed_name, "robots")) {
        for_each_token(content, ',', [&info](std::string_view directive) {
          const bool none = iequals(directive, "none");
          info.meta_nofollow = info.meta_nofollow || none || iequals(directive, "nofollow");
          info.meta_noindex = info.meta_noindex || none || iequals(directive, "noindex");
        });
      }
      break;
    }
    default:
      break;
  }
  if (!link_tags.contains(element)) return;
  if (options.honour_rel_nofollow && has_rel(element, "nofollow")) return;
  const char* target = attribute(element, "href");
  if (target == nullptr) target = attribute(element, "xlink:href");
  if (target == nullptr) target = attribute(element, "src");
  if (target != nullptr) collected.hrefs.emplace_back(target);
}

}  // namespace

PageInfo extract_page_info(std::string_view html, const Url& page_url, const LinkExtractOptions& options) {
  PageInfo info;
  std::string rewritten;
  std::string_view document = detail::without_foreign_content(html, rewritten);
  const detail::NestingEstimate nesting = detail::estimate_nesting(document, kMaxHtmlNesting);
  if (nesting.safe_length < document.size()) {
    document = document.substr(0, nesting.safe_length);
    info.truncated = true;
  }

  Arena arena;
  GumboOptions gumbo_options = kGumboDefaultOptions;
  gumbo_options.allocator = &Arena::allocate;
  gumbo_options.deallocator = &Arena::deallocate;
  gumbo_options.userdata = &arena;
  // Gumbo copies the whole stack of open elements into every parse error:
  // unlimited errors make broken deep documents quadratic in memory and time.
  gumbo_options.max_errors = 0;
  const GumboOutput* output = gumbo_parse_with_options(&gumbo_options, document.data(), document.size());

  const TagSet link_tags(options.link_tags);
  Collected collected;
  // Depth-first, in document order, with an explicit stack: never recursion.
  std::vector<const GumboNode*> pending{output->document};
  while (!pending.empty()) {
    const GumboNode* node = pending.back();
    pending.pop_back();
    const GumboVector* children = nullptr;
    if (node->type == GUMBO_NODE_DOCUMENT) {
      children = &node->v.document.children;
    } else if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE) {
      visit(node->v.element, link_tags, options, collected, info);
      children = &node->v.element.children;
    }
    for (unsigned int i = children != nullptr ? children->length : 0; i-- > 0;) {
      pending.push_back(static_cast<const GumboNode*>(children->data[i]));
    }
  }
  info.title = std::move(collected.title);

  if (collected.base_href != nullptr) {
    if (auto base = page_url.resolve(collected.base_href)) info.base = std::move(base).value();
  }
  const Url& base = info.base ? *info.base : page_url;
  if (collected.canonical_href != nullptr) {
    if (auto canonical = base.resolve(collected.canonical_href)) info.canonical = std::move(canonical).value();
  }
  // Views into the Urls' own strings, which do not move when links grows.
  std::unordered_set<std::string_view> seen;
  for (const std::string_view href : collected.hrefs) {
    if (info.links.size() >= options.max_links) break;
    Result<Url> link = base.resolve(href);
    if (!link) {
      if (link.error().code == ErrorCode::kInvalidUrl) ++info.invalid_links;
      continue;
    }
    if (seen.contains(link->str())) continue;
    info.links.push_back(std::move(link).value());
    seen.insert(info.links.back().str());
  }
  return info;
}

}  // namespace fetchpool
