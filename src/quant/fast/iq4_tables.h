// Bucket tables for the nearest IQ4_NL level of v in [-128, 127] with two
// table lookups: bucket b = floor((v + 128) / 8) holds at most one midpoint
// between neighbouring levels (they are >= 23 apart in 2v, a bucket spans 16),
// so level = kIq4Base[b] + (2v >= kIq4Threshold[b]). Same answer as
// ref::Iq4Levels::index (ties go up).
#pragma once

#include <array>

#include "quant/blocks.h"

namespace lowbit::quant::fast {

struct Iq4BucketTables {
  std::array<float, 32> base{}, threshold{};
};

constexpr Iq4BucketTables make_iq4_bucket_tables() {
  Iq4BucketTables t{};
  for (int b = 0; b < 32; ++b) {
    const int lo2 = 2 * (-128 + 8 * b);  // 2v at the bucket's lower edge
    int base = 0;
    float thr = 1e9f;
    for (int k = 0; k < 15; ++k) {
      const int m = kvalues_iq4nl[k] + kvalues_iq4nl[k + 1];
      if (m <= lo2) ++base;
      else if (m < lo2 + 16) thr = float(m);
    }
    t.base[b] = float(base);
    t.threshold[b] = thr;
  }
  return t;
}
inline constexpr Iq4BucketTables kIq4Buckets = make_iq4_bucket_tables();

}  // namespace lowbit::quant::fast
