#include "netlens/inspect/attention.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <set>

namespace netlens::inspect {

namespace {

const std::set<std::string> kPassThrough = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Cast", "Identity"};

Tensor as_f32(const Tensor& t) { return t.dtype() == DType::Float32 ? t : t.cast(DType::Float32); }

// From `t` back to a MatMul of two activations; fills path (reversed) and returns the node index.
std::optional<size_t> scores_matmul(const ModelView& v, const std::string& t, std::vector<std::string>& path, int depth) {
  if (depth > 8 || v.is_constant(t)) return std::nullopt;
  const auto pi = v.producer(t);
  if (!pi) return std::nullopt;
  const Node& n = v.graph().nodes[*pi];
  if (n.op_type == "MatMul") {
    if (v.is_constant(n.input(0)) || v.is_constant(n.input(1))) return std::nullopt;
    return pi;
  }
  std::vector<std::string> next;
  if (kPassThrough.count(n.op_type)) {
    next.push_back(n.input(0));
  } else if (n.op_type == "Mul" || n.op_type == "Div") {
    // Scaling by a constant only: Mul of two activations is something else (gating).
    if (n.inputs.size() == 2 && v.is_constant(n.input(1))) next.push_back(n.input(0));
    else if (n.op_type == "Mul" && n.inputs.size() == 2 && v.is_constant(n.input(0))) next.push_back(n.input(1));
  } else if (n.op_type == "Add" || n.op_type == "Sub") {
    for (const auto& in : n.inputs)
      if (!in.empty() && !v.is_constant(in)) next.push_back(in);
  }
  for (const auto& in : next) {
    path.push_back(n.op_type);
    if (auto m = scores_matmul(v, in, path, depth + 1)) return m;
    path.pop_back();
  }
  return std::nullopt;
}

std::optional<TokenGrid> find_grid(const ModelView& v, const std::string& start, int64_t tk) {
  std::deque<std::string> q{start};
  std::set<std::string> seen{start};
  const Graph& g = v.graph();
  for (int visited = 0; !q.empty() && visited < 400; ++visited) {
    const std::string t = q.front();
    q.pop_front();
    const auto pi = v.producer(t);
    if (!pi) continue;
    const Node& n = g.nodes[*pi];
    if ((n.op_type == "Reshape" || n.op_type == "Flatten") && !v.is_constant(n.input(0))) {
      const Shape& s = v.info(n.input(0)).shape;
      if (s.size() == 4) {
        const int64_t cells = s[2] * s[3];
        for (int64_t prefix : {0, 1})
          if (cells > 1 && cells + prefix == tk) {
            TokenGrid gr;
            gr.feature_map = n.input(0);
            gr.h = s[2];
            gr.w = s[3];
            gr.prefix = prefix;
            for (const ValueInfo& in : g.inputs)
              if (v.has(in.name) && v.info(in.name).shape.size() == 4) {
                const Shape& is = v.info(in.name).shape;
                gr.image = in.name;
                gr.image_h = is[2];
                gr.image_w = is[3];
                gr.scale_y = double(is[2]) / double(gr.h);
                gr.scale_x = double(is[3]) / double(gr.w);
                break;
              }
            return gr;
          }
      }
    }
    for (const auto& in : n.inputs)
      if (!in.empty() && !v.is_constant(in) && seen.insert(in).second) q.push_back(in);
  }
  return std::nullopt;
}

// True when graph input `input` is upstream of `start` (breadth-first over producers).
bool descends_from(const ModelView& v, const std::string& start, const std::string& input) {
  std::deque<std::string> q{start};
  std::set<std::string> seen{start};
  const Graph& g = v.graph();
  while (!q.empty()) {
    const std::string t = q.front();
    q.pop_front();
    if (t == input) return true;
    const auto pi = v.producer(t);
    if (!pi) continue;
    for (const auto& in : g.nodes[*pi].inputs)
      if (!in.empty() && !v.is_constant(in) && seen.insert(in).second) q.push_back(in);
  }
  return false;
}

// Flat offset of (head, query, key) in the softmax tensor, batch/other axes at 0.
struct Indexer {
  std::vector<int64_t> strides;
  int64_t hs = 0, qs = 0, ks = 0;
  Indexer(const AttentionMap& m) {
    strides = strides_of(m.shape);
    hs = m.head_axis >= 0 ? strides[m.head_axis] : 0;
    qs = strides[m.query_axis];
    ks = strides[m.key_axis];
  }
  int64_t at(int64_t h, int64_t q, int64_t k) const { return h * hs + q * qs + k * ks; }
};

}  // namespace

std::vector<AttentionMap> find_attention(const ModelView& v, const AttentionOptions& opt) {
  std::vector<AttentionMap> maps;
  const Graph& g = v.graph();
  for (const Node& n : g.nodes) {
    if (n.op_type != "Softmax" || n.outputs.empty() || !v.has(n.outputs[0]) || v.is_constant(n.outputs[0])) continue;
    const Shape s = v.info(n.outputs[0]).shape;
    const int64_t rank = static_cast<int64_t>(s.size());
    if (rank < 2) continue;
    const int64_t opset = g.opset();
    int64_t axis = n.attr_int("axis", opset < 13 ? 1 : -1);
    if (axis < 0) axis += rank;
    if (opset < 13 && axis != rank - 1) continue;
    std::vector<std::string> path;
    const auto mi = scores_matmul(v, n.input(0), path, 0);
    if (!mi) continue;
    std::reverse(path.begin(), path.end());
    const Node& mm = g.nodes[*mi];
    AttentionMap m;
    m.softmax_node = n.name;
    m.tensor = n.outputs[0];
    m.matmul_node = mm.name;
    m.queries = mm.input(0);
    m.keys = mm.input(1);
    m.path = path;
    m.shape = s;
    m.key_axis = axis;
    m.query_axis = axis - 1;
    if (m.query_axis < 0) continue;
    m.tk = s[axis];
    m.tq = s[m.query_axis];
    std::vector<int64_t> rest;
    for (int64_t d = 0; d < rank; ++d)
      if (d != m.key_axis && d != m.query_axis && s[d] > 1) rest.push_back(d);
    if (!rest.empty()) {
      m.head_axis = std::find(rest.begin(), rest.end(), m.query_axis - 1) != rest.end() ? m.query_axis - 1 : rest[0];
      m.heads = s[m.head_axis];
    }
    // Entropy, row sums and display blocks.
    const Tensor t = as_f32(v.value(m.tensor));
    const float* p = t.data_as<float>();
    const Indexer ix(m);
    m.block_q = (m.tq + opt.max_display - 1) / opt.max_display;
    m.block_k = (m.tk + opt.max_display - 1) / opt.max_display;
    const int64_t dq = (m.tq + m.block_q - 1) / m.block_q, dk = (m.tk + m.block_k - 1) / m.block_k;
    for (int64_t h = 0; h < m.heads; ++h) {
      double ent = 0;
      std::vector<double> disp(static_cast<size_t>(dq * dk), 0.0);
      for (int64_t q = 0; q < m.tq; ++q) {
        double sum = 0, e = 0;
        for (int64_t k = 0; k < m.tk; ++k) {
          const double x = p[ix.at(h, q, k)];
          sum += x;
          if (x > 0) e -= x * std::log(x);
          disp[(q / m.block_q) * dk + k / m.block_k] += x;
        }
        ent += e;
        m.max_row_error = std::max(m.max_row_error, std::abs(sum - 1.0));
      }
      m.entropy.push_back(ent / double(m.tq));
      std::vector<float> d(disp.size());
      for (int64_t r = 0; r < dq; ++r) {
        const int64_t rows = std::min(m.block_q, m.tq - r * m.block_q);
        for (int64_t c = 0; c < dk; ++c) d[r * dk + c] = static_cast<float>(disp[r * dk + c] / double(rows));
      }
      m.display.push_back(std::move(d));
    }
    m.grid = find_grid(v, m.queries, m.tk);
    const int64_t nt = static_cast<int64_t>(opt.tokens.size());
    if (nt > 0 && !opt.token_input.empty()) {
      if (m.tq == nt && descends_from(v, m.queries, opt.token_input)) m.query_tokens = opt.tokens;
      if (m.tk == nt && descends_from(v, m.keys, opt.token_input)) m.key_tokens = opt.tokens;
    }
    maps.push_back(std::move(m));
  }
  return maps;
}

std::vector<double> head_matrix(const ModelView& v, const AttentionMap& m, int64_t head) {
  if (head < -1 || head >= m.heads)
    throw Error(ErrorKind::Usage, "attention: head " + std::to_string(head) + " outside 0.." + std::to_string(m.heads - 1) +
                                      " of '" + m.tensor + "'");
  const Tensor t = as_f32(v.value(m.tensor));
  const float* p = t.data_as<float>();
  const Indexer ix(m);
  std::vector<double> out(static_cast<size_t>(m.tq * m.tk), 0.0);
  const int64_t h0 = head < 0 ? 0 : head, h1 = head < 0 ? m.heads : head + 1;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t q = 0; q < m.tq; ++q)
      for (int64_t k = 0; k < m.tk; ++k) out[q * m.tk + k] += p[ix.at(h, q, k)];
  if (head < 0)
    for (auto& x : out) x /= double(m.heads);
  return out;
}

