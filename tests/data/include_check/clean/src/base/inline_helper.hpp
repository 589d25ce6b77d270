// Header-only helper of the base layer.
#pragma once
inline int twice(int v) { return 2 * v; }
