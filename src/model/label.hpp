#pragma once
// An interned string for op names and phases. They repeat across ranks, layers' micro-batches and steps (a 6144-NPU
// step has ~6 M ops but a few thousand distinct names), so each distinct text is stored once and an op keeps a
// pointer: 8 bytes instead of a 32-byte std::string plus a heap copy of longer names. Converts to
// `const std::string&`; compares with strings by text and with other labels by identity (same text, same pointer).
#include <cstddef>
#include <ostream>
#include <string>

namespace moesim::model {

class Label {
 public:
  Label();
  Label(const std::string& text);  // NOLINT(google-explicit-constructor): ops are built from strings everywhere
  Label(const char* text);         // NOLINT(google-explicit-constructor)
  const std::string& str() const { return *text_; }
  operator const std::string&() const { return *text_; }  // NOLINT(google-explicit-constructor)
  const char* c_str() const { return text_->c_str(); }
  bool empty() const { return text_->empty(); }
  char operator[](std::size_t i) const { return (*text_)[i]; }
  std::size_t size() const { return text_->size(); }
  std::size_t find(const std::string& s, std::size_t pos = 0) const { return text_->find(s, pos); }
  std::size_t rfind(const std::string& s, std::size_t pos = std::string::npos) const { return text_->rfind(s, pos); }
  std::size_t find(char c, std::size_t pos = 0) const { return text_->find(c, pos); }
  std::size_t rfind(char c, std::size_t pos = std::string::npos) const { return text_->rfind(c, pos); }
  std::size_t find(const char* s, std::size_t pos = 0) const { return text_->find(s, pos); }
  int compare(std::size_t pos, std::size_t n, const std::string& s) const { return text_->compare(pos, n, s); }
  std::string substr(std::size_t pos, std::size_t n = std::string::npos) const { return text_->substr(pos, n); }
  bool operator==(const Label& other) const { return text_ == other.text_; }
  bool operator!=(const Label& other) const { return text_ != other.text_; }

 private:
  const std::string* text_;
};

inline bool operator==(const Label& a, const std::string& b) { return a.str() == b; }
inline bool operator==(const std::string& a, const Label& b) { return a == b.str(); }
inline bool operator==(const Label& a, const char* b) { return a.str() == b; }
inline bool operator==(const char* a, const Label& b) { return b.str() == a; }
inline bool operator!=(const Label& a, const std::string& b) { return !(a == b); }
inline bool operator!=(const std::string& a, const Label& b) { return !(a == b); }
inline bool operator!=(const Label& a, const char* b) { return !(a == b); }
inline bool operator!=(const char* a, const Label& b) { return !(a == b); }
inline bool operator<(const Label& a, const Label& b) { return a.str() < b.str(); }
inline std::string operator+(const Label& a, const std::string& b) { return a.str() + b; }
inline std::string operator+(const std::string& a, const Label& b) { return a + b.str(); }
inline std::string operator+(const Label& a, const char* b) { return a.str() + b; }
inline std::string operator+(const char* a, const Label& b) { return a + b.str(); }
inline std::ostream& operator<<(std::ostream& out, const Label& label) { return out << label.str(); }

}  // namespace moesim::model
