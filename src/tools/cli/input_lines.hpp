// The `get -i` list read line by line from a descriptor, and given up as soon
// as the run is stopping.
//
// std::getline on std::cin blocks in read(2) until the writer sends a line or
// closes the pipe: `producer | fetchpool get -i -` with a producer that stays
// open would ignore Ctrl-C until it ended. Here every read waits in poll(2)
// on the input and on a stop descriptor (SignalWatcher::input_stop_fd), so a
// stop ends the reading at once, whatever the writer does.
#pragma once

#include <functional>
#include <string>
#include <utility>

namespace fetchpool::cli {

class InputLines {
 public:
  enum class Next { kLine, kEnd, kStopped, kError };

  // Reads `fd` (not owned) until its end, or until `stop_fd` is readable
  // (-1: never). The descriptor's file offset is where reading starts.
  InputLines(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}

  // The next line without its '\n' (a last line without one is returned
  // too); kEnd at the end of input, kStopped once stop_fd is readable,
  // kError (errno kept in error()) when a read fails.
  Next next(std::string& line);
  int error() const noexcept { return error_; }

  // Called (on the reading thread) each time a read would block: what was
  // read so far is all there is for now.
  void on_wait(std::function<void()> before_wait) { before_wait_ = std::move(before_wait); }

 private:
  bool fill();  // false at the end, on a stop or on an error

  int fd_;
  int stop_fd_;
  std::string buffer_;
  std::size_t start_ = 0;
  bool eof_ = false;
  bool stopped_ = false;
  int error_ = 0;
  std::function<void()> before_wait_;
};

}  // namespace fetchpool::cli
