#pragma once
// Small enums shared by every layer, with their JSON spellings.
#include <optional>
#include <string>
#include <vector>

namespace moesim::config {

enum class Dtype { FP32, FP16, BF16, INT8 };
inline constexpr Dtype kAllDtypes[] = {Dtype::FP32, Dtype::FP16, Dtype::BF16, Dtype::INT8};
std::string to_string(Dtype dtype);
std::optional<Dtype> parse_dtype(const std::string& text);
std::vector<std::string> dtype_names();
double bytes_per_element(Dtype dtype);

// Operator classes of the roofline cost model; each has compute and memory efficiencies in the hardware file.
// The four of kAllOpClasses are required in every topology file; the fused-kernel classes (alternative cost models
// of attention and grouped matmul chosen by the mul_attention / swift_gmm inference strategies) are optional.
enum class OpClass { Matmul, GroupedMatmul, Attention, Vector, FusedAttention, FusedGroupedMatmul };
inline constexpr OpClass kAllOpClasses[] = {OpClass::Matmul, OpClass::GroupedMatmul, OpClass::Attention,
                                            OpClass::Vector};
inline constexpr OpClass kOptionalOpClasses[] = {OpClass::FusedAttention, OpClass::FusedGroupedMatmul};
inline constexpr int kOpClassCount = 6;
std::string to_string(OpClass op_class);
std::optional<OpClass> parse_op_class(const std::string& text);

}  // namespace moesim::config
