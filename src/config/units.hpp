#pragma once
// Conversions between the units in JSON key names and the SI units stored in the structs.
#include <cstdint>

namespace moesim::config::units {

inline constexpr double kGigabyte = 1e9;           // GB (bandwidths: GB/s)
inline constexpr double kGibibyte = 1073741824.0;  // GiB (memory capacities)
inline constexpr double kTera = 1e12;              // TFLOPS
inline constexpr double kMicrosecond = 1e-6;       // us
inline constexpr double kMillisecond = 1e-3;       // ms

}  // namespace moesim::config::units
