// Private to the robots component: the path normalisation and the wildcard
// matcher behind RobotsRules::allowed. Tests include it to check the
// normalisation table and to bound the matcher's cost on hostile patterns.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace fetchpool::detail {

// RFC 9309 2.2.2 comparison form, applied alike to Allow/Disallow values and
// to request paths, so that equal resources compare equal octet by octet:
// octets outside US-ASCII or not allowed in a URI (controls, space, "<>\"{}|\^`")
// are %-encoded; %-escapes get upper-case hex; escapes of unreserved
// characters (ALPHA DIGIT - . _ ~) are decoded; a '%' that starts no escape
// becomes "%25". Reserved characters, '*' and '$' are left as they are, so
// "%2F" stays distinct from "/" and "%2A" never becomes a wildcard.
std::string normalize_robots_path(std::string_view text);

// One compiled Allow/Disallow pattern: matched from the start of the path;
// '*' matches any run of octets, a final '$' matches the end of the path, and
// every other octet (including a '$' elsewhere) matches itself.
//
// Why not google/robotstxt's positions array: that costs O(path x pattern) on
// every query. Since '*' is the only wildcard, placing each literal segment
// between stars at its leftmost occurrence is optimal, and finding it with
// Knuth-Morris-Pratt (failure tables built once, here) keeps a query within
// O(path + pattern) octet comparisons whatever the pattern.
class RobotsPattern {
 public:
  // `normalized` is a value already passed through normalize_robots_path.
  explicit RobotsPattern(std::string_view normalized);

  // `path` must be normalised too. If `steps` is not null, the number of octet
  // comparisons made is added to it (tests use it to bound the cost).
  bool matches(std::string_view path, std::size_t* steps = nullptr) const;

  // Octets in the normalised pattern, '*' and '$' included: the match
  // priority of RFC 9309 2.2.2 ("the most octets").
  std::size_t length() const noexcept { return length_; }

 private:
  struct Segment {
    std::string text;
    std::vector<std::size_t> failure;  // KMP: longest proper border of text[0..i]
  };
  static std::size_t find(std::string_view path, std::size_t from, const Segment& segment, std::size_t& steps);

  std::vector<Segment> segments_;  // text between stars; at least one, maybe empty
  std::size_t length_ = 0;
  bool anchored_end_ = false;
};

}  // namespace fetchpool::detail
