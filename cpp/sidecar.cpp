// The engine sidecar reader (nlohmann::json), SHA-256 (OpenSSL) and the engine-compatibility
// policy for vgg_trt. Declared in common.hpp; needs no TensorRT, so vgg_common_selftest runs it.
//
// The compatibility policy is the one in vggdeploy/backends/tensorrt/compat.py, which is NVIDIA's:
//   https://docs.nvidia.com/deeplearning/tensorrt/11.1.0/inference-library/engine-compatibility.html
//   (version compatibility, hardware compatibility) and HardwareCompatibilityLevel in NvInfer.h.
// * not version-compatible: only the TensorRT version that built the plan (major.minor.patch, and
//   the build number where both sides know it);
// * version-compatible (TensorRT >= 8.6): the same or any later TensorRT, including the next major
//   ("engines built with TensorRT 10 work with TensorRT 11"), never an earlier one;
// * hardware level none: same compute capability (another GPU model of it loads with a warning);
//   ampere+: any GPU of compute capability >= 8.0, plan built on one; same-cc: the build GPU's
//   compute capability, plan built on Turing (7.5) or later.
// Both implementations run vggdeploy/backends/tensorrt/compat_cases.json in CI.
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <iostream>

#include "common.hpp"

namespace vggdeploy {

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw CliError("OpenSSL could not compute a SHA-256 digest", 1);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xf]);
  }
  return out;
}

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw CliError("'" + source + "' is not readable JSON (" + e.what() + ")", kArtifact,
                   "the file is corrupt or truncated; rebuild it with `vggdeploy build-engine`");
  }
}

EngineSidecar read_sidecar(const std::string& path) {
  const std::string rebuild = "rebuild the engine with `vggdeploy build-engine MODEL.onnx -o ENGINE`";
  std::string text;
  try {
    text = read_file(path);
  } catch (const CliError&) {
    throw CliError("engine sidecar not found: '" + path + "'", kArtifact,
                   "`vggdeploy build-engine` writes NAME.engine.json next to the plan; pass it with "
                   "--sidecar, or " + rebuild);
  }
  const nlohmann::json root = parse_json(text, path);
  auto bad = [&](const std::string& why) {
    return CliError("engine sidecar '" + path + "': " + why, kArtifact, rebuild);
  };
  // `section.key` of the schema, of JSON type `kind`; a missing or mistyped key is an error.
  auto at = [&](const char* section, const char* key, nlohmann::json::value_t kind,
                const char* type_name) -> const nlohmann::json& {
    const std::string where = section ? std::string(section) + "." + key : std::string(key);
    const nlohmann::json* parent = &root;
    if (section) {
      auto s = root.find(section);
      if (s == root.end() || !s->is_object()) throw bad("missing section '" + std::string(section) + "'");
      parent = &*s;
    }
    auto v = parent->find(key);
    if (v == parent->end()) throw bad("'" + where + "' is missing");
    const bool ok = v->type() == kind ||
                    (kind == nlohmann::json::value_t::number_integer && v->is_number_unsigned());
    if (!ok) throw bad("'" + where + "' must be " + type_name + ", got " + v->dump());
    return *v;
  };
  using vt = nlohmann::json::value_t;
  if (!root.is_object()) throw bad("the document is not a JSON object");
  const auto& format = at(nullptr, "format", vt::string, "a string");
  if (format.get<std::string>() != kSidecarFormat)
    throw bad("'format' is " + format.dump() + ", expected \"" + kSidecarFormat + "\"");
  const auto& version = at(nullptr, "version", vt::number_integer, "an integer");
  if (version.get<int64_t>() < 1 || version.get<int64_t>() > kSidecarVersion)
    throw bad("schema version " + version.dump() + " is not supported (this vgg_trt reads versions 1.." +
              std::to_string(kSidecarVersion) + "); it was written by another vggdeploy release");

  EngineSidecar s;
  s.path = path;
  s.engine_sha256 = at("engine", "sha256", vt::string, "a string").get<std::string>();
  if (s.engine_sha256.size() != 64 ||
      !std::all_of(s.engine_sha256.begin(), s.engine_sha256.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); }))
    throw bad("'engine.sha256' is not a lower-case hex SHA-256 digest");
  const auto& size = at("engine", "size", vt::number_integer, "an integer");
  if (size.is_number_unsigned() && size.get<uint64_t>() > uint64_t(INT64_MAX))
    throw bad("'engine.size' " + size.dump() + " is beyond any file size");
  s.engine_size = size.get<int64_t>();
  if (s.engine_size < 0) throw bad("'engine.size' is negative");
  s.trt_version = at("tensorrt", "version", vt::string, "a string").get<std::string>();
  if (version_numbers(s.trt_version).size() < 3)
    throw bad("'tensorrt.version' is \"" + s.trt_version + "\", expected MAJOR.MINOR.PATCH[.BUILD]");
  s.version_compatible = at("tensorrt", "version_compatible", vt::boolean, "true or false").get<bool>();
  s.hardware_compat = at("tensorrt", "hardware_compat", vt::string, "a string").get<std::string>();
  if (s.hardware_compat != "none" && s.hardware_compat != "ampere+" && s.hardware_compat != "same-cc")
    throw bad("'tensorrt.hardware_compat' is \"" + s.hardware_compat + "\", expected one of none, ampere+, same-cc");
  s.gpu = at("device", "name", vt::string, "a string").get<std::string>();
  const auto& cc = at("device", "compute_capability", vt::array, "[major, minor]");
  if (cc.size() != 2 || !cc[0].is_number_integer() || !cc[1].is_number_integer())
    throw bad("'device.compute_capability' must be [major, minor], got " + cc.dump());
  for (const auto& part : cc) {  // get<int>() would wrap a number beyond int
    const bool in_range = part.is_number_unsigned()
                              ? part.get<uint64_t>() <= 1000
                              : part.get<int64_t>() >= 0 && part.get<int64_t>() <= 1000;
    if (!in_range)
      throw bad("'device.compute_capability' " + cc.dump() + " is not a compute capability");
  }
  s.compute_capability = {cc[0].get<int>(), cc[1].get<int>()};
  return s;
}

