#include "common.hpp"

#include <cctype>
#include <cstdlib>
#include <sstream>
#include <string>

namespace vggdeploy {

// ---- minimal JSON ------------------------------------------------------------------------------
namespace {
struct JsonParser {
  const std::string& s;
  const std::string& source;
  size_t i = 0;
  CliError fail(const std::string& why) const {
    return CliError("'" + source + "' is not valid JSON (" + why + " at byte " + std::to_string(i) + ")",
                    kArtifact, "the sidecar is corrupt; rebuild the engine with `vggdeploy build-engine`");
  }
  void ws() { while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i; }
  bool eat(char c) { ws(); if (i < s.size() && s[i] == c) { ++i; return true; } return false; }
  Json value(int depth) {
    if (depth > 64) throw fail("nesting too deep");
    ws();
    if (i >= s.size()) throw fail("unexpected end");
    Json v;
    const char c = s[i];
    if (c == '{') {
      ++i; v.kind = Json::Object;
      if (eat('}')) return v;
      do {
        ws();
        if (i >= s.size() || s[i] != '"') throw fail("expected a key");
        std::string key = string();
        if (!eat(':')) throw fail("expected ':'");
        v.obj[key] = value(depth + 1);
      } while (eat(','));
      if (!eat('}')) throw fail("expected '}'");
    } else if (c == '[') {
      ++i; v.kind = Json::Array;
      if (eat(']')) return v;
      do { v.arr.push_back(value(depth + 1)); } while (eat(','));
      if (!eat(']')) throw fail("expected ']'");
    } else if (c == '"') {
      v.kind = Json::String; v.str = string();
    } else if (s.compare(i, 4, "true") == 0) { v.kind = Json::Bool; v.b = true; i += 4;
    } else if (s.compare(i, 5, "false") == 0) { v.kind = Json::Bool; i += 5;
    } else if (s.compare(i, 4, "null") == 0) { i += 4;
    } else {
      size_t used = 0;
      try { v.num = std::stod(s.substr(i, 64), &used); } catch (const std::exception&) { throw fail("bad value"); }
      v.kind = Json::Number; i += used;
    }
    return v;
  }
  std::string string() {
    std::string out;
    ++i;  // opening quote
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\') {
        if (++i >= s.size()) break;
        const char e = s[i];
        if (e == 'u') {  // keep ASCII escapes, replace others: sidecar keys we read are ASCII
          if (i + 4 >= s.size()) throw fail("bad \\u escape");
          const long cp = std::strtol(s.substr(i + 1, 4).c_str(), nullptr, 16);
          out.push_back(cp < 128 ? static_cast<char>(cp) : '?');
          i += 4;
        } else {
          static const std::string from = "\"\\/bfnrt", to = "\"\\/\b\f\n\r\t";
          auto p = from.find(e);
          if (p == std::string::npos) throw fail("bad escape");
          out.push_back(to[p]);
        }
        ++i;
      } else {
        out.push_back(s[i++]);
      }
    }
    if (i >= s.size()) throw fail("unterminated string");
    ++i;
    return out;
  }
};
}  // namespace

Json parse_json(const std::string& text, const std::string& source) {
  JsonParser p{text, source};
  Json v = p.value(0);
  p.ws();
  if (p.i != text.size()) throw p.fail("trailing data");
  return v;
}

const Json* Json::find(const std::string& dotted) const {
  const Json* cur = this;
  std::stringstream ss(dotted);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (cur->kind != Object) return nullptr;
    auto it = cur->obj.find(part);
    if (it == cur->obj.end()) return nullptr;
    cur = &it->second;
  }
  return cur;
}

}  // namespace vggdeploy
