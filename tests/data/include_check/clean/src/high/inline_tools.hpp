// Header-only, in the high layer.
#pragma once
#include "fetchpool/base.hpp"
inline int high_inline() { return base_value(); }