// ---- compatibility ---------------------------------------------------------------------------

std::vector<int> version_numbers(const std::string& version) {
  std::vector<int> parts;
  size_t i = 0;
  while (i < version.size()) {
    size_t j = i;
    while (j < version.size() && std::isdigit(static_cast<unsigned char>(version[j]))) ++j;
    if (j == i) break;  // not a number: a suffix such as "rc1" ends the version
    int part = 0;  // from_chars: an out-of-range number ends the version like a suffix does
    if (std::from_chars(version.data() + i, version.data() + j, part).ec != std::errc()) break;
    parts.push_back(part);
    if (j < version.size() && version[j] != '.') break;
    i = j + 1;
  }
  return parts;
}

namespace {

using Cc = std::pair<int, int>;
constexpr Cc kAmpere{8, 0};
constexpr Cc kTuring{7, 5};

// Both versions cut to the components both know (at least major.minor.patch, 0-padded).
std::pair<std::vector<int>, std::vector<int>> common_prefix(const std::string& a, const std::string& b) {
  std::vector<int> va = version_numbers(a), vb = version_numbers(b);
  const size_t n = std::max<size_t>(3, std::min(va.size(), vb.size()));
  va.resize(n, 0);
  vb.resize(n, 0);
  return {va, vb};
}

}  // namespace

Verdict judge_version(const std::string& built, bool version_compatible, const std::string& runtime) {
  const auto [b, r] = common_prefix(built, runtime);
  if (version_compatible) {
    std::vector<int> major_minor = version_numbers(built);
    major_minor.resize(2, 0);
    if (major_minor < std::vector<int>{8, 6}) return {"refuse", "version-compatible-needs-8.6"};
    if (r < b) return {"refuse", "runtime-older-than-builder"};
  } else if (r != b) {
    return {"refuse", "version-mismatch"};
  }
  return {"accept", "ok"};
}

Verdict judge_hardware(const std::string& level, const std::string& built_gpu, Cc built_cc,
                       const std::string& runtime_gpu, Cc runtime_cc) {
  if (level == "ampere+") {
    if (built_cc < kAmpere) return {"refuse", "ampere-plus-built-before-ampere"};
    if (runtime_cc < kAmpere) return {"refuse", "gpu-older-than-ampere"};
    return {"accept", "ok"};
  }
  if (level == "same-cc" && built_cc < kTuring) return {"refuse", "same-cc-built-before-turing"};
  if (runtime_cc != built_cc) return {"refuse", "compute-capability-mismatch"};
  if (level == "none" && runtime_gpu != built_gpu) return {"warn", "other-gpu-model"};
  return {"accept", "ok"};
}

