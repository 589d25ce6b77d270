// The `get -i` list in aria2's format: one URL a line, and indented
// "key=value" option lines after a URL that apply to it (out=, header=,
// referer=). A URL line is held until its option lines are read: until the
// next URL line, the end of the list, or the moment the reader would wait for
// more input (a live producer may send nothing more for hours, and the URL
// must not wait with it).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "fetchpool/engine.hpp"
#include "tools/cli/input_lines.hpp"

namespace fetchpool::cli {

class Aria2ListParser {
 public:
  // Called with each URL line (trimmed), its line number and its options
  // (nullopt when it has none), in list order, once.
  using Queue = std::function<void(std::string_view url, std::uint64_t line, std::optional<InputLineOptions> options)>;

  // `list` names the list in warnings (an unknown key, an option before any URL).
  Aria2ListParser(std::string list, Queue queue) : list_(std::move(list)), queue_(std::move(queue)) {}

  // Reads `lines` to its end (or stop, or error), handing the held URL on
  // whenever the reader is about to wait and at the end. Blank lines and
  // # comments are skipped but counted; a UTF-8 byte order mark before the
  // first line is not part of it.
  InputLines::Next read(InputLines& lines);

  // One line as read; line numbers count every line from 1.
  void feed(std::string_view line);
  // Hands the held URL, if any, to the queue.
  void flush();

  std::uint64_t lines_read() const noexcept { return line_number_; }

 private:
  std::string list_;
  Queue queue_;
  std::uint64_t line_number_ = 0;
  std::string pending_;             // the last URL line, until its option lines are read
  std::uint64_t pending_line_ = 0;  // 0: none held
  std::optional<InputLineOptions> pending_options_;
};

}  // namespace fetchpool::cli
