#include "high/high.hpp"

#include "base/inline_helper.hpp"
#include "fetchpool/base.hpp"
#include "fetchpool/writer.hpp"
#include "high/inline_tools.hpp"
#include "low/low_extra.hpp"

int high_value() { return twice(low_extra()) + high_inline(); }
