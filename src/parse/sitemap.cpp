#include "fetchpool/sitemap.hpp"

#include <dlfcn.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "base/utf8.hpp"

namespace fetchpool {
namespace {

constexpr std::string_view kSitemapsOrg = "http://www.sitemaps.org/schemas/sitemap/0.9";
constexpr std::array<std::string_view, 3> kAcceptedNamespaces = {
    kSitemapsOrg, "http://www.google.com/schemas/sitemap/0.84", "http://www.google.com/schemas/sitemap/0.9"};
// A <lastmod> longer than any W3C datetime is not one; no need to keep more.
constexpr std::size_t kMaxLastmodBytes = 64;
constexpr std::size_t kInflateChunk = std::size_t{64} * 1024;
constexpr std::string_view kBlank = " \t\r\n\f\v";

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(kBlank);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kBlank);
  return text.substr(first, last - first + 1);
}

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const auto sequence = detail::utf8_sequence_at(text, i);
    if (!sequence.valid) return false;
    i += sequence.length;
  }
  return true;
}

// libxml2 is opened on first use, not linked: it pulls in ICU and liblzma,
// about 1 MiB resident and a share of every start-up, and only sitemaps need
// it. The headers still give the types, constants and function signatures.
struct LibXml2 {
  std::string error;  // empty once every function below is found
  decltype(&::xmlInitParser) init_parser = nullptr;
  decltype(&::xmlCreatePushParserCtxt) create_push_parser = nullptr;
  decltype(&::xmlCtxtUseOptions) use_options = nullptr;
  decltype(&::xmlParseChunk) parse_chunk = nullptr;
  decltype(&::xmlStopParser) stop_parser = nullptr;
  decltype(&::xmlFreeParserCtxt) free_parser = nullptr;
};

template <typename Function>
bool find_symbol(void* library, const char* name, Function& function, std::string& error) {
  void* address = dlsym(library, name);
  if (address == nullptr) {
    error = std::string("sitemaps need libxml2, but " FETCHPOOL_LIBXML2_SONAME " has no ") + name;
    return false;
  }
  // POSIX guarantees that a dlsym address converts to a function pointer.
  function = reinterpret_cast<Function>(address);
  return true;
}

LibXml2 open_libxml2() {
  LibXml2 api;
  // Kept open for the life of the process: parsers may run until exit.
  void* library = dlopen(FETCHPOOL_LIBXML2_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* reason = dlerror();
    api.error = std::string("sitemaps need libxml2 (" FETCHPOOL_LIBXML2_SONAME "), which could not be loaded: ") +
                (reason != nullptr ? reason : "unknown reason");
    return api;
  }
  if (find_symbol(library, "xmlInitParser", api.init_parser, api.error) &&
      find_symbol(library, "xmlCreatePushParserCtxt", api.create_push_parser, api.error) &&
      find_symbol(library, "xmlCtxtUseOptions", api.use_options, api.error) &&
      find_symbol(library, "xmlParseChunk", api.parse_chunk, api.error) &&
      find_symbol(library, "xmlStopParser", api.stop_parser, api.error) &&
      find_symbol(library, "xmlFreeParserCtxt", api.free_parser, api.error)) {
    api.init_parser();
  }
  return api;
}

// Opened once, by the first caller (a thread-safe local static).
const LibXml2& libxml2() {
  static const LibXml2 api = open_libxml2();
  return api;
}

std::string_view view(const xmlChar* text) {
  return text == nullptr ? std::string_view{} : std::string_view(reinterpret_cast<const char*>(text));
}

// Digits at text[at, at + count) as a number in [low, high]; advances `at`.
bool read_field(std::string_view text, std::size_t& at, std::size_t count, int low, int high) {
  if (text.size() < at + count) return false;
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[at + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  at += count;
  return value >= low && value <= high;
}

bool expect(std::string_view text, std::size_t& at, char c) {
  if (at >= text.size() || text[at] != c) return false;
  ++at;
  return true;
}

}  // namespace