Projection project_row(const std::vector<double>& matrix, int64_t tk, const TokenGrid& grid, int64_t query) {
  const int64_t tq = static_cast<int64_t>(matrix.size()) / tk;
  if (query < 0 || query >= tq)
    throw Error(ErrorKind::Usage, "attention: query token " + std::to_string(query) + " outside 0.." + std::to_string(tq - 1));
  Projection p;
  p.query = query;
  p.grid = grid;
  const double* row = matrix.data() + query * tk;
  for (int64_t k = 0; k < grid.prefix; ++k) p.prefix_mass += row[k];
  p.values.assign(row + grid.prefix, row + tk);
  return p;
}

Projection project_query(const ModelView& v, const AttentionMap& m, int64_t query, int64_t head) {
  if (!m.grid)
    throw Error(ErrorKind::Usage, "attention: '" + m.tensor + "' has no token grid (no 4-D feature map flattened into its tokens)");
  Projection p = project_row(head_matrix(v, m, head), m.tk, *m.grid, query);
  p.tensor = m.tensor;
  p.head = head;
  return p;
}

std::vector<float> projection_image(const Projection& p) {
  const TokenGrid& g = p.grid;
  std::vector<float> img(static_cast<size_t>(g.image_h * g.image_w), 0.0f);
  for (int64_t y = 0; y < g.image_h; ++y)
    for (int64_t x = 0; x < g.image_w; ++x) {
      const int64_t cy = std::min<int64_t>(g.h - 1, static_cast<int64_t>(double(y) / g.scale_y));
      const int64_t cx = std::min<int64_t>(g.w - 1, static_cast<int64_t>(double(x) / g.scale_x));
      img[y * g.image_w + x] = static_cast<float>(p.values[cy * g.w + cx]);
    }
  return img;
}

