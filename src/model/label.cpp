#include "model/label.hpp"

#include <mutex>
#include <unordered_set>

namespace moesim::model {

namespace {

// Node-based: an element's address survives rehashing, so labels may keep pointers into it. Never shrinks.
const std::string* intern(std::string text) {
  static std::mutex guard;
  static std::unordered_set<std::string> pool;
  const std::lock_guard<std::mutex> lock(guard);
  return &*pool.insert(std::move(text)).first;
}

}  // namespace

Label::Label() : text_(intern({})) {}
Label::Label(const std::string& text) : text_(intern(text)) {}
Label::Label(const char* text) : text_(intern(text)) {}

}  // namespace moesim::model
