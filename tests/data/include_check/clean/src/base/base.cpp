#include "fetchpool/base.hpp"

#include "base/inline_helper.hpp"

int base_value() { return twice(21); }
