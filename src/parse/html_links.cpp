#include "fetchpool/html_links.hpp"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <utility>

#include "base/ascii.hpp"
#include "parse/html_guard.hpp"
#include "parse/link_scanner.hpp"

namespace fetchpool {
namespace {

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

using detail::iequals;

const char* attribute(const GumboElement& element, const char* name) {
  const GumboAttribute* found = gumbo_get_attribute(&element.attributes, name);
  return found != nullptr ? found->value : nullptr;
}

// Whether a rel attribute (a set of space-separated tokens) contains `token`.
bool has_rel(const GumboElement& element, std::string_view token) {
  const char* rel = attribute(element, "rel");
  return rel != nullptr && detail::has_token(rel, token);
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

void visit(const GumboElement& element, const TagSet& link_tags, const LinkExtractOptions& options,
           detail::RawPage& page) {
  switch (element.tag) {
    case GUMBO_TAG_TITLE:
      if (!page.has_title) {
        page.has_title = true;
        for (unsigned int i = 0; i < element.children.length; ++i) {
          const auto* child = static_cast<const GumboNode*>(element.children.data[i]);
          if (child->type == GUMBO_NODE_TEXT || child->type == GUMBO_NODE_WHITESPACE) {
            detail::append_collapsed(child->v.text.text, page.title);
          }
        }
        detail::finish_collapsed(page.title);
      }
      break;
    case GUMBO_TAG_BASE:
      if (!page.base_href) {
        if (const char* href = attribute(element, "href")) page.base_href = href;
      }
      break;
    case GUMBO_TAG_LINK:
      if (!page.canonical_href && has_rel(element, "canonical")) {
        if (const char* href = attribute(element, "href")) page.canonical_href = href;
      }
      break;
    case GUMBO_TAG_META: {
      const char* content = attribute(element, "content");
      if (content == nullptr) break;
      if (const char* name = attribute(element, "name")) detail::apply_meta_robots(name, content, page);
      const char* equiv = attribute(element, "http-equiv");
      if (options.follow_meta_refresh && equiv != nullptr && iequals(equiv, "refresh")) {
        if (auto target = detail::refresh_url(content)) page.hrefs.push_back(*target);
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
  if (target != nullptr) page.hrefs.emplace_back(target);
}

PageInfo extract_with_gumbo(std::string_view html, const Url& page_url, const LinkExtractOptions& options) {
  bool truncated = false;
  std::string rewritten;
  std::string_view document = detail::without_foreign_content(html, rewritten);
  const detail::NestingEstimate nesting = detail::estimate_nesting(document, kMaxHtmlNesting);
  if (nesting.safe_length < document.size()) {
    document = document.substr(0, nesting.safe_length);
    truncated = true;
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
  detail::RawPage page;  // its views point into the arena
  // Depth-first, in document order, with an explicit stack: never recursion.
  std::vector<const GumboNode*> pending{output->document};
  while (!pending.empty()) {
    const GumboNode* node = pending.back();
    pending.pop_back();
    const GumboVector* children = nullptr;
    if (node->type == GUMBO_NODE_DOCUMENT) {
      children = &node->v.document.children;
    } else if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE) {
      visit(node->v.element, link_tags, options, page);
      children = &node->v.element.children;
    }
    for (unsigned int i = children != nullptr ? children->length : 0; i-- > 0;) {
      pending.push_back(static_cast<const GumboNode*>(children->data[i]));
    }
  }
  PageInfo info = detail::resolve_page(page, page_url, options);
  info.truncated = truncated;
  return info;
}

}  // namespace

PageInfo extract_page_info(std::string_view html, const Url& page_url, const LinkExtractOptions& options) {
  if (options.parser == HtmlParser::kGumbo) return extract_with_gumbo(html, page_url, options);
  return detail::resolve_page(detail::scan_page(html, options), page_url, options);
}

}  // namespace fetchpool
