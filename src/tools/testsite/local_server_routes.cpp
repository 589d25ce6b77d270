// Request parsing and the route table of LocalServer.
//
// Routes (every one deterministic; "n" etc. are decimal numbers):
//   /, /s/<d>/<i>.html        the synthetic site (latency, jitter, error_rate apply; ETag, Last-Modified, 304)
//   /private/<i>.html         pages disallowed by the default robots.txt
//   /robots.txt               ServerOptions::robots_txt (404 when empty; robots_status when not 200; latency applies)
//   /status/<code>            that status (200..599), small text body
//   /delay/<ms>               200 after ms
//   /bytes/<n>                n bytes, byte k = 'a' + k % 26; Range, If-Range, ETag;
//                             ?chunked=1, ?norange=1, ?etag=X, ?early=K (a 206 starting K bytes early)
//   /headers                  the request's header fields as text (also through a proxy: an absolute-form
//                             request target is served as its path, so the server stands in for a proxy)
//   /cookies/set?NAME=VALUE   200 with Set-Cookie: NAME=VALUE; Path=/
//   /basic-auth?user=U&pass=P 401 with WWW-Authenticate unless Authorization is Basic base64(U:P), then 200
//   /fault/reset?after=N      Content-Length N + 1000, N bytes, then RST
//   /fault/truncate?send=N&claim=M   Content-Length M, N < M bytes, then FIN
//   /fault/framing?kind=K     a malformed answer sent byte for byte, then FIN: cl-invalid, cl-negative,
//                             cl-conflict, cl-list, cl-repeat (valid), te-and-cl (valid), no-header,
//                             header-cut, chunked-cut, chunked-bad-size, chunked-bad-crlf, gzip-cut,
//                             gzip-cut-length, big-header (60 KiB field), huge-header (200 KiB field)
//   /fault/range?start=S&end=E[&total=T]   206 with Content-Range bytes S-E/T whatever was asked
//   /gzip-file?size=N         N bytes of the /bytes pattern sent with Content-Encoding: gzip
//   /fault/stall              header only, then silence until the client leaves
//   /fault/trickle?bps=B&total=T     T bytes at B bytes/s
//   /redirect/<n>             302 chain of n hops ending in a 200 page
//   /redirect-loop            302 to itself
//   /redirect-to?url=U[&status=S]    3xx (default 302) to any Location
//   /retry-after/<s>          429 with Retry-After: s
//   /retry-after-date         503 with Retry-After an HTTP-date 1..2 s ahead
//   /flaky/<key>?fail=N       503 for the first N requests of that path, then 200
//   /gzip-bomb?mib=M          gzip body that inflates to M MiB of zeros (M <= 1024)
//   /filename?name=NAME       Content-Disposition: attachment; filename="NAME" (decoded, raw)
//   /sitemaps/...             sitemaps of the synthetic site, hostile ones too (local_server_sitemaps.cpp)
// With ServerOptions::root, every path is a file under it instead (local_server_files.cpp).
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/ascii.hpp"
#include "base/percent_coding.hpp"
#include "tools/testsite/local_server_internal.hpp"

