#include "fetchpool/low.hpp"

#include "fetchpool/base.hpp"
#include "high/high.hpp"
#include "high/inline_tools.hpp"

int low_value() { return base_value() + high_value(); }