bool is_w3c_datetime(std::string_view value) {
  std::size_t at = 0;
  if (!read_field(value, at, 4, 0, 9999)) return false;
  if (at == value.size()) return true;  // YYYY
  if (!expect(value, at, '-') || !read_field(value, at, 2, 1, 12)) return false;
  if (at == value.size()) return true;  // YYYY-MM
  if (!expect(value, at, '-') || !read_field(value, at, 2, 1, 31)) return false;
  if (at == value.size()) return true;  // YYYY-MM-DD
  if (!expect(value, at, 'T') || !read_field(value, at, 2, 0, 23) || !expect(value, at, ':') ||
      !read_field(value, at, 2, 0, 59))
    return false;
  if (at < value.size() && value[at] == ':') {
    ++at;
    if (!read_field(value, at, 2, 0, 60)) return false;  // 60: a leap second
    if (at < value.size() && value[at] == '.') {
      ++at;
      const std::size_t digits_from = at;
      while (at < value.size() && value[at] >= '0' && value[at] <= '9') ++at;
      if (at == digits_from) return false;
    }
  }
  // A time needs its zone designator.
  if (at < value.size() && value[at] == 'Z') return at + 1 == value.size();
  if (at >= value.size() || (value[at] != '+' && value[at] != '-')) return false;
  ++at;
  return read_field(value, at, 2, 0, 23) && expect(value, at, ':') && read_field(value, at, 2, 0, 59) &&
         at == value.size();
}

void init_sitemap_parsing() { libxml2(); }

