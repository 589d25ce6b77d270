#include "tools/cli/aria2_list.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "base/ascii.hpp"

namespace fetchpool::cli {
namespace {

// "  out=name.bin" -> {"out", "name.bin"}: an indented key=value line that is
// not itself a URL. Anything else is a URL line (indented or not).
std::optional<std::pair<std::string_view, std::string_view>> option_line(std::string_view raw) {
  if (raw.empty() || (raw.front() != ' ' && raw.front() != '\t')) return std::nullopt;
  const std::string_view text = detail::trim_ows_and_newlines(raw);
  const auto equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0 || text.find("://") < equals) return std::nullopt;
  const std::string_view key = text.substr(0, equals);
  if (!std::all_of(key.begin(), key.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; }))
    return std::nullopt;
  return std::pair{key, text.substr(equals + 1)};
}

// Applies one option line to `into`; false (after a warning naming the
// line) for a key this list format does not know.
bool apply_option_line(std::string_view key, std::string_view value, InputLineOptions& into, const std::string& list,
                       std::uint64_t line_number) {
  if (key == "out") {
    into.out = value;
  } else if (key == "header") {
    into.headers.emplace_back(value);
  } else if (key == "referer") {
    into.headers.push_back("Referer: " + std::string(value));
  } else {
    spdlog::warn("{}: line {}: unknown per-URL option '{}' ignored (known: out, header, referer)", list, line_number,
                 key);
    return false;
  }
  return true;
}

}  // namespace

InputLines::Next Aria2ListParser::read(InputLines& lines) {
  lines.on_wait([this] { flush(); });
  InputLines::Next next;
  std::string line;
  while ((next = lines.next(line)) == InputLines::Next::kLine) feed(line);
  lines.on_wait({});
  flush();
  return next;
}

void Aria2ListParser::feed(std::string_view line) {
  ++line_number_;
  // A UTF-8 byte order mark (Windows editors write one) is not part of the first URL.
  if (line_number_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
  if (const auto option = option_line(line)) {
    if (pending_line_ == 0) {
      spdlog::warn("{}: line {}: option '{}' has no URL line before it; ignored", list_, line_number_, option->first);
      return;
    }
    InputLineOptions options = pending_options_.value_or(InputLineOptions{});
    if (apply_option_line(option->first, option->second, options, list_, line_number_))
      pending_options_ = std::move(options);
    return;
  }
  const std::string_view url = detail::trim_ows_and_newlines(line);
  if (url.empty() || url.front() == '#') return;
  flush();
  pending_ = url;
  pending_line_ = line_number_;
}

void Aria2ListParser::flush() {
  if (pending_line_ == 0) return;
  const std::uint64_t line = pending_line_;
  pending_line_ = 0;
  auto options = std::exchange(pending_options_, std::nullopt);
  queue_(pending_, line, std::move(options));
}

}  // namespace fetchpool::cli
