#include "tools/cli/input_lines.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace fetchpool::cli {

namespace {

constexpr std::size_t kReadBytes = std::size_t{64} * 1024;

}  // namespace

bool InputLines::fill() {
  if (eof_ || stopped_ || error_ != 0) return false;
  // Looked at without waiting first: when the input has nothing ready, the
  // reader is told before this blocks (a URL held back for its option lines
  // must not wait for a writer that may send nothing more for hours).
  bool told = !before_wait_;
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, stop_fd_ >= 0 ? 2 : 1, told ? -1 : 0);
    if (ready < 0) {
      if (errno == EINTR) continue;
      error_ = errno;
      return false;
    }
    if (ready == 0) {
      told = true;
      before_wait_();
      continue;
    }
    if (stop_fd_ >= 0 && (fds[1].revents & POLLIN) != 0) {
      stopped_ = true;
      return false;
    }
    if (fds[0].revents == 0) continue;
    if (start_ > 0) {
      buffer_.erase(0, start_);
      start_ = 0;
    }
    const std::size_t old_size = buffer_.size();
    buffer_.resize(old_size + kReadBytes);
    const ssize_t n = ::read(fd_, buffer_.data() + old_size, kReadBytes);
    buffer_.resize(old_size + static_cast<std::size_t>(n > 0 ? n : 0));
    if (n > 0) return true;
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    error_ = errno;
    return false;
  }
}

InputLines::Next InputLines::next(std::string& line) {
  for (;;) {
    const std::size_t newline = buffer_.find('\n', start_);
    if (newline != std::string::npos) {
      line.assign(buffer_, start_, newline - start_);
      start_ = newline + 1;
      return Next::kLine;
    }
    if (!fill()) break;
  }
  if (stopped_) return Next::kStopped;
  if (error_ != 0) return Next::kError;
  if (start_ < buffer_.size()) {
    line.assign(buffer_, start_, std::string::npos);
    start_ = buffer_.size();
    return Next::kLine;
  }
  return Next::kEnd;
}

}  // namespace fetchpool::cli
