// Header-only interface (as body_writer.hpp): checked in each includer.
#pragma once
#include "fetchpool/low.hpp"
struct Writer {
  virtual ~Writer() = default;
};
