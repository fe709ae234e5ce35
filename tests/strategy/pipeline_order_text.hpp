#pragma once
// A stage order as text, for hand-written expected orders: "f0" forward of chunk 0, "b1" whole backward, "B1" its
// input gradient only, "w0" weight gradient; "*" = overlapped with the next task (Pairing::WithNext).
#include <string>
#include <vector>

#include "strategy/pipeline_schedule.hpp"

namespace moesim::test {

inline std::string order_text(const std::vector<strategy::PipelineTask>& order) {
  using strategy::BackwardPart;
  std::string out;
  for (const auto& t : order) {
    if (!out.empty()) out += ' ';
    out += t.forward ? 'f' : t.part == BackwardPart::Whole ? 'b' : t.part == BackwardPart::Input ? 'B' : 'w';
    out += std::to_string(t.chunk);
    if (t.pairing == strategy::Pairing::WithNext) out += '*';
  }
  return out;
}

}  // namespace moesim::test
