#include "low/low_extra.hpp"

int low_extra() { return 1; }
