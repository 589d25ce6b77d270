// Whether this test program runs under ThreadSanitizer or AddressSanitizer.
//
// Sanitized code runs 5-20 times slower and 200 threads under TSan are CPU
// bound, so an upper bound on wall time ("finishes in about the ideal
// time") says nothing there. Tests keep every correctness check and every
// lower bound (a politeness delay must still be waited) in all builds, and
// check upper bounds on time only when kSanitized is false; the Release run
// in CI checks them.
#pragma once

namespace fetchpool::testing {
#ifdef FETCHPOOL_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
}  // namespace fetchpool::testing
