#pragma once
// One accelerator type: peak compute, memory, per-operator-class efficiencies, launch overhead. Chip-level facts
// only, read from a device file (topologies/devices/*.json, referenced by a topology's "device_file") or from a
// topology's inline "device" block, so that every topology using a chip (training and inference alike) shares one
// set of factors. Schema: docs/schema-topology.md. All values are stored in SI units (bytes, bytes/s, s, flop/s).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "config/common_types.hpp"
#include "config/json_reader.hpp"

namespace moesim::config {

// Rank ids are int; larger clusters would overflow them (and are far beyond any Ascend deployment).
inline constexpr std::int64_t kMaxRanks = 1 << 24;

struct OpClassEfficiency {
  SourcedValue compute;  // fraction of peak FLOPS reached by this operator class
  SourcedValue memory;   // fraction of HBM bandwidth reached by this operator class
  // Optional: fraction of the INT8 peak reached when the op runs in INT8 (W8A8 GEMMs); absent = `compute`.
  std::optional<SourcedValue> compute_int8;
  const SourcedValue& compute_for(Dtype dtype) const {
    return dtype == Dtype::INT8 && compute_int8 ? *compute_int8 : compute;
  }
};

struct DeviceSpec {
  std::string name;
  std::string description;
  int ranks_per_device = 1;                                 // dies that act as separate ranks (910C: 2)
  std::map<Dtype, SourcedValue> peak_flops;                 // per rank, flop/s, dense
  SourcedValue memory_bytes;                                // per rank
  SourcedValue memory_bandwidth_bytes_per_s;                // per rank
  std::array<OpClassEfficiency, kOpClassCount> efficiency;  // indexed by OpClass; optional classes absent = 0
  SourcedValue launch_overhead_s;                           // fixed cost per operator launch
  SourcedValue host_link_bandwidth_bytes_per_s;             // device <-> host memory (swap, offload), per rank
  // `mfu_peak_tflops`: the dense fp16/bf16 peak that published MFU figures for this device are quoted against,
  // when it differs from peak_tflops (the roofline's); absent: MFU uses the bf16 peak. Per rank, flop/s.
  std::optional<SourcedValue> mfu_peak_flops;
  double mfu_peak() const;           // mfu_peak_flops, else peak(BF16)
  double peak(Dtype dtype) const;    // falls back fp16<->bf16; throws std::invalid_argument if missing
  bool has_peak(Dtype dtype) const;  // true when peak(dtype) would not throw
  // True when the file gives this class (always for kAllOpClasses; kOptionalOpClasses only when listed).
  bool has_efficiency(OpClass op_class) const;
};

// Reads one device object (an inline "device" block or the root of a device file); issues go to the reader's
// collector with their JSON pointers, and reading goes on after a problem.
DeviceSpec read_device(ObjectReader reader);

// Reads and validates a device file; throws ConfigError naming the file and the JSON pointer of every issue.
DeviceSpec load_device(const std::string& path);

}  // namespace moesim::config