std::vector<Rollout> attention_rollout(const ModelView& v, const std::vector<AttentionMap>& maps) {
  std::map<int64_t, Rollout> by_t;
  std::vector<int64_t> order;
  for (const AttentionMap& m : maps) {
    if (m.tq != m.tk) continue;
    const int64_t T = m.tk;
    auto [it, fresh] = by_t.try_emplace(T);
    Rollout& r = it->second;
    if (fresh) {
      order.push_back(T);
      r.t = T;
      r.matrix.assign(static_cast<size_t>(T * T), 0.0);
      for (int64_t i = 0; i < T; ++i) r.matrix[i * T + i] = 1.0;
    }
    std::vector<double> a = head_matrix(v, m, -1);
    for (int64_t i = 0; i < T; ++i) {
      double s = 0;
      for (int64_t j = 0; j < T; ++j) s += a[i * T + j] = 0.5 * a[i * T + j] + (i == j ? 0.5 : 0.0);
      for (int64_t j = 0; j < T; ++j) a[i * T + j] /= s;
    }
    std::vector<double> next(static_cast<size_t>(T * T), 0.0);  // A'_l · R
    for (int64_t i = 0; i < T; ++i)
      for (int64_t k = 0; k < T; ++k) {
        const double aik = a[i * T + k];
        for (int64_t j = 0; j < T; ++j) next[i * T + j] += aik * r.matrix[k * T + j];
      }
    r.matrix = std::move(next);
    r.layers.push_back(m.tensor);
    if (m.grid) r.grid = m.grid;
    if (r.layers.size() == 1 || !r.tokens.empty())  // labelled only when every layer is
      r.tokens = !m.query_tokens.empty() && m.key_tokens == m.query_tokens ? m.query_tokens : std::vector<std::string>{};
  }
  std::vector<Rollout> out;
  for (int64_t T : order) out.push_back(std::move(by_t[T]));
  return out;
}

