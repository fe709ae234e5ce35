// Strict reader for device files (topologies/devices/*.json) and inline "device" blocks (docs/schema-topology.md).
#include "config/device_config.hpp"

#include <stdexcept>

#include "config/units.hpp"

namespace moesim::config {

namespace {

using namespace units;  // kGigabyte, kGibibyte, kTera, kMicrosecond

SourcedValue scaled(SourcedValue value, double factor) {
  value.value *= factor;
  return value;
}

void read_peaks(ObjectReader reader, DeviceSpec& device) {
  if (!reader.valid()) return;
  for (Dtype dtype : kAllDtypes) {
    if (auto peak = reader.optional_sourced(to_string(dtype))) device.peak_flops[dtype] = scaled(*peak, kTera);
  }
  if (!reader.has("fp16") && !reader.has("bf16")) {
    reader.issues().error(reader.pointer(),
                          "expected a peak for \"fp16\" or \"bf16\" (the roofline needs a half-precision peak)");
  }
  reader.finish();  // rejects dtypes other than fp32, fp16, bf16, int8
}

OpClassEfficiency read_class(ObjectReader entry) {
  OpClassEfficiency efficiency;
  efficiency.compute = entry.sourced("compute", Range::Fraction);
  efficiency.memory = entry.sourced("memory", Range::Fraction);
  efficiency.compute_int8 = entry.optional_sourced("compute_int8", Range::Fraction);
  entry.finish();
  return efficiency;
}

void read_efficiency(ObjectReader reader, DeviceSpec& device) {
  if (!reader.valid()) return;
  for (OpClass op_class : kAllOpClasses) {
    device.efficiency[static_cast<int>(op_class)] = read_class(reader.object(to_string(op_class)));
  }
  for (OpClass op_class : kOptionalOpClasses) {
    if (auto entry = reader.optional_object(to_string(op_class))) {
      device.efficiency[static_cast<int>(op_class)] = read_class(*entry);
    }
  }
  reader.finish();  // rejects op classes other than those of common_types.hpp
}

}  // namespace

DeviceSpec read_device(ObjectReader reader) {
  DeviceSpec device;
  if (!reader.valid()) return device;
  device.name = reader.string("name");
  device.description = reader.optional_string("description").value_or("");
  const auto ranks_per_device = reader.integer("ranks_per_device");
  if (ranks_per_device > kMaxRanks) {
    reader.issues().error(reader.child("ranks_per_device"), "expected at most " + std::to_string(kMaxRanks));
  }
  device.ranks_per_device = ranks_per_device > kMaxRanks ? 0 : static_cast<int>(ranks_per_device);
  read_peaks(reader.object("peak_tflops"), device);
  device.memory_bytes = scaled(reader.sourced("memory_gib"), kGibibyte);
  device.memory_bandwidth_bytes_per_s = scaled(reader.sourced("memory_bandwidth_gb_per_s"), kGigabyte);
  device.launch_overhead_s = scaled(reader.sourced("launch_overhead_us", Range::NonNegative), kMicrosecond);
  device.host_link_bandwidth_bytes_per_s = scaled(reader.sourced("host_link_bandwidth_gb_per_s"), kGigabyte);
  if (auto mfu_peak = reader.optional_sourced("mfu_peak_tflops")) device.mfu_peak_flops = scaled(*mfu_peak, kTera);
  read_efficiency(reader.object("efficiency"), device);
  reader.finish();
  return device;
}

DeviceSpec load_device(const std::string& path) {
  IssueCollector issues(path);
  const auto document = load_json_file(path, issues);
  issues.throw_if_any();
  DeviceSpec device = read_device(ObjectReader(*document, "", issues));
  issues.throw_if_any();
  return device;
}

double DeviceSpec::mfu_peak() const { return mfu_peak_flops ? mfu_peak_flops->value : peak(Dtype::BF16); }

double DeviceSpec::peak(Dtype dtype) const {
  auto it = peak_flops.find(dtype);
  if (it == peak_flops.end() && dtype == Dtype::FP16) it = peak_flops.find(Dtype::BF16);
  if (it == peak_flops.end() && dtype == Dtype::BF16) it = peak_flops.find(Dtype::FP16);
  if (it != peak_flops.end()) return it->second.value;
  std::string listed;
  for (const auto& entry : peak_flops) listed += (listed.empty() ? "" : ", ") + to_string(entry.first);
  throw std::invalid_argument("device \"" + name + "\" has no " + to_string(dtype) +
                              " peak (peak_tflops lists: " + (listed.empty() ? std::string("none") : listed) + ")");
}

bool DeviceSpec::has_efficiency(OpClass op_class) const {
  const auto& entry = efficiency[static_cast<std::size_t>(op_class)];
  return entry.compute.value > 0.0 && entry.memory.value > 0.0;
}

bool DeviceSpec::has_peak(Dtype dtype) const {
  if (peak_flops.count(dtype) != 0) return true;
  if (dtype == Dtype::FP16) return peak_flops.count(Dtype::BF16) != 0;
  if (dtype == Dtype::BF16) return peak_flops.count(Dtype::FP16) != 0;
  return false;
}

}  // namespace moesim::config
