// <immintrin.h> for the zen5 kernels, included once through here.
#pragma once

// GCC 12 reports its own _mm512_undefined_* helpers as uninitialised once inlined (GCC bug
// 105593, fixed in 12.3); the location is inside the intrinsics header, so silence it there only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