namespace {
nlohmann::json grid_json(const TokenGrid& g) {
  return {{"feature_map", g.feature_map}, {"h", g.h}, {"w", g.w}, {"prefix", g.prefix}, {"image", g.image},
          {"image_h", g.image_h}, {"image_w", g.image_w}, {"scale_y", g.scale_y}, {"scale_x", g.scale_x}};
}
}  // namespace

nlohmann::json to_json(const AttentionMap& m) {
  nlohmann::json j{{"tensor", m.tensor},       {"softmax_node", m.softmax_node}, {"matmul_node", m.matmul_node},
                   {"queries", m.queries},     {"keys", m.keys},                 {"path", m.path},
                   {"shape", m.shape},         {"key_axis", m.key_axis},         {"query_axis", m.query_axis},
                   {"head_axis", m.head_axis}, {"heads", m.heads},               {"tq", m.tq},
                   {"tk", m.tk},               {"entropy", m.entropy},           {"max_row_error", m.max_row_error},
                   {"block_q", m.block_q},     {"block_k", m.block_k},           {"display", m.display}};
  j["grid"] = m.grid ? grid_json(*m.grid) : nlohmann::json(nullptr);
  j["query_tokens"] = m.query_tokens.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.query_tokens);
  j["key_tokens"] = m.key_tokens.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.key_tokens);
  return j;
}

nlohmann::json to_json(const Projection& p) {
  return {{"tensor", p.tensor}, {"query", p.query}, {"head", p.head}, {"grid", grid_json(p.grid)},
          {"values", p.values}, {"prefix_mass", p.prefix_mass}};
}

nlohmann::json to_json(const Rollout& r, int64_t max_display) {
  // Display like the maps: blocks of ⌈T/max_display⌉, row means of column sums.
  const int64_t b = (r.t + max_display - 1) / max_display, d = (r.t + b - 1) / b;
  std::vector<double> disp(static_cast<size_t>(d * d), 0.0);
  for (int64_t i = 0; i < r.t; ++i)
    for (int64_t j = 0; j < r.t; ++j) disp[(i / b) * d + j / b] += r.matrix[i * r.t + j];
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) disp[i * d + j] /= double(std::min(b, r.t - i * b));
  nlohmann::json j{{"t", r.t}, {"layers", r.layers}, {"block", b}, {"display", disp}};
  j["grid"] = r.grid ? grid_json(*r.grid) : nlohmann::json(nullptr);
  j["tokens"] = r.tokens.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.tokens);
  return j;
}

namespace {
// [{"token", "weight"}] of row `query` of a T_q×T_k matrix over the key tokens.
nlohmann::json token_row(const std::vector<double>& matrix, const std::vector<std::string>& keys, int64_t query) {
  nlohmann::json row = nlohmann::json::array();
  const int64_t tk = static_cast<int64_t>(keys.size());
  for (int64_t k = 0; k < tk; ++k) row.push_back({{"token", keys[static_cast<size_t>(k)]}, {"weight", matrix[static_cast<size_t>(query * tk + k)]}});
  return row;
}
}  // namespace

nlohmann::json attention_json(const ModelView& v, const AttentionOptions& opt, int64_t query) {
  const std::vector<AttentionMap> maps = find_attention(v, opt);
  nlohmann::json jm = nlohmann::json::array();
  for (const AttentionMap& m : maps) {
    nlohmann::json j = to_json(m);
    if (m.grid && query >= 0 && query < m.tq) j["projection"] = to_json(project_query(v, m, query));
    if (!m.key_tokens.empty() && query >= 0 && query < m.tq) j["token_attention"] = token_row(head_matrix(v, m, -1), m.key_tokens, query);
    jm.push_back(std::move(j));
  }
  nlohmann::json jr = nlohmann::json::array();
  for (const Rollout& r : attention_rollout(v, maps)) {
    nlohmann::json j = to_json(r, opt.max_display);
    if (r.grid && query >= 0 && query < r.t) j["projection"] = to_json(project_row(r.matrix, r.t, *r.grid, query));
    if (!r.tokens.empty() && query >= 0 && query < r.t) j["token_attention"] = token_row(r.matrix, r.tokens, query);
    jr.push_back(std::move(j));
  }
  return {{"maps", jm}, {"rollouts", jr}, {"query", query}};
}

}  // namespace netlens::inspect
