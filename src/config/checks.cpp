#include "config/checks.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "config/config.hpp"

namespace cg::config {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

// "0".."65535" without sign or leading '+'; nullopt otherwise.
std::optional<std::uint32_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return v;
}

std::optional<std::string> check_charset(std::string_view v, std::size_t max_len, std::string_view extra,
                                         std::string_view extra_doc) {
  if (v.empty() || v.size() > max_len) {
    return fmt::format("must be 1 to {} characters long, got {}", max_len, v.size());
  }
  for (char c : v) {
    if (is_alpha(c) || is_digit(c) || extra.find(c) != std::string_view::npos) continue;
    return fmt::format("may contain only letters, digits and {}; got '{}'", extra_doc, v);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string* why) {
  auto bad = [&](std::string msg) -> std::optional<ListenAddress> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  if (has_space_or_control(text)) return bad(fmt::format("'{}' contains whitespace", text));
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return bad(fmt::format("'{}': missing ']' after IPv6 address", text));
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return bad(fmt::format("'{}' is not HOST:PORT (missing ':PORT')", text));
    port = text.substr(close + 2);
    if (host.empty()) return bad(fmt::format("'{}': empty IPv6 address", text));
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad(fmt::format("'{}' is not HOST:PORT (missing ':PORT')", text));
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return bad(fmt::format("'{}': an IPv6 address must be in brackets, e.g. [::1]:8080", text));
    if (host.empty()) return bad(fmt::format("'{}' has no host (0.0.0.0 listens on every interface)", text));
  }
  auto p = parse_port(port);
  if (!p) return bad(fmt::format("'{}': port must be a number from 0 to 65535", text));
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(*p)};
}

namespace checks {

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
}

std::optional<std::string> expand_env(std::string_view text, const EnvLookup& env,
                                      std::vector<std::string>& errors) {
  std::string out;
  out.reserve(text.size());
  const std::size_t errors_before = errors.size();
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.push_back(c);
      ++i;
      continue;
    }
    char next = text[i + 1];
    if (next == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    if (next != '{') {
      out.push_back('$');  // a lone '$' is literal text
      ++i;
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      errors.push_back(fmt::format("unterminated '${{' in '{}' (write '$$' for a literal '$')", text));
      break;
    }
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::string_view name = inner;
    std::optional<std::string_view> fallback;
    if (auto sep = inner.find(":-"); sep != std::string_view::npos) {
      name = inner.substr(0, sep);
      fallback = inner.substr(sep + 2);
    }
    bool name_ok = !name.empty() && !is_digit(name.front()) &&
                   std::all_of(name.begin(), name.end(), [](char ch) { return is_alpha(ch) || is_digit(ch) || ch == '_'; });
    if (!name_ok) {
      errors.push_back(fmt::format("invalid environment variable name '{}' in '${{{}}}'", name, inner));
    } else {
      auto value = env(std::string(name));
      if (value && !(fallback && value->empty())) {
        out += *value;
      } else if (fallback) {
        out += *fallback;
      } else {
        errors.push_back(fmt::format(
            "environment variable '{}' is not set (write '${{{}:-default}}' to give a default)", name, name));
      }
    }
    i = close + 1;
  }
  if (errors.size() != errors_before) return std::nullopt;
  return out;
}

std::optional<std::string> check_id(std::string_view v) { return check_charset(v, 64, "._-", "'.', '_', '-'"); }

std::optional<std::string> check_device_id(std::string_view v) {
  return check_charset(v, 128, "._:-", "'.', '_', ':', '-'");
}

std::optional<std::string> check_url(std::string_view v, std::span<const std::string_view> schemes) {
  std::string allowed;
  for (auto s : schemes) allowed += (allowed.empty() ? "" : ", ") + std::string(s);
  if (has_space_or_control(v)) return fmt::format("'{}' is not a valid URL (contains whitespace)", v);
  auto sep = v.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return fmt::format("'{}' is not a URL; expected SCHEME://HOST[:PORT][/PATH] with scheme {}", v, allowed);
  std::string_view scheme = v.substr(0, sep);
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end())
    return fmt::format("URL scheme '{}' is not allowed here (allowed: {})", scheme, allowed);
  std::string_view rest = v.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return fmt::format("'{}' embeds credentials; put them in a file (username/password_file, bearer_token_file)", v);
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fmt::format("'{}': missing ']' after IPv6 address", v);
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fmt::format("'{}' has text after the IPv6 address", v);
      has_port = true;
      port = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
  }
  if (host.empty()) return fmt::format("'{}' has no host", v);
  if (has_port) {
    auto p = parse_port(port);
    if (!p || *p == 0) return fmt::format("'{}': port must be a number from 1 to 65535", v);
  }
  return std::nullopt;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string_view> did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
  std::optional<std::string_view> best;
  std::size_t best_d = 0;
  for (auto c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (!best || d < best_d) {
      best = c;
      best_d = d;
    }
  }
  // Close enough to be a typo: one edit for short words, up to three for long ones.
  std::size_t limit = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  if (best && best_d <= limit) return best;
  return std::nullopt;
}

}  // namespace checks
}  // namespace cg::config
