#include "fetchpool/low.hpp"

#include "fetchpool/base.hpp"

int low_value() { return base_value() + 1; }