class SitemapParser::Impl {
 public:
  explicit Impl(SitemapLimits limits) : limits_(limits) {
    init_sitemap_parsing();
    sax_.initialized = XML_SAX2_MAGIC;
    sax_.startElementNs = &Impl::on_start;
    sax_.endElementNs = &Impl::on_end;
    sax_.characters = &Impl::on_text;
    sax_.cdataBlock = &Impl::on_text;
    sax_.internalSubset = &Impl::on_doctype;
    sax_.getEntity = &Impl::on_get_entity;
    sax_.serror = &Impl::on_error;
  }
  ~Impl() {
    if (gzip_started_) inflateEnd(&zstream_);
    if (xml_ != nullptr) libxml2().free_parser(xml_);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  bool feed(std::string_view bytes) {
    if (stopped_ || finished_) return false;
    if (coding_ == Coding::kUnknown) {
      // A gzip member starts 1F 8B: decided on the first two bytes, which
      // may come in separate pieces (one is held back until the next).
      if (bytes.empty()) return true;
      if (magic_.empty() && bytes.size() == 1 && static_cast<unsigned char>(bytes[0]) == 0x1F) {
        magic_.push_back(bytes[0]);
        return true;
      }
      const std::string_view second = magic_.empty() ? bytes.substr(1, 1) : bytes.substr(0, 1);
      const bool gzip = static_cast<unsigned char>(magic_.empty() ? bytes[0] : magic_[0]) == 0x1F &&
                        static_cast<unsigned char>(second[0]) == 0x8B;
      coding_ = gzip ? Coding::kGzip : Coding::kPlain;
      if (!magic_.empty() && !route_coded(std::exchange(magic_, std::string()))) return false;
    }
    return route_coded(bytes);
  }

  SitemapResult finish() {
    if (finished_) return std::move(result_);
    finished_ = true;
    if (coding_ == Coding::kUnknown && !magic_.empty()) {
      coding_ = Coding::kPlain;
      take_plain(std::exchange(magic_, std::string()));
    }
    if (!stopped_) {
      if (coding_ == Coding::kGzip && !gzip_ended_) fail("the gzip stream is cut short");
      if (!stopped_ && format_ == Format::kUndecided)
        fail(result_.bytes == 0 ? "the body is empty" : "the body holds only white space");
      if (!stopped_ && format_ == Format::kXml) {
        libxml2().parse_chunk(xml_, nullptr, 0, 1);  // reports an unfinished document
        if (!stopped_ && result_.kind == SitemapKind::kUnknown) fail("no <urlset> or <sitemapindex> element");
      }
      if (!stopped_ && format_ == Format::kText) end_line();
    }
    return std::move(result_);
  }

 private:
  enum class Coding { kUnknown, kPlain, kGzip };
  enum class Format { kUndecided, kXml, kText };
  enum class Field { kNone, kLoc, kLastmod };

  bool route_coded(std::string_view bytes) {
    if (coding_ == Coding::kPlain) return take_plain(bytes);
    return inflate_some(bytes);
  }

  bool inflate_some(std::string_view bytes) {
    if (!gzip_started_) {
      zstream_ = z_stream{};
      if (inflateInit2(&zstream_, 15 + 16) != Z_OK) return fail("zlib could not start");
      gzip_started_ = true;
    }
    std::array<char, kInflateChunk> out{};
    zstream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    zstream_.avail_in = static_cast<uInt>(bytes.size());
    while (zstream_.avail_in > 0 && !stopped_) {
      if (gzip_ended_) {
        // Another member follows (gzip allows several, one after another).
        inflateReset(&zstream_);
        gzip_ended_ = false;
      }
      zstream_.next_out = reinterpret_cast<Bytef*>(out.data());
      zstream_.avail_out = static_cast<uInt>(out.size());
      const int status = inflate(&zstream_, Z_NO_FLUSH);
      const std::size_t produced = out.size() - zstream_.avail_out;
      if (produced > 0 && !take_plain(std::string_view(out.data(), produced))) return false;
      if (status == Z_STREAM_END) {
        gzip_ended_ = true;
      } else if (status != Z_OK && status != Z_BUF_ERROR) {
        return fail(std::string("the gzip stream is corrupt (") + (zstream_.msg != nullptr ? zstream_.msg : "zlib") +
                    ")");
      } else if (produced == 0 && zstream_.avail_in > 0 && status == Z_BUF_ERROR) {
        return fail("the gzip stream is corrupt");
      }
    }
    return !stopped_;
  }

  // Uncompressed bytes: counted against max_bytes, then parsed.
  bool take_plain(std::string_view bytes) {
    const std::uint64_t room = limits_.max_bytes - result_.bytes;
    const bool over = bytes.size() > room;
    if (over) bytes = bytes.substr(0, static_cast<std::size_t>(room));
    result_.bytes += bytes.size();
    if (!bytes.empty()) parse(bytes);
    if (over && !stopped_) {
      result_.over_limit = "larger than " + std::to_string(limits_.max_bytes) + " bytes uncompressed";
      stopped_ = true;
    }
    return !stopped_;
  }

  void parse(std::string_view bytes) {
    std::string held;  // the bytes read before the format was known, with these
    if (format_ == Format::kUndecided) {
      // XML or text is decided by the first character that is neither white
      // space nor part of a UTF-8 byte order mark.
      lead_.append(bytes);
      std::size_t at = 0;
      constexpr std::string_view kBom = "\xEF\xBB\xBF";
      if (lead_.size() < kBom.size() && kBom.starts_with(lead_)) return;
      if (lead_.starts_with(kBom)) at = kBom.size();
      at = lead_.find_first_not_of(kBlank, at);
      if (at == std::string::npos) return;
      if (lead_[at] == '<') {
        format_ = Format::kXml;
        start_xml();
        if (stopped_) return;
      } else {
        format_ = Format::kText;
        result_.kind = SitemapKind::kText;
        lead_.erase(0, lead_.starts_with(kBom) ? kBom.size() : 0);
      }
      held = std::exchange(lead_, std::string());
      bytes = held;
    }
    if (format_ == Format::kXml) {
      parse_xml(bytes);
    } else {
      parse_text(bytes);
    }
  }

  void start_xml() {
    const LibXml2& api = libxml2();
    if (!api.error.empty()) {
      fail(api.error);
      return;
    }
    xml_ = api.create_push_parser(&sax_, this, nullptr, 0, nullptr);
    if (xml_ == nullptr) {
      fail("libxml2 could not start");
      return;
    }
    // NONET: nothing is fetched. Deliberately absent: NOENT (substitute
    // entities), DTDLOAD, DTDATTR (load the external DTD) and HUGE (lift
    // the parser's size limits); on_doctype refuses a DTD besides.
    api.use_options(xml_, XML_PARSE_NONET);
  }

  void parse_xml(std::string_view bytes) {
    // xmlParseChunk takes an int size.
    constexpr std::size_t kPiece = std::size_t{1} << 20;
    while (!bytes.empty() && !stopped_) {
      const std::size_t size = std::min(bytes.size(), kPiece);
      libxml2().parse_chunk(xml_, bytes.data(), static_cast<int>(size), 0);
      bytes.remove_prefix(size);
    }
  }

  void parse_text(std::string_view bytes) {
    for (const char c : bytes) {
      if (stopped_) return;
      if (c == '\n') {
        end_line();
        continue;
      }
      if (line_.size() <= kSitemapMaxLocBytes) line_.push_back(c);
    }
  }

  void end_line() {
    const std::string_view text = trim(line_);
    if (!text.empty()) {
      if (text.size() >= kSitemapMaxLocBytes || !valid_utf8(text)) {
        ++result_.skipped;
      } else {
        add_entry(SitemapEntry{std::string(text), {}});
      }
    }
    line_.clear();
  }

  void add_entry(SitemapEntry entry) {
    if (result_.entries.size() >= limits_.max_urls) {
      result_.over_limit = "more than " + std::to_string(limits_.max_urls) +
                           (result_.kind == SitemapKind::kIndex ? " sitemaps" : " URLs");
      stop();
      return;
    }
    result_.entries.push_back(std::move(entry));
  }

  bool fail(std::string message) {
    if (!result_.error) result_.error = Error{ErrorCode::kProtocol, std::move(message)};
    stop();
    return false;
  }

  void stop() {
    stopped_ = true;
    if (xml_ != nullptr) libxml2().stop_parser(xml_);
  }

  bool in_sitemap_namespace(const xmlChar* uri) const { return view(uri) == root_namespace_; }

  // --- SAX callbacks (user data: the Impl) ---

  static void on_start(void* self, const xmlChar* localname, const xmlChar* /*prefix*/, const xmlChar* uri,
                       int /*nb_namespaces*/, const xmlChar** /*namespaces*/, int /*nb_attributes*/,
                       int /*nb_defaulted*/, const xmlChar** /*attributes*/) {
    static_cast<Impl*>(self)->start_element(view(localname), uri);
  }
  static void on_end(void* self, const xmlChar* /*localname*/, const xmlChar* /*prefix*/, const xmlChar* /*uri*/) {
    static_cast<Impl*>(self)->end_element();
  }
  static void on_text(void* self, const xmlChar* text, int length) {
    auto& impl = *static_cast<Impl*>(self);
    if (impl.field_ == Field::kNone) return;
    const std::size_t cap = impl.field_ == Field::kLoc ? kSitemapMaxLocBytes : kMaxLastmodBytes;
    const std::size_t room = cap + 1 - std::min(cap + 1, impl.text_.size());
    impl.text_.append(reinterpret_cast<const char*>(text), std::min(room, static_cast<std::size_t>(length)));
  }
  static void on_doctype(void* self, const xmlChar* name, const xmlChar* /*external_id*/,
                         const xmlChar* /*system_id*/) {
    static_cast<Impl*>(self)->fail("<!DOCTYPE " + std::string(view(name)) +
                                   "> refused: a sitemap needs no DTD, and none is read (no entities, no "
                                   "external DTD, no network)");
  }
  static xmlEntityPtr on_get_entity(void* /*self*/, const xmlChar* /*name*/) { return nullptr; }
  static void on_error(void* self, xmlErrorPtr error) {
    if (error == nullptr || error->level < XML_ERR_ERROR) return;
    std::string message = error->message != nullptr ? error->message : "malformed XML";
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    static_cast<Impl*>(self)->fail("XML line " + std::to_string(error->line) + ": " + message);
  }

  void start_element(std::string_view name, const xmlChar* uri) {
    ++depth_;
    if (stopped_ || skip_below_ != 0) return;
    if (depth_ == 1) {
      const std::string_view ns = view(uri);
      const bool accepted = ns.empty() || std::find(kAcceptedNamespaces.begin(), kAcceptedNamespaces.end(), ns) !=
                                              kAcceptedNamespaces.end();
      if (accepted && name == "urlset") {
        result_.kind = SitemapKind::kUrlset;
      } else if (accepted && name == "sitemapindex") {
        result_.kind = SitemapKind::kIndex;
      } else {
        fail("not a sitemap: the root element is <" + std::string(name) + ">" +
             (ns.empty() ? std::string() : " in namespace " + std::string(ns)));
        return;
      }
      root_namespace_ = ns;
      return;
    }
    const bool ours = in_sitemap_namespace(uri);
    if (depth_ == 2 && ours && name == (result_.kind == SitemapKind::kIndex ? "sitemap" : "url")) {
      entry_ = SitemapEntry{};
      in_entry_ = true;
      loc_too_long_ = false;
      return;
    }
    if (depth_ == 3 && in_entry_ && ours && (name == "loc" || name == "lastmod")) {
      field_ = name == "loc" ? Field::kLoc : Field::kLastmod;
      text_.clear();
      return;
    }
    skip_below_ = depth_;  // another namespace's element, or one the protocol does not define
  }

  void end_element() {
    const int depth = depth_--;
    if (stopped_) return;
    if (skip_below_ != 0) {
      if (depth == skip_below_) skip_below_ = 0;
      return;
    }
    if (depth == 3 && field_ != Field::kNone) {
      const std::string_view value = trim(text_);
      if (field_ == Field::kLoc) {
        loc_too_long_ = value.size() >= kSitemapMaxLocBytes;
        entry_.loc = value;
      } else if (is_w3c_datetime(value)) {
        entry_.lastmod = value;
      } else if (!value.empty()) {
        ++result_.bad_lastmod;
      }
      field_ = Field::kNone;
      return;
    }
    if (depth == 2 && in_entry_) {
      in_entry_ = false;
      if (entry_.loc.empty() || loc_too_long_) {
        ++result_.skipped;
      } else {
        add_entry(std::move(entry_));
      }
    }
  }

  SitemapLimits limits_;
  SitemapResult result_;
  bool stopped_ = false;
  bool finished_ = false;
  // Content coding of the body.
  Coding coding_ = Coding::kUnknown;
  std::string magic_;
  z_stream zstream_{};
  bool gzip_started_ = false;
  bool gzip_ended_ = false;
  // Format, and the bytes read before it was known.
  Format format_ = Format::kUndecided;
  std::string lead_;
  // XML state.
  xmlSAXHandler sax_{};
  xmlParserCtxtPtr xml_ = nullptr;
  std::string root_namespace_;
  int depth_ = 0;
  int skip_below_ = 0;  // depth of the element being skipped with its content; 0 = none
  bool in_entry_ = false;
  bool loc_too_long_ = false;
  Field field_ = Field::kNone;
  std::string text_;
  SitemapEntry entry_;
  // Text state.
  std::string line_;
};

SitemapParser::SitemapParser(SitemapLimits limits) : impl_(std::make_unique<Impl>(limits)) {}
SitemapParser::~SitemapParser() = default;
bool SitemapParser::feed(std::string_view bytes) { return impl_->feed(bytes); }
SitemapResult SitemapParser::finish() { return impl_->finish(); }

SitemapResult parse_sitemap(std::string_view body, SitemapLimits limits) {
  SitemapParser parser(limits);
  parser.feed(body);
  return parser.finish();
}

}  // namespace fetchpool
