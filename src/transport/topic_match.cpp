#include "transport/topic_match.hpp"

namespace cg::transport {

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() && (filter.front() == '+' || filter.front() == '#'))
    return false;
  std::size_t f = 0, t = 0;
  while (true) {
    auto fe = filter.find('/', f);
    auto flevel = filter.substr(f, fe == std::string_view::npos ? std::string_view::npos : fe - f);
    if (flevel == "#") return true;
    if (t > topic.size()) return false;
    auto te = topic.find('/', t);
    auto tlevel = topic.substr(t, te == std::string_view::npos ? std::string_view::npos : te - t);
    if (flevel != "+" && flevel != tlevel) return false;
    bool flast = fe == std::string_view::npos;
    bool tlast = te == std::string_view::npos;
    if (flast && tlast) return true;
    if (tlast) {
      // "a/#" matches "a": the remaining filter must be exactly "/#"
      return filter.substr(fe + 1) == "#";
    }
    if (flast) return false;
    f = fe + 1;
    t = te + 1;
  }
}

}  // namespace cg::transport
