// The aria2-format `get -i` list parser: which URL gets which option lines,
// and when a held URL is handed on: at the next URL line, at the end, and
// before the reader would wait on a live pipe.
#include <catch2/catch.hpp>

#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/cli/aria2_list.hpp"
#include "tools/cli/input_lines.hpp"

using fetchpool::InputLineOptions;
using fetchpool::cli::Aria2ListParser;
using fetchpool::cli::InputLines;

namespace {

struct Queued {
  std::string url;
  std::uint64_t line;
  std::optional<InputLineOptions> options;
};

Aria2ListParser::Queue collect(std::vector<Queued>& into) {
  return [&into](std::string_view url, std::uint64_t line, std::optional<InputLineOptions> options) {
    into.push_back(Queued{std::string(url), line, std::move(options)});
  };
}

}  // namespace

TEST_CASE("aria2 list: option lines go to the URL before them, which waits for them", "[aria2]") {
  std::vector<Queued> queued;
  Aria2ListParser list("list.txt", collect(queued));
  list.feed("\xEF\xBB\xBFhttp://a.test/1");
  list.feed("  out=one.bin");
  list.feed("\theader=X-Token: 7");
  list.feed("  referer=http://r.test/");
  CHECK(queued.empty());  // its option lines may still come
  list.feed("");
  list.feed("# a comment");
  list.feed("  http://b.test/2");  // indented, but a URL line
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].url == "http://a.test/1");  // without the byte order mark
  CHECK(queued[0].line == 1);
  REQUIRE(queued[0].options);
  CHECK(queued[0].options->out == "one.bin");
  CHECK(queued[0].options->headers == std::vector<std::string>{"X-Token: 7", "Referer: http://r.test/"});
  list.feed("  color=blue");  // unknown: warned about, no options
  list.flush();
  REQUIRE(queued.size() == 2);
  CHECK(queued[1].url == "http://b.test/2");
  CHECK(queued[1].line == 7);
  CHECK_FALSE(queued[1].options);
  list.flush();               // nothing held: nothing handed on twice
  list.feed("  out=orphan");  // no URL before it: ignored, not given to the next URL
  list.feed("http://c.test/3");
  list.flush();
  REQUIRE(queued.size() == 3);
  CHECK(queued[2].line == 10);
  CHECK_FALSE(queued[2].options);
  CHECK(list.lines_read() == 10);
}

TEST_CASE("aria2 list: a held URL is handed on before the reader waits on a pipe that stays open", "[aria2]") {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const std::string text = "http://a.test/1\n  out=a.bin\nhttp://b.test/2\n  out=b.bin\n";
  REQUIRE(::write(pipe_fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  std::vector<Queued> queued;
  int writer = pipe_fds[1];
  // The writer stays open (a live producer) until the held URL is handed on:
  // only then is it closed, so the read ends. A parser that held the URL
  // until more input came would wait in poll(2) until the stop timer fires.
  Aria2ListParser list("-", [&](std::string_view url, std::uint64_t line, std::optional<InputLineOptions> options) {
    queued.push_back(Queued{std::string(url), line, std::move(options)});
    if (url == "http://b.test/2" && writer >= 0) {
      ::close(writer);
      writer = -1;
    }
  });
  const int stop_timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  REQUIRE(stop_timer >= 0);
  itimerspec in_a_minute{};
  in_a_minute.it_value.tv_sec = 60;
  REQUIRE(::timerfd_settime(stop_timer, 0, &in_a_minute, nullptr) == 0);
  InputLines lines(pipe_fds[0], stop_timer);
  CHECK(list.read(lines) == InputLines::Next::kEnd);
  ::close(stop_timer);
  ::close(pipe_fds[0]);
  if (writer >= 0) ::close(writer);
  REQUIRE(queued.size() == 2);
  CHECK(queued[0].options->out == "a.bin");
  CHECK(queued[1].line == 3);
  REQUIRE(queued[1].options);
  CHECK(queued[1].options->out == "b.bin");
}
