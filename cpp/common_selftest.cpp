// vgg_common_selftest: checks the code both runners share and the parts of vgg_trt that need no
// TensorRT, so they are tested on every machine (CI runs it from tests/cpp/test_aoti.py):
//
//   vgg_common_selftest DIR [COMPAT_CASES.json [ENGINE]]
//   vgg_common_selftest --run MODEL --input ... [runner options]
//
// --run        the runners' shared main (runner_main: argument parsing, .npy/raw reading, batching,
//              output writing, exit codes) with a stand-in model: MODEL must be a readable file;
//              each row's 10 logits are its mean + 0..9. tests/cpp/test_runner_sweep.py sends it
//              malformed arguments and .npy/raw headers without needing libtorch or TensorRT.
//
// DIR          scratch folder (.npy round trip)
// COMPAT_CASES vggdeploy/backends/tensorrt/compat_cases.json: every case through judge(), the
//              same table the Python checker runs
// ENGINE       a plan with a sidecar written by vggdeploy's make_sidecar: read with read_sidecar,
//              its integrity checked (OpenSSL SHA-256 against Python's), the fields printed as one
//              JSON line "sidecar: {...}" for the calling test to compare
#include <cstdio>
#include <iostream>
#include <string>

#include "common.hpp"

using namespace vggdeploy;

static int failures = 0;
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

template <typename F>
static bool throws(F f, const std::string& needle = "") {
  try {
    f();
  } catch (const CliError& e) {
    if (needle.empty() || std::string(e.what()).find(needle) != std::string::npos) return true;
    std::fprintf(stderr, "error message lacks '%s': %s\n", needle.c_str(), e.what());
    return false;
  }
  return false;
}

