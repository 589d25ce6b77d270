#include "fetchpool/base.hpp"

#include "base/inline_helper.hpp"
#include "low/low_extra.hpp"
#include "fetchpool/writer.hpp"

int base_value() { return twice(21) + low_extra(); }
