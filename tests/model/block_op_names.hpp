#pragma once
// The names of an op list, in order, for the model-layer tests that compare lists.
#include <string>
#include <vector>

#include "model/training_blocks.hpp"

namespace moesim::test {

inline std::vector<std::string> names(const std::vector<model::BlockOp>& ops) {
  std::vector<std::string> out;
  for (const auto& op : ops) out.push_back(op.name);
  return out;
}

}  // namespace moesim::test