Verdict judge(const EngineSidecar& built, const std::string& runtime_version,
              const std::string& runtime_gpu, Cc runtime_cc) {
  Verdict v = judge_version(built.trt_version, built.version_compatible, runtime_version);
  if (v.decision == "refuse") return v;
  return judge_hardware(built.hardware_compat, built.gpu, built.compute_capability, runtime_gpu,
                        runtime_cc);
}

void check_plan_integrity(const std::string& plan_path, const EngineSidecar& sidecar,
                          const std::string& plan) {
  const std::string rebuild = "rebuild both with `vggdeploy build-engine`";
  if (static_cast<int64_t>(plan.size()) < sidecar.engine_size)
    throw CliError("engine '" + plan_path + "' is truncated: " + std::to_string(plan.size()) +
                       " bytes on disk, the sidecar '" + sidecar.path + "' records " +
                       std::to_string(sidecar.engine_size),
                   kArtifact, "the copy or build was interrupted; copy it again or " + rebuild);
  const std::string actual = sha256_hex(plan);
  if (static_cast<int64_t>(plan.size()) != sidecar.engine_size || actual != sidecar.engine_sha256)
    throw CliError("engine '" + plan_path + "' does not match its sidecar '" + sidecar.path +
                       "' (sha256 " + actual.substr(0, 16) + "..., " + std::to_string(plan.size()) +
                       " bytes; recorded " + sidecar.engine_sha256.substr(0, 16) + "..., " +
                       std::to_string(sidecar.engine_size) + " bytes)",
                   kArtifact, "the plan was replaced or damaged after it was built; " + rebuild);
}

void check_compatible(const std::string& plan_path, const EngineSidecar& s, const Machine& here) {
  const Verdict v = judge(s, here.trt_version, here.gpu, here.compute_capability);
  auto cc = [](Cc c) { return std::to_string(c.first) + "." + std::to_string(c.second); };
  const std::string built_on = s.gpu + " (compute capability " + cc(s.compute_capability) + ")";
  const std::string here_on = here.gpu + " (compute capability " + cc(here.compute_capability) + ")";
  const std::string rebuild = "rebuild the engine here with `vggdeploy build-engine`";
  if (v.decision == "warn") {
    std::cerr << "warning: '" << plan_path << "' was built on " << built_on << " and is loaded on "
              << here_on << "; TensorRT does not recommend moving plans between GPU models: "
              << "rebuild for best speed\n";
    return;
  }
  if (v.decision == "accept") return;
  std::string why;
  std::string hint = rebuild;
  if (v.reason == "version-mismatch") {
    why = "was built with TensorRT " + s.trt_version + ", this runner uses TensorRT " + here.trt_version +
          "; a plan that is not version-compatible loads only in the exact version that built it";
    hint += " (add --version-compatible for a plan later releases can load)";
  } else if (v.reason == "runtime-older-than-builder") {
    why = "was built version-compatible with TensorRT " + s.trt_version + ", which loads only in TensorRT " +
          s.trt_version + " or later; this runner uses TensorRT " + here.trt_version;
    hint = "upgrade TensorRT, or " + rebuild;
  } else if (v.reason == "version-compatible-needs-8.6") {
    why = "records a version-compatible build by TensorRT " + s.trt_version +
          ", but version compatibility exists from TensorRT 8.6 on";
  } else if (v.reason == "compute-capability-mismatch") {
    why = "was built for " + built_on + "; this GPU is " + here_on;
    if (s.hardware_compat == "none")
      hint += " (or build with --hardware-compat ampere+ for a plan that runs on every Ampere or later GPU)";
  } else if (v.reason == "gpu-older-than-ampere") {
    why = "was built hardware-compatible for Ampere and later GPUs (compute capability >= 8.0); this GPU is " +
          here_on;
  } else {  // ampere-plus-built-before-ampere, same-cc-built-before-turing: a damaged sidecar
    why = "records hardware compatibility '" + s.hardware_compat + "' for a plan built on " + built_on +
          ", which TensorRT does not support (" + v.reason + ")";
  }
  throw CliError("engine '" + plan_path + "' " + why, kArtifact, hint);
}

}  // namespace vggdeploy
