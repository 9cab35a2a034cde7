// Attention maps: found in PP-OCRv4 rec (two SVTR blocks, 8 heads over 40 tokens; the CTC head's
// Softmax, fed by a MatMul with constant weights, must not count), and in a tiny ViT built here
// (patch 16 on 64×64, class token, dim 64, 4 heads, 3 blocks, seeded random weights). Entropies,
// row sums, projections and the rollout are checked against direct computations on the Softmax
// tensors written in this file. Tolerances: 1e-9 between double computations, 1e-5 on row sums.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "netlens/inspect/attention.hpp"
#include "inspect_test_util.hpp"

using namespace netlens;
using namespace netlens::inspect;
using namespace netlens::inspect::test;
namespace fs = std::filesystem;

namespace {

const std::string kSource = fs::path(__FILE__).parent_path().parent_path().parent_path().string();

// A ViT-style graph: Conv patch embedding → tokens (+ class token, + positions) → blocks of
// pre-norm multi-head attention and a ReLU MLP.
struct VitBuilder {
  Graph g;
  int counter = 0;
  std::string add(const std::string& op, std::vector<std::string> in, std::map<std::string, AttrValue> attrs = {}) {
    Node n;
    n.op_type = op;
    n.name = op + "_" + std::to_string(counter);
    n.inputs = std::move(in);
    n.outputs = {"t" + std::to_string(counter++)};
    n.attrs = std::move(attrs);
    g.nodes.push_back(n);
    return n.outputs[0];
  }
  std::string init(const std::string& name, Tensor t) {
    g.initializers[name] = std::move(t);
    return name;
  }
};

constexpr int64_t kDim = 64, kHeads = 4, kHeadDim = 16, kTokens = 17, kBlocks = 3;

Graph tiny_vit() {
  VitBuilder b;
  b.g.opsets[""] = 17;
  b.g.inputs = {vi("image", {1, 3, 64, 64})};
  uint32_t seed = 100;
  auto i64 = [](std::vector<int64_t> v) { return Tensor::from_i64({int64_t(v.size())}, v); };
  std::string pe = b.add("Conv", {"image", b.init("Wp", randn({kDim, 3, 16, 16}, seed++, 0.05f)), b.init("bp", randn({kDim}, seed++, 0.1f))},
                         {{"strides", std::vector<int64_t>{16, 16}}});
  std::string tok = b.add("Reshape", {pe, b.init("s_tok", i64({1, kDim, 16}))});
  tok = b.add("Transpose", {tok}, {{"perm", std::vector<int64_t>{0, 2, 1}}});
  tok = b.add("Concat", {b.init("cls", randn({1, 1, kDim}, seed++, 1.0f)), tok}, {{"axis", int64_t(1)}});
  std::string h = b.add("Add", {tok, b.init("pos", randn({1, kTokens, kDim}, seed++, 0.5f))});
  b.init("ones", Tensor::from_f32({kDim}, std::vector<float>(kDim, 1.0f)));
  b.init("zeros", Tensor::from_f32({kDim}, std::vector<float>(kDim, 0.0f)));
  b.init("scale", Tensor::scalar_f32(1.0f / 4.0f));  // 1/√16
  b.init("s_qkv", i64({1, kTokens, 3, kHeads, kHeadDim}));
  b.init("s_back", i64({1, kTokens, kDim}));
  for (int64_t blk = 0; blk < kBlocks; ++blk) {
    const std::string p = "b" + std::to_string(blk) + "_";
    std::string ln = b.add("LayerNormalization", {h, "ones", "zeros"}, {{"axis", int64_t(-1)}});
    std::string qkv = b.add("MatMul", {ln, b.init(p + "Wqkv", randn({kDim, 3 * kDim}, seed++, 0.35f))});
    qkv = b.add("Reshape", {qkv, "s_qkv"});
    qkv = b.add("Transpose", {qkv}, {{"perm", std::vector<int64_t>{2, 0, 3, 1, 4}}});  // [3,1,H,T,d]
    std::string q = b.add("Gather", {qkv, b.init(p + "i0", Tensor::from_i64({}, {0}))}, {{"axis", int64_t(0)}});
    std::string k = b.add("Gather", {qkv, b.init(p + "i1", Tensor::from_i64({}, {1}))}, {{"axis", int64_t(0)}});
    std::string v = b.add("Gather", {qkv, b.init(p + "i2", Tensor::from_i64({}, {2}))}, {{"axis", int64_t(0)}});
    std::string kt = b.add("Transpose", {k}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
    std::string s = b.add("MatMul", {q, kt});
    s = b.add("Mul", {s, "scale"});
    std::string a = b.add("Softmax", {s}, {{"axis", int64_t(-1)}});
    std::string o = b.add("MatMul", {a, v});
    o = b.add("Transpose", {o}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
    o = b.add("Reshape", {o, "s_back"});
    o = b.add("MatMul", {o, b.init(p + "Wo", randn({kDim, kDim}, seed++, 0.1f))});
    h = b.add("Add", {h, o});
    ln = b.add("LayerNormalization", {h, "ones", "zeros"}, {{"axis", int64_t(-1)}});
    std::string m = b.add("MatMul", {ln, b.init(p + "W1", randn({kDim, 2 * kDim}, seed++, 0.1f))});
    m = b.add("Relu", {m});
    m = b.add("MatMul", {m, b.init(p + "W2", randn({2 * kDim, kDim}, seed++, 0.1f))});
    h = b.add("Add", {h, m});
  }
  b.g.outputs = {vi(h, {1, kTokens, kDim})};
  return b.g;
}

// Direct reading of a [1, H, T, T] or [H, T, T] softmax tensor (batch 1: the same offsets).
double at(const Tensor& t, int64_t h, int64_t q, int64_t k) {
  const int64_t T = t.dim(-1), Q = t.dim(-2);
  return t.data_as<float>()[(h * Q + q) * T + k];
}

// Rollout from the Softmax tensors, written out: R = Π A'_l, A' = rows-renormalised 0.5·mean_h A + 0.5·I.
std::vector<std::vector<double>> direct_rollout(const ModelView& v, const std::vector<AttentionMap>& maps) {
  const int64_t T = maps[0].tk, H = maps[0].heads;
  std::vector<std::vector<double>> R(T, std::vector<double>(T, 0.0));
  for (int64_t i = 0; i < T; ++i) R[i][i] = 1;
  for (const AttentionMap& m : maps) {
    const Tensor t = v.value(m.tensor);
    std::vector<std::vector<double>> A(T, std::vector<double>(T, 0.0)), N(T, std::vector<double>(T, 0.0));
    for (int64_t i = 0; i < T; ++i) {
      double rs = 0;
      for (int64_t j = 0; j < T; ++j) {
        for (int64_t h = 0; h < H; ++h) A[i][j] += at(t, h, i, j) / double(H);
        A[i][j] = 0.5 * A[i][j] + (i == j ? 0.5 : 0.0);
        rs += A[i][j];
      }
      for (int64_t j = 0; j < T; ++j) A[i][j] /= rs;
    }
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j)
        for (int64_t k = 0; k < T; ++k) N[i][j] += A[i][k] * R[k][j];
    R = N;
  }
  return R;
}

void check_map_against_tensor(const ModelView& v, const AttentionMap& m) {
  const Tensor t = v.value(m.tensor);
  ASSERT_TRUE(t.rank() == 4 || t.rank() == 3);
  ASSERT_EQ(m.head_axis, t.rank() - 3);
  ASSERT_EQ(m.heads, t.dim(-3));
  const int64_t T = t.dim(-1);
  EXPECT_EQ(m.tq, t.dim(-2));
  EXPECT_EQ(m.tk, T);
  for (int64_t h = 0; h < m.heads; ++h) {
    double ent = 0;
    for (int64_t q = 0; q < m.tq; ++q) {
      double sum = 0;
      for (int64_t k = 0; k < T; ++k) {
        const double p = at(t, h, q, k);
        sum += p;
        if (p > 0) ent -= p * std::log(p);
        if (m.block_q == 1 && m.block_k == 1) {
          EXPECT_EQ(m.display[h][q * T + k], static_cast<float>(p));
        }
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
    EXPECT_NEAR(m.entropy[h], ent / double(m.tq), 1e-9);
    EXPECT_GT(m.entropy[h], 0.0);
    EXPECT_LT(m.entropy[h], std::log(double(T)) + 1e-9);
  }
  EXPECT_LE(m.max_row_error, 1e-5);
}

}  // namespace

TEST(Attention, FindsTheSvtrBlocksOfPpocrRec) {
  const std::string model = std::string(NETLENS_CACHE_DIR) + "/models/ppocrv4_rec.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " missing (scripts/fetch-models.sh)";
  const Ran ran = run_graph(load_onnx(model), {{"x", rec_line_input()}});
  const ModelView& v = *ran.view;
  const auto maps = find_attention(v);
  ASSERT_EQ(maps.size(), 2u);  // the CTC head's Softmax (constant weights) is not attention
  for (const AttentionMap& m : maps) {
    EXPECT_EQ(m.heads, 8);
    EXPECT_EQ(m.tq, 40);
    EXPECT_EQ(m.tk, 40);
    EXPECT_EQ(m.key_axis, 3);
    EXPECT_EQ(m.query_axis, 2);
    check_map_against_tensor(v, m);
    ASSERT_TRUE(m.grid.has_value());
    EXPECT_EQ(m.grid->h, 1);
    EXPECT_EQ(m.grid->w, 40);
    EXPECT_EQ(m.grid->prefix, 0);
    EXPECT_EQ(m.grid->image, "x");
    EXPECT_DOUBLE_EQ(m.grid->scale_y, 48.0);
    EXPECT_DOUBLE_EQ(m.grid->scale_x, 8.0);
    // Query 20's mean-over-heads attention, laid on the 1×40 grid and on the 48×320 image.
    const Projection p = project_query(v, m, 20);
    const Tensor t = v.value(m.tensor);
    for (int64_t k = 0; k < 40; ++k) {
      double mean = 0;
      for (int64_t h = 0; h < 8; ++h) mean += at(t, h, 20, k) / 8;
      EXPECT_NEAR(p.values[k], mean, 1e-9);
    }
    const auto img = projection_image(p);
    ASSERT_EQ(img.size(), 48u * 320u);
    EXPECT_EQ(img[47 * 320 + 8 * 13 + 7], static_cast<float>(p.values[13]));
  }
  const auto json = attention_json(v, {}, 5);
  EXPECT_EQ(json["maps"].size(), 2u);
  EXPECT_EQ(json["maps"][0]["projection"]["values"].size(), 40u);
  EXPECT_EQ(json["rollouts"].size(), 1u);
}

TEST(Attention, TinyVitMapsGridAndRollout) {
  const Ran ran = run_graph(tiny_vit(), {{"image", randn({1, 3, 64, 64}, 7, 1.0f)}});
  const ModelView& v = *ran.view;
  AttentionOptions opt;
  opt.max_display = 8;  // 17 tokens → blocks of 3
  const auto maps = find_attention(v, opt);
  ASSERT_EQ(maps.size(), size_t(kBlocks));
  for (const AttentionMap& m : maps) {
    EXPECT_EQ(m.heads, kHeads);
    EXPECT_EQ(m.tq, kTokens);
    EXPECT_EQ(m.path, std::vector<std::string>{"Mul"});
    check_map_against_tensor(v, m);
    ASSERT_TRUE(m.grid.has_value());
    EXPECT_EQ(m.grid->h, 4);
    EXPECT_EQ(m.grid->w, 4);
    EXPECT_EQ(m.grid->prefix, 1);
    EXPECT_DOUBLE_EQ(m.grid->scale_x, 16.0);
    // Display: blocks of 3, rows still sum to 1; cell (1, 2) = mean over rows 3..5 of cols 6..8.
    EXPECT_EQ(m.block_q, 3);
    const Tensor t = v.value(m.tensor);
    const int64_t d = 6;  // ⌈17/3⌉
    for (int64_t r = 0; r < d; ++r) {
      double sum = 0;
      for (int64_t c = 0; c < d; ++c) sum += m.display[2][r * d + c];
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
    double cell = 0;
    for (int64_t q = 3; q < 6; ++q)
      for (int64_t k = 6; k < 9; ++k) cell += at(t, 2, q, k) / 3;
    EXPECT_NEAR(m.display[2][1 * d + 2], cell, 1e-6);
  }
  // Rollout, directly: R = Π A'_l with A' = (0.5·mean_h A + 0.5·I), rows renormalised.
  const auto rolls = attention_rollout(v, maps);
  ASSERT_EQ(rolls.size(), 1u);
  ASSERT_EQ(rolls[0].layers.size(), size_t(kBlocks));
  const int64_t T = kTokens;
  const auto R = direct_rollout(v, maps);
  double spread = 0;
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) {
      EXPECT_NEAR(rolls[0].matrix[i * T + j], R[i][j], 1e-9);
      spread = std::max(spread, std::abs(R[i][j] - (i == j ? 1.0 : 0.0)));
    }
  EXPECT_GT(spread, 0.05);  // the attention is not trivially the identity
  // The class token's rollout on the 4×4 patch grid (its own share is the prefix mass).
  const Projection p = project_row(rolls[0].matrix, T, *rolls[0].grid, 0);
  ASSERT_EQ(p.values.size(), 16u);
  EXPECT_NEAR(p.prefix_mass, R[0][0], 1e-9);
  EXPECT_NEAR(p.values[5], R[0][6], 1e-9);
  EXPECT_THROW(project_row(rolls[0].matrix, T, *rolls[0].grid, T), Error);
  EXPECT_THROW(head_matrix(v, maps[0], kHeads), Error);
}

// The same checks on a ViT exported by torch.onnx (scripts/export-tinyvit.py; nn.MultiheadAttention
// lowers to a rank-3 [heads, T, T] Softmax with the 1/√d scale as a Div on the queries). The model is
// made once into .cache/models; skipped when Debian's python3-torch is not installed.
TEST(Attention, TorchExportedVit) {
  const fs::path model = fs::path(NETLENS_CACHE_DIR) / "models" / "tinyvit.onnx";
  if (!fs::exists(model)) {
    if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3-torch missing";
    fs::create_directories(model.parent_path());
    const fs::path tmp = model.string() + "." + std::to_string(::getpid()) + ".tmp";
    const std::string cmd = "/usr/bin/python3 " + kSource + "/scripts/export-tinyvit.py " + tmp.string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    fs::rename(tmp, model);
  }
  const Ran ran = run_graph(load_onnx(model.string()), {{"image", randn({1, 3, 64, 64}, 9, 1.0f)}});
  const ModelView& v = *ran.view;
  const auto maps = find_attention(v);
  ASSERT_EQ(maps.size(), 3u);
  for (const AttentionMap& m : maps) {
    EXPECT_EQ(m.shape, (Shape{4, 17, 17}));
    EXPECT_EQ(m.head_axis, 0);
    check_map_against_tensor(v, m);
    ASSERT_TRUE(m.grid.has_value());
    EXPECT_EQ(m.grid->h, 4);
    EXPECT_EQ(m.grid->w, 4);
    EXPECT_EQ(m.grid->prefix, 1);
    EXPECT_EQ(m.grid->image, "image");
  }
  const auto rolls = attention_rollout(v, maps);
  ASSERT_EQ(rolls.size(), 1u);
  const auto R = direct_rollout(v, maps);
  for (int64_t i = 0; i < 17; ++i)
    for (int64_t j = 0; j < 17; ++j) EXPECT_NEAR(rolls[0].matrix[i * 17 + j], R[i][j], 1e-9);
}