namespace fetchpool::detail {
namespace {

constexpr std::string_view kHtml = "text/html; charset=utf-8";
constexpr std::string_view kOctets = "application/octet-stream";
constexpr std::string_view kLastModified = "Mon, 01 Jan 2024 00:00:00 GMT";
constexpr std::uint32_t kMaxGzipMiB = 1024;

bool is_token_char(char c) {
  return is_ascii_alpha(c) || is_ascii_digit(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A decimal number that is all of `text`.
std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The number in "<prefix><n>", if `path` has exactly that shape.
std::optional<std::uint64_t> number_after(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  return parse_u64(path.substr(prefix.size()));
}

std::uint64_t param_or(std::string_view query, std::string_view key, std::uint64_t fallback) {
  const auto text = query_param(query, key);
  if (!text) return fallback;
  return parse_u64(*text).value_or(fallback);
}

// The bytes of a gzip stream that inflates to `mib` MiB of zeros. Deflate
// peaks near 1000:1 on zeros, so 1 GiB costs about 1 MiB.
std::string gzip_zeros(std::uint32_t mib) {
  z_stream zs{};
  if (deflateInit2_(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                    static_cast<int>(sizeof(z_stream))) != Z_OK) {
    throw std::runtime_error("zlib deflateInit2 failed");
  }
  std::vector<unsigned char> zeros(std::size_t{1} << 20);
  unsigned char buffer[1 << 16];
  std::string out;
  for (std::uint32_t m = 0; m <= mib; ++m) {
    const bool last = m == mib;
    zs.next_in = last ? nullptr : zeros.data();
    zs.avail_in = last ? 0 : static_cast<uInt>(zeros.size());
    int rc = Z_OK;
    do {
      zs.next_out = buffer;
      zs.avail_out = sizeof buffer;
      rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
      out.append(reinterpret_cast<const char*>(buffer), sizeof buffer - zs.avail_out);
    } while (zs.avail_out == 0 || (last && rc != Z_STREAM_END));
  }
  deflateEnd(&zs);
  return out;
}

}  // namespace

std::string gzip_text(std::string_view text) {
  z_stream zs{};
  if (deflateInit2_(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                    static_cast<int>(sizeof(z_stream))) != Z_OK) {
    throw std::runtime_error("zlib deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(text.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("zlib deflate did not finish");
  return out;
}

namespace {

// The whole answer of a /fault/framing kind, head included; empty if unknown.
std::string malformed_answer(std::string_view kind) {
  const std::string ok = "HTTP/1.1 200 OK\r\nServer: fetchpool-local\r\nContent-Type: text/plain\r\n";
  const std::string body = "hello world\n";  // 12 bytes
  if (kind == "cl-invalid") return ok + "Content-Length: 12abc\r\n\r\n" + body;
  if (kind == "cl-negative") return ok + "Content-Length: -12\r\n\r\n" + body;
  if (kind == "cl-conflict") return ok + "Content-Length: 5\r\nContent-Length: 12\r\n\r\n" + body;
  if (kind == "cl-list") return ok + "Content-Length: 12, 7\r\n\r\n" + body;
  if (kind == "cl-repeat") return ok + "Content-Length: 12\r\nContent-Length: 12, 12\r\n\r\n" + body;
  if (kind == "te-and-cl")
    return ok + "Transfer-Encoding: chunked\r\nContent-Length: 99x\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  // A 60 KiB header field (libcurl takes it) and a 200 KiB one (over
  // libcurl 7.88's 100 KiB limit for one header line).
  if (kind == "big-header" || kind == "huge-header")
    return ok + "X-Padding: " + std::string(kind == "big-header" ? 60 * 1024 : 200 * 1024, 'x') +
           "\r\nContent-Length: 12\r\n\r\n" + body;
  if (kind == "no-header") return "HTTP/1.1 200 OK\r\n";
  if (kind == "header-cut") return ok + "Content-Length: 12\r\n";
  if (kind == "chunked-cut") return ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
  // Complete but malformed chunked bodies: a chunk size that is not hex, and
  // chunk data not followed by its CRLF (RFC 9112 section 7.1).
  if (kind == "chunked-bad-size") return ok + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n";
  if (kind == "chunked-bad-crlf") return ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n";
  if (kind == "gzip-cut" || kind == "gzip-cut-length") {
    std::string page = "<!DOCTYPE html>\n<title>gzip</title>\n";
    for (int i = 0; page.size() < std::size_t{64} * 1024; ++i)
      page += "<p>line " + std::to_string(i) + " of a compressed page</p>\n";
    std::string coded = gzip_text(page);
    coded.resize(coded.size() / 2);
    std::string head =
        "HTTP/1.1 200 OK\r\nServer: fetchpool-local\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n";
    if (kind == "gzip-cut-length") head += "Content-Length: " + std::to_string(coded.size()) + "\r\n";
    return head + "\r\n" + coded;
  }
  return {};
}

struct ByteRange {
  enum Kind { kNone, kSatisfiable, kUnsatisfiable } kind = kNone;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

// RFC 9110 14.1.1/14.2: a single "bytes=" range; anything we do not serve as
// one range (multi-range, bad syntax) is kNone, i.e. "ignore the header".
ByteRange parse_range(std::string_view value, std::uint64_t size) {
  value = trim_http_ows(value);
  constexpr std::string_view kUnit = "bytes=";
  if (value.size() < kUnit.size() || !iequals(value.substr(0, kUnit.size()), kUnit)) return {};
  const std::string_view spec = trim_http_ows(value.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return {};
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const std::string_view first_text = trim_http_ows(spec.substr(0, dash));
  const std::string_view last_text = trim_http_ows(spec.substr(dash + 1));
  if (first_text.empty()) {  // suffix range: the last N bytes
    const auto suffix = parse_u64(last_text);
    if (!suffix) return {};
    if (*suffix == 0 || size == 0) return {ByteRange::kUnsatisfiable};
    return {ByteRange::kSatisfiable, size - std::min(*suffix, size), size - 1};
  }
  const auto first = parse_u64(first_text);
  if (!first) return {};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    const auto parsed = parse_u64(last_text);
    if (!parsed || *parsed < *first) return {};
    last = std::min(last, *parsed);
  }
  if (*first >= size) return {ByteRange::kUnsatisfiable};
  return {ByteRange::kSatisfiable, *first, last};
}

Reply redirect_reply(int status, const std::string& location) {
  Reply reply = text_reply(status, "redirecting to " + location + "\n");
  reply.fields += "Location: " + location + "\r\n";
  return reply;
}

// RFC 4648 base64 with padding, for the Basic credentials /basic-auth expects.
std::string base64(std::string_view bytes) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t group = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kAlphabet[(group >> 18) & 63]);
    out.push_back(kAlphabet[(group >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(group >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[group & 63] : '=');
  }
  return out;
}

bool has_control_chars(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace

std::string_view HttpRequest::field(std::string_view name) const {
  for (const auto& [key, value] : fields) {
    if (iequals(key, name)) return value;
  }
  return {};
}

bool HttpRequest::has_field(std::string_view name) const {
  return std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return iequals(f.first, name); });
}

ParseStatus parse_request(std::string_view input, std::size_t scan_from, std::size_t max_head, HttpRequest& request,
                          std::size_t& consumed) {
  // RFC 9112 2.2: ignore empty lines before the request line.
  std::size_t begin = 0;
  while (begin < input.size() && (input[begin] == '\r' || input[begin] == '\n')) ++begin;
  // The head ends at the first empty line; a bare LF line ending is
  // accepted as RFC 9112 2.2 allows.
  std::size_t end = std::string_view::npos;
  for (std::size_t i = std::max(begin, scan_from >= 3 ? scan_from - 3 : 0); i < input.size(); ++i) {
    if (input[i] != '\n') continue;
    if (i + 1 < input.size() && input[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (i + 2 < input.size() && input[i + 1] == '\r' && input[i + 2] == '\n') {
      end = i + 3;
      break;
    }
  }
  if (end == std::string_view::npos) {
    return input.size() - begin > max_head ? ParseStatus::kTooLarge : ParseStatus::kIncomplete;
  }
  if (end - begin > max_head) return ParseStatus::kTooLarge;
  consumed = end;

  std::string_view head = input.substr(begin, end - begin);
  auto next_line = [&head]() {
    const std::size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };

  const std::string_view request_line = next_line();
  const std::size_t sp1 = request_line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return ParseStatus::kBad;
  request.method = request_line.substr(0, sp1);
  request.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = request_line.substr(sp2 + 1);
  if (request.method.empty() || !std::all_of(request.method.begin(), request.method.end(), is_token_char) ||
      request.target.empty() || version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' ||
      version[7] > '9') {
    return ParseStatus::kBad;
  }
  request.minor_version = version[7] - '0';

  std::string_view target = request.target;
  if (const std::size_t scheme = target.find("://"); target.front() != '/' && scheme != std::string_view::npos) {
    const std::size_t slash = target.find('/', scheme + 3);  // absolute-form: drop scheme://authority
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (target.front() != '/' && target != "*") return ParseStatus::kBad;
  const std::size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  const std::size_t question = target.find('?');
  request.path = target.substr(0, question);
  request.query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  request.fields.clear();
  for (std::string_view line = next_line(); !line.empty(); line = next_line()) {
    const std::size_t colon = line.find(':');
    // No whitespace before the colon and no obsolete line folding (RFC 9112 5.1, 5.2).
    if (colon == std::string_view::npos || colon == 0 ||
        !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon), is_token_char)) {
      return ParseStatus::kBad;
    }
    request.fields.emplace_back(line.substr(0, colon), trim_http_ows(line.substr(colon + 1)));
  }
  return ParseStatus::kComplete;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

void BodySource::copy(std::uint64_t position, char* out, std::size_t count) const {
  if (bytes) {
    std::memcpy(out, bytes->data() + first + position, count);
    return;
  }
  // 26 bytes of slack let any start phase copy a full piece in one memcpy.
  static const std::string kPattern = [] {
    std::string p(std::size_t{1} << 16, '\0');
    p.resize(p.size() + 26);
    for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<char>('a' + k % 26);
    return p;
  }();
  const std::size_t piece = kPattern.size() - 26;
  std::uint64_t k = first + position;
  while (count > 0) {
    const std::size_t n = std::min(count, piece);
    std::memcpy(out, kPattern.data() + k % 26, n);
    out += n;
    k += n;
    count -= n;
  }
}

Reply text_reply(int status, std::string body, std::string_view content_type) {
  Reply reply;
  reply.status = status;
  reply.fields = "Content-Type: " + std::string(content_type) + "\r\n";
  reply.body.size = body.size();
  reply.body.bytes = std::make_shared<const std::string>(std::move(body));
  return reply;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::uint64_t PathCounter::increment(std::string_view path) {
  Shard& shard = shards_[Hash{}(path) % kShards];
  MutexLock lock(shard.mutex);
  auto it = shard.counts.find(path);
  if (it == shard.counts.end()) it = shard.counts.emplace(std::string(path), 0).first;
  return ++it->second;
}

std::uint64_t PathCounter::get(std::string_view path) const {
  const Shard& shard = shards_[Hash{}(path) % kShards];
  MutexLock lock(shard.mutex);
  const auto it = shard.counts.find(path);
  return it == shard.counts.end() ? 0 : it->second;
}

Router::Router(const ServerOptions& options, std::string base_url)
    : options_(options),
      base_url_(std::move(base_url)),
      site_(options.site, options.error_rate),
      files_(options.root.empty() ? nullptr : std::make_unique<DirectoryFiles>(options.root)) {}

std::chrono::milliseconds Router::site_delay(std::string_view path) const {
  auto delay = options_.latency;
  if (options_.jitter.count() > 0) {
    // FNV-1a of the path and the seed: the same path always waits the same,
    // on every platform (std::hash promises neither).
    std::uint64_t h = 0xCBF29CE484222325ULL ^ options_.site.seed;
    for (const char c : path) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
    delay += std::chrono::milliseconds(h % (static_cast<std::uint64_t>(options_.jitter.count()) + 1));
  }
  return delay;
}

Reply Router::site_reply(const HttpRequest& request) {
  const std::string_view path = request.path;
  Reply reply;
  if (const auto page = site_.page_for_path(path)) {
    reply = site_.page_fails(*page) ? text_reply(500, "page " + std::to_string(*page) + " fails\n")
                                    : text_reply(200, site_.render_page(*page, base_url_), kHtml);
  } else if (const auto private_page = site_.private_page_for_path(path)) {
    reply = text_reply(200, site_.render_private_page(*private_page), kHtml);
  } else {
    return text_reply(404, "not found\n");
  }
  if (reply.status == 200) {
    // The page's own hash: a changed site (other options) changes it.
    std::uint64_t h = 0xCBF29CE484222325ULL;
    for (const char c : *reply.body.bytes) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
    char etag[24];
    std::snprintf(etag, sizeof etag, "\"%016llx\"", static_cast<unsigned long long>(h));
    if (not_modified(request, etag, kLastModified)) {
      reply = not_modified_reply(etag, kLastModified);
    } else {
      reply.fields += "ETag: " + std::string(etag) + "\r\nLast-Modified: " + std::string(kLastModified) + "\r\n";
    }
  }
  reply.delay = site_delay(path);
  return reply;
}

Reply Router::bytes_reply(const HttpRequest& request, std::uint64_t size) {
  const auto etag_param = query_param(request.query, "etag");
  std::string etag = "\"bytes-" + std::to_string(size) + "\"";
  if (etag_param)
    etag = (etag_param->starts_with('"') || etag_param->starts_with("W/")) ? *etag_param : "\"" + *etag_param + "\"";
  const bool honour_range = query_param(request.query, "norange") != "1";

  Reply reply;
  reply.fields = "Content-Type: " + std::string(kOctets) + "\r\nETag: " + etag +
                 "\r\nLast-Modified: " + std::string(kLastModified) + "\r\n";
  if (honour_range) reply.fields += "Accept-Ranges: bytes\r\n";
  reply.chunked = query_param(request.query, "chunked") == "1";
  reply.body.size = size;

  const std::string_view range_field = request.field("Range");
  const std::string_view if_range = request.field("If-Range");
  // RFC 9110 13.1.5: a Range whose If-Range validator no longer matches is ignored.
  const bool validator_matches = if_range.empty() || if_range == etag || if_range == kLastModified;
  if (!honour_range || range_field.empty() || !validator_matches) return reply;
  ByteRange range = parse_range(range_field, size);
  if (range.kind == ByteRange::kUnsatisfiable) {
    Reply refused = text_reply(416, "range not satisfiable\n");
    refused.fields += "Content-Range: bytes */" + std::to_string(size) + "\r\n";
    return refused;
  }
  if (range.kind == ByteRange::kSatisfiable) {
    // ?early=K: the range starts K bytes before the one asked for (RFC 9110
    // section 15.3.7 lets a server send more than asked).
    range.first -= std::min<std::uint64_t>(range.first, param_or(request.query, "early", 0));
    reply.status = 206;
    reply.fields += "Content-Range: bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
                    std::to_string(size) + "\r\n";
    reply.body.first = range.first;
    reply.body.size = range.last - range.first + 1;
  }
  return reply;
}

Reply Router::gzip_bomb_reply(std::uint32_t mib) {
  std::shared_ptr<const std::string> body;
  {
    // Built once per size under the lock: a second request waits rather than
    // compressing the same gigabyte again.
    MutexLock lock(gzip_mutex_);
    auto& cached = gzip_cache_[mib];
    if (!cached) cached = std::make_shared<const std::string>(gzip_zeros(mib));
    body = cached;
  }
  Reply reply;
  reply.fields = "Content-Type: " + std::string(kHtml) + "\r\nContent-Encoding: gzip\r\n";
  reply.body.size = body->size();
  reply.body.bytes = std::move(body);
  return reply;
}

Reply Router::route(const HttpRequest& request) {
  const std::string_view path = request.path;
  const std::uint64_t count = counts_.increment(path);

  if (request.has_field("Transfer-Encoding") ||
      (request.has_field("Content-Length") && request.field("Content-Length") != "0")) {
    Reply reply = text_reply(413, "request bodies are not accepted\n");
    reply.ending = Ending::kClose;
    return reply;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    Reply reply = text_reply(405, "only GET and HEAD\n");
    reply.fields += "Allow: GET, HEAD\r\n";
    return reply;
  }

  if (files_) return files_->reply(request);
  if (path == "/" || path.starts_with("/s/") || path.starts_with("/private/")) return site_reply(request);
  if (path == "/robots.txt") {
    Reply reply = options_.robots_status != 200 ? text_reply(options_.robots_status, "robots.txt status\n")
                  : options_.robots_txt.empty() ? text_reply(404, "no robots.txt\n")
                                                : text_reply(200, options_.robots_txt + robots_sitemap_lines());
    reply.delay = site_delay(path);
    return reply;
  }
  if (path.starts_with("/sitemaps/")) return sitemap_reply(path, request.query, base_url_);
  if (const auto code = number_after(path, "/status/")) {
    if (*code < 200 || *code > 599) return text_reply(400, "status must be 200..599\n");
    const int status = static_cast<int>(*code);
    if (status == 204 || status == 304) {
      Reply reply;
      reply.status = status;
      reply.no_length = true;
      return reply;
    }
    return text_reply(status, std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n");
  }
  if (const auto ms = number_after(path, "/delay/")) {
    Reply reply = text_reply(200, "delayed " + std::to_string(*ms) + " ms\n");
    reply.delay = std::chrono::milliseconds(std::min<std::uint64_t>(*ms, 3'600'000));
    return reply;
  }
  if (const auto size = number_after(path, "/bytes/")) return bytes_reply(request, *size);
  if (path == "/headers") {
    std::string text;
    for (const auto& [name, value] : request.fields) {
      text.append(name).append(": ").append(value).append("\n");
    }
    return text_reply(200, std::move(text));
  }
  if (path == "/cookies/set") {
    const auto equals = request.query.find('=');
    if (request.query.empty() || equals == 0 || equals == std::string_view::npos || has_control_chars(request.query))
      return text_reply(400, "give ?NAME=VALUE\n");
    Reply reply = text_reply(200, "cookie set\n");
    reply.fields += "Set-Cookie: " + std::string(request.query) + "; Path=/\r\n";
    return reply;
  }
  if (path == "/basic-auth") {
    const std::string expected = "Basic " + base64(query_param(request.query, "user").value_or("") + ":" +
                                                   query_param(request.query, "pass").value_or(""));
    if (request.field("Authorization") == expected) return text_reply(200, "authenticated\n");
    Reply reply = text_reply(401, "credentials needed\n");
    reply.fields += "WWW-Authenticate: Basic realm=\"fetchpool test\"\r\n";
    return reply;
  }
  if (path == "/fault/reset") {
    Reply reply;
    reply.fields = "Content-Type: " + std::string(kOctets) + "\r\n";
    reply.body.size = param_or(request.query, "after", 0);
    reply.declared_length = reply.body.size + 1000;
    reply.ending = Ending::kReset;
    return reply;
  }
  if (path == "/fault/truncate") {
    const std::uint64_t send = param_or(request.query, "send", 10);
    const std::uint64_t claim = param_or(request.query, "claim", 100);
    if (send >= claim) return text_reply(400, "send must be less than claim\n");
    Reply reply;
    reply.fields = "Content-Type: " + std::string(kOctets) + "\r\n";
    reply.body.size = send;
    reply.declared_length = claim;
    reply.ending = Ending::kClose;
    return reply;
  }
  if (path == "/fault/framing") {
    std::string answer = malformed_answer(query_param(request.query, "kind").value_or(""));
    if (answer.empty()) return text_reply(400, "unknown kind\n");
    Reply reply;
    reply.raw = true;
    reply.body.size = answer.size();
    reply.body.bytes = std::make_shared<const std::string>(std::move(answer));
    reply.ending = Ending::kClose;
    return reply;
  }
  if (path == "/fault/range") {
    // A 206 whatever the request asked: Content-Range bytes S-E/T and the
    // /bytes pattern's bytes S..E ("*" total when T is absent).
    const std::uint64_t start = param_or(request.query, "start", 0);
    const std::uint64_t end = param_or(request.query, "end", 99);
    const auto total = query_param(request.query, "total");
    if (end < start) return text_reply(400, "end must not be below start\n");
    Reply reply;
    reply.status = 206;
    reply.fields = "Content-Type: " + std::string(kOctets) + "\r\nContent-Range: bytes " + std::to_string(start) + "-" +
                   std::to_string(end) + "/" + total.value_or("*") + "\r\n";
    reply.body.first = start;
    reply.body.size = end - start + 1;
    return reply;
  }
  if (path == "/gzip-file") {
    // A gzip-coded entity (a .tar.gz served with Content-Encoding: gzip):
    // `size` bytes of the /bytes pattern, compressed.
    const std::uint64_t size = std::min<std::uint64_t>(param_or(request.query, "size", 1000), 64u << 20);
    std::string plain(size, '\0');
    for (std::uint64_t k = 0; k < size; ++k) plain[k] = static_cast<char>('a' + k % 26);
    Reply reply;
    reply.fields = "Content-Type: " + std::string(kOctets) + "\r\nContent-Encoding: gzip\r\n";
    auto coded = std::make_shared<const std::string>(gzip_text(plain));
    reply.body.size = coded->size();
    reply.body.bytes = std::move(coded);
    return reply;
  }
  if (path == "/fault/stall") {
    Reply reply;
    reply.fields = "Content-Type: " + std::string(kOctets) + "\r\n";
    reply.declared_length = 1000;
    reply.ending = Ending::kStall;
    return reply;
  }
  if (path == "/fault/trickle") {
    Reply reply;
    reply.fields = "Content-Type: " + std::string(kOctets) + "\r\n";
    reply.body.size = param_or(request.query, "total", 1000);
    reply.bytes_per_second =
        static_cast<std::uint32_t>(std::clamp<std::uint64_t>(param_or(request.query, "bps", 1000), 1, 1'000'000'000));
    return reply;
  }
  if (const auto hops = number_after(path, "/redirect/")) {
    if (*hops == 0)
      return text_reply(200, "<!DOCTYPE html>\n<title>Redirect target</title>\n<p>end of chain</p>\n", kHtml);
    return redirect_reply(302, "/redirect/" + std::to_string(*hops - 1));
  }
  if (path == "/redirect-loop") return redirect_reply(302, "/redirect-loop");
  if (path == "/redirect-to") {
    const auto url = query_param(request.query, "url");
    const std::uint64_t status = param_or(request.query, "status", 302);
    if (!url || url->empty() || has_control_chars(*url)) return text_reply(400, "url= is missing or has CR/LF\n");
    if (status < 300 || status > 399) return text_reply(400, "status must be 3xx\n");
    return redirect_reply(static_cast<int>(status), *url);
  }
  if (const auto seconds = number_after(path, "/retry-after/")) {
    Reply reply = text_reply(429, "slow down\n");
    reply.fields += "Retry-After: " + std::to_string(*seconds) + "\r\n";
    return reply;
  }
  if (path == "/retry-after-date") {
    Reply reply = text_reply(503, "come back later\n");
    reply.fields += "Retry-After: " + http_date(std::time(nullptr) + 2) + "\r\n";
    return reply;
  }
  if (path.starts_with("/flaky/") && path.size() > 7) {
    if (count <= param_or(request.query, "fail", 1)) return text_reply(503, "flaky: failing\n");
    return text_reply(200, "flaky: ok on request " + std::to_string(count) + "\n");
  }
  if (path == "/gzip-bomb") {
    const std::uint64_t mib = param_or(request.query, "mib", 10);
    if (mib > kMaxGzipMiB) return text_reply(400, "mib must be at most 1024\n");
    return gzip_bomb_reply(static_cast<std::uint32_t>(mib));
  }
  if (path == "/filename") {
    const auto name = query_param(request.query, "name");
    if (!name || has_control_chars(*name)) return text_reply(400, "name= is missing or has CR/LF/NUL\n");
    Reply reply = text_reply(200, "attachment body\n", kOctets);
    reply.fields += "Content-Disposition: attachment; filename=\"" + *name + "\"\r\n";
    return reply;
  }
  return text_reply(404, "not found\n");
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  const std::size_t n = std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buffer, n);
}

}  // namespace fetchpool::detail