static void write_text(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw CliError("cannot write " + path);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

// A sidecar-shaped document with the keys of the schema (the Python-written one is checked below).
static nlohmann::json sidecar_doc() {
  return nlohmann::json::parse(R"({
    "format": "vggdeploy.engine-sidecar", "version": 1,
    "engine": {"file": "m.engine", "size": 4,
               "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    "tensorrt": {"version": "10.16.1.11", "version_compatible": false, "hardware_compat": "none"},
    "device": {"name": "NVIDIA A100", "compute_capability": [8, 0]}})");
}

static void check_sidecar_reader(const std::string& dir) {
  const std::string path = dir + "/selftest.engine.json";
  write_text(path, sidecar_doc().dump());
  const EngineSidecar s = read_sidecar(path);
  CHECK(s.engine_size == 4 && s.trt_version == "10.16.1.11" && !s.version_compatible);
  CHECK(s.hardware_compat == "none" && s.gpu == "NVIDIA A100" && s.compute_capability == std::make_pair(8, 0));
  // Every key is read from the one place the schema puts it: other spellings are refused.
  auto refused = [&](void (*edit)(nlohmann::json&), const std::string& needle) {
    nlohmann::json d = sidecar_doc();
    edit(d);
    write_text(path, d.dump());
    return throws([&] { read_sidecar(path); }, needle);
  };
  CHECK(refused([](nlohmann::json& d) { d["tensorrt_version"] = d["tensorrt"]["version"]; d["tensorrt"].erase("version"); },
                "'tensorrt.version' is missing"));
  CHECK(refused([](nlohmann::json& d) { d["plan_sha256"] = d["engine"]["sha256"]; d["engine"].erase("sha256"); },
                "'engine.sha256' is missing"));
  CHECK(refused([](nlohmann::json& d) { d["build"] = {{"version_compatible", true}}; d["tensorrt"].erase("version_compatible"); },
                "'tensorrt.version_compatible' is missing"));
  CHECK(refused([](nlohmann::json& d) { d.erase("device"); }, "missing section 'device'"));
  CHECK(refused([](nlohmann::json& d) { d["version"] = 99; }, "schema version 99"));
  CHECK(refused([](nlohmann::json& d) { d["format"] = "other"; }, "'format'"));
  CHECK(refused([](nlohmann::json& d) { d["device"]["compute_capability"] = "8.0"; }, "compute_capability"));
  CHECK(refused([](nlohmann::json& d) { d["tensorrt"]["hardware_compat"] = "all"; }, "hardware_compat"));
  CHECK(refused([](nlohmann::json& d) { d["engine"]["sha256"] = "ABC"; }, "engine.sha256"));
  write_text(path, "{\"format\": \"vggdeploy.engine-sid");
  CHECK(throws([&] { read_sidecar(path); }, "not readable JSON"));
  CHECK(throws([&] { read_sidecar(dir + "/none.engine.json"); }, "sidecar not found"));
}

static int run_stand_in(int argc, char** argv) {
  return runner_main(argc, argv, "vgg_common_selftest --run: the runners' main with a stand-in model",
                     [](const Options& opt, const Tensor&) {
                       read_file(opt.model);  // exit 4 when missing, as the real runners
                       RunnerHandle h;
                       h.infer = [](const float* rows, int64_t n, std::vector<float>& out) -> int64_t {
                         (void)rows;
                         for (int64_t i = 0; i < n; ++i)
                           for (int j = 0; j < 10; ++j) out.push_back(static_cast<float>(j));
                         return 10;
                       };
                       return h;
                     });
}

static void check_numbers() {
  CHECK(parse_int("--x", "7", 0, 10) == 7);
  CHECK(parse_int("--x", "-0", 0, 10) == 0);
  for (const char* bad : {"", " 7", "7 ", "+7", "0x10", "1e3", "2.5", "11", "-1", "1_0",
                          "99999999999999999999", "\xd9\xa3"})
    CHECK(throws([&] { parse_int("--x", bad, 0, 10); }, "--x expects an integer in [0, 10]"));
  CHECK(checked_numel({2, 3, 4}, "s") == 24);
  CHECK(checked_numel({0, int64_t(1) << 62, 1024}, "s") == 0);
  CHECK(throws([] { checked_numel({int64_t(1) << 62, 1, 32, 32}, "s"); }, "more elements"));
  CHECK(throws([] { checked_numel({2, -1}, "s"); }, "negative dimension"));
  CHECK(throws([] { checked_float_bytes(int64_t(1) << 62, "s"); }, "do not fit"));
  CHECK(version_numbers("99999999999.1.2").empty());  // out of int range: not a version
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--run") return run_stand_in(argc - 1, argv + 1);
  const std::string dir = argc > 1 ? argv[1] : ".";
  check_numbers();
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(version_numbers("10.16.1.11") == (std::vector<int>{10, 16, 1, 11}));
  CHECK(version_numbers("11.0.0rc1") == (std::vector<int>{11, 0, 0}));
  check_sidecar_reader(dir);

  Tensor t;
  t.shape = {2, 1, 2, 3};
  for (int i = 0; i < 12; ++i) t.data.push_back(0.5f * i - 1.0f);
  const std::string path = dir + "/selftest.npy";
  write_npy(path, t);
  const Tensor back = read_npy(path);
  CHECK(back.shape == t.shape && back.data == t.data);
  CHECK(read_file(path).size() % 64 == (12 * 4) % 64);  // header padded to 64 bytes
  CHECK(throws([&] { read_npy(dir + "/does-not-exist.npy"); }));

  if (argc > 2) {  // the compatibility case table shared with the Python checker
    const nlohmann::json table = parse_json(read_file(argv[2]), argv[2]);
    int passed = 0;
    for (const auto& c : table.at("cases")) {
      EngineSidecar built;
      built.trt_version = c["built"]["tensorrt"].get<std::string>();
      built.version_compatible = c["built"]["version_compatible"].get<bool>();
      built.hardware_compat = c["built"]["hardware_compat"].get<std::string>();
      built.gpu = c["built"]["gpu"].get<std::string>();
      built.compute_capability = {c["built"]["compute_capability"][0].get<int>(),
                                  c["built"]["compute_capability"][1].get<int>()};
      const auto& rt = c["runtime"];
      const Verdict v = judge(built, rt["tensorrt"].get<std::string>(), rt["gpu"].get<std::string>(),
                              {rt["compute_capability"][0].get<int>(), rt["compute_capability"][1].get<int>()});
      if (v.decision == c["expect"].get<std::string>() && v.reason == c["reason"].get<std::string>()) {
        ++passed;
      } else {
        std::fprintf(stderr, "FAILED compat case '%s': got %s (%s), table says %s (%s)\n",
                     c["name"].get<std::string>().c_str(), v.decision.c_str(), v.reason.c_str(),
                     c["expect"].get<std::string>().c_str(), c["reason"].get<std::string>().c_str());
        ++failures;
      }
    }
    std::printf("compat cases: %d of %zu passed\n", passed, table.at("cases").size());
  }

  if (argc > 3) {  // a sidecar written by Python's make_sidecar, next to its plan
    const std::string engine = argv[3];
    const EngineSidecar s = read_sidecar(engine + ".json");
    check_plan_integrity(engine, s, read_file(engine));
    const nlohmann::json out = {
        {"engine_sha256", s.engine_sha256}, {"engine_size", s.engine_size},
        {"trt_version", s.trt_version},     {"version_compatible", s.version_compatible},
        {"hardware_compat", s.hardware_compat}, {"gpu", s.gpu},
        {"compute_capability", {s.compute_capability.first, s.compute_capability.second}}};
    std::printf("sidecar: %s\n", out.dump().c_str());
    CHECK(throws([&] { check_plan_integrity(engine, s, read_file(engine) + "x"); }, "does not match its sidecar"));
    CHECK(throws([&] { check_plan_integrity(engine, s, read_file(engine).substr(1)); }, "truncated"));
    Machine same{s.trt_version, s.gpu, s.compute_capability};
    check_compatible(engine, s, same);
    Machine older{"9.0.0", s.gpu, s.compute_capability};
    CHECK(throws([&] { check_compatible(engine, s, older); }, "TensorRT 9.0.0"));
  }

  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
