// vgg_common_selftest: checks the helpers both runners share (SHA-256 against FIPS 180-2 test
// vectors, the JSON reader on a sidecar-shaped document, .npy round trip and header validation).
// It needs neither libtorch nor TensorRT, so the code vgg_trt relies on is tested everywhere.
#include <cstdio>
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
static bool throws(F f) {
  try {
    f();
  } catch (const CliError&) {
    return true;
  }
  return false;
}

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  const Json j = parse_json(
      R"({"engine": {"sha256": "ab\u0063", "file": "m.engine"}, "tensorrt": {"version": "10.13.0"},
          "profile": {"input": {"min": [1, 1, 32, 32], "max": [64, 1, 32, 32]}},
          "ok": true, "none": null, "x": -1.5e2, "s": "q\"\\\n"})",
      "test");
  CHECK(j.find("engine.sha256") && j.find("engine.sha256")->str == "abc");
  CHECK(j.find("tensorrt.version")->str == "10.13.0");
  CHECK(j.find("profile.input.max")->arr.at(0).num == 64);
  CHECK(j.find("ok")->b && j.find("none")->kind == Json::Null && j.find("x")->num == -150);
  CHECK(j.find("s")->str == "q\"\\\n");
  CHECK(j.find("engine.missing") == nullptr && j.find("ok.deeper") == nullptr);
  CHECK(throws([] { parse_json("{\"a\": 1", "t"); }));
  CHECK(throws([] { parse_json("{\"a\": 1} trailing", "t"); }));

  Tensor t;
  t.shape = {2, 1, 2, 3};
  for (int i = 0; i < 12; ++i) t.data.push_back(0.5f * i - 1.0f);
  const std::string path = dir + "/selftest.npy";
  write_npy(path, t);
  const Tensor back = read_npy(path);
  CHECK(back.shape == t.shape && back.data == t.data);
  CHECK(read_file(path).size() % 64 == (12 * 4) % 64);  // header padded to 64 bytes
  CHECK(throws([&] { read_npy(dir + "/does-not-exist.npy"); }));
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
