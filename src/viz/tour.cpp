#include "netlens/viz/tour.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <glm/geometric.hpp>
#include <glm/trigonometric.hpp>
#include <nlohmann/json.hpp>

#include "netlens/core.hpp"

namespace netlens::viz {

double ease(Ease e, double u) {
  u = std::clamp(u, 0.0, 1.0);
  return e == Ease::Linear ? u : u * u * (3.0 - 2.0 * u);
}

Keyframe keyframe_from_camera(const Camera& c) {
  Keyframe k;
  k.eye = camera_eye(c);
  k.target = c.target;
  k.fov_y_deg = c.fov_y_deg;
  k.cut = c.cut;
  k.cut_x = c.cut_x;
  return k;
}

Camera keyframe_camera(const Keyframe& k) {
  Camera c = look_at(k.eye, k.target, k.fov_y_deg);
  c.cut = k.cut;
  c.cut_x = k.cut_x;
  return c;
}

double tour_length(const Tour& t) {
  if (t.keys.empty()) return 0.0;
  double s = t.keys[0].hold;
  for (size_t k = 1; k < t.keys.size(); ++k) s += t.keys[k].duration + t.keys[k].hold;
  return s;
}

double key_arrival(const Tour& t, size_t k) {
  double s = 0.0;
  for (size_t i = 0; i <= k && i < t.keys.size(); ++i) {
    if (i > 0) s += t.keys[i].duration;
    if (i < k) s += t.keys[i].hold;
  }
  return s;
}

double key_departure(const Tour& t, size_t k) { return key_arrival(t, k) + t.keys.at(k).hold; }

Camera interpolate(const Keyframe& a, const Keyframe& b, double s) {
  const float f = static_cast<float>(s);
  const Camera ca = keyframe_camera(a), cb = keyframe_camera(b);
  Camera c;
  c.target = glm::mix(a.target, b.target, f);
  // The shorter way round, plus the keyframe's full turns.
  float dyaw = std::remainder(cb.yaw_deg - ca.yaw_deg, 360.0f) + 360.0f * static_cast<float>(b.turns);
  c.yaw_deg = ca.yaw_deg + f * dyaw;
  c.pitch_deg = ca.pitch_deg + f * (cb.pitch_deg - ca.pitch_deg);
  // Geometric: a zoom from far to near looks like a constant speed.
  c.distance = ca.distance * std::pow(cb.distance / ca.distance, f);
  c.fov_y_deg = ca.fov_y_deg + f * (cb.fov_y_deg - ca.fov_y_deg);
  if (a.cut && b.cut) {
    c.cut = true;
    c.cut_x = a.cut_x + f * (b.cut_x - a.cut_x);
  } else if (a.cut || b.cut) {
    // A cutaway appearing or going away sweeps along the flow from (or to) upstream of everything
    // the other keyframe sees, rather than popping layers in or out at one instant.
    const Keyframe& cutk = a.cut ? a : b;
    const Keyframe& open = a.cut ? b : a;
    const float far = std::min({cutk.cut_x, open.target.x, open.eye.x}) - glm::length(open.eye - open.target);
    const float u = a.cut ? f : 1.0f - f;  // 0 at the cut keyframe
    c.cut = u < 1.0f;
    c.cut_x = cutk.cut_x + u * (far - cutk.cut_x);
  }
  return c;
}

TourState tour_state(const Tour& t, double time) {
  if (t.keys.empty()) throw Error(ErrorKind::Usage, "tour: no keyframes");
  time = std::clamp(time, 0.0, tour_length(t));
  TourState st;
  size_t k = 0;
  double start = 0.0;  // when key k's caption window starts (its flight's start)
  double arrive = 0.0;
  for (size_t i = 1; i < t.keys.size(); ++i) {
    const double dep = arrive + t.keys[i - 1].hold;
    if (time < dep) break;
    // Beyond key i-1's hold: flying into i or further.
    k = i;
    start = dep;
    arrive = dep + t.keys[i].duration;
    if (time < arrive + t.keys[i].hold) break;
  }
  const Keyframe& key = t.keys[k];
  st.key = k;
  if (k > 0 && time < arrive && key.duration > 0) {
    st.holding = false;
    st.flight = ease(key.ease, (time - start) / key.duration);
    st.camera = interpolate(t.keys[k - 1], key, st.flight);
  } else {
    st.holding = true;
    st.flight = 1.0;
    st.camera = keyframe_camera(key);
  }
  st.caption = key.caption;
  const double end = arrive + key.hold;
  double a = std::min(1.0, (time - start) / kCaptionFade);
  if (k + 1 < t.keys.size()) a = std::min(a, (end - time) / kCaptionFade);
  st.caption_alpha = static_cast<float>(std::clamp(a, 0.0, 1.0));
  return st;
}

// --- JSON -------------------------------------------------------------------------------------------
namespace {

using nlohmann::json;

// A float as the double nearest its 9-digit decimal: the file shows short numbers, and reading
// them back gives the same float.
double short_float(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return std::strtod(buf, nullptr);
}

json vec_json(glm::vec3 v) { return json::array({short_float(v.x), short_float(v.y), short_float(v.z)}); }

struct Reader {
  const json& j;
  std::string where;  // "tour.json: keyframe 3"

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(ErrorKind::Input, where + ": \"" + key + "\" " + what);
  }
  double number(const std::string& key, double def, bool required = false) const {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) fail(key, "is missing");
      return def;
    }
    if (!it->is_number()) fail(key, "must be a number");
    const double v = it->get<double>();
    if (!std::isfinite(v)) fail(key, "must be finite");
    return v;
  }
  float finite_float(const std::string& key, double v) const {
    if (std::fabs(v) > 3.0e38) fail(key, "is out of range");
    return static_cast<float>(v);
  }
  glm::vec3 vec3(const std::string& key) const {
    auto it = j.find(key);
    if (it == j.end()) fail(key, "is missing");
    if (!it->is_array() || it->size() != 3) fail(key, "must be an array of 3 numbers");
    glm::vec3 v;
    for (int i = 0; i < 3; ++i) {
      const json& e = (*it)[static_cast<size_t>(i)];
      if (!e.is_number() || !std::isfinite(e.get<double>()) || std::fabs(e.get<double>()) > 3.0e38)
        fail(key, "must be an array of 3 finite numbers");
      v[i] = static_cast<float>(e.get<double>());
    }
    return v;
  }
  std::string string(const std::string& key, const std::string& def) const {
    auto it = j.find(key);
    if (it == j.end()) return def;
    if (!it->is_string()) fail(key, "must be a string");
    return it->get<std::string>();
  }
};

}  // namespace

std::string tour_to_json(const Tour& t) {
  json keys = json::array();
  for (const Keyframe& k : t.keys) {
    json o = json::object();
    o["eye"] = vec_json(k.eye);
    o["target"] = vec_json(k.target);
    o["fov"] = short_float(k.fov_y_deg);
    o["cut"] = k.cut ? json(short_float(k.cut_x)) : json(nullptr);
    o["turns"] = k.turns;
    o["ease"] = k.ease == Ease::Linear ? "linear" : "smooth";
    o["layer"] = k.layer;
    o["select"] = k.select;
    o["values"] = k.values;
    o["caption"] = k.caption;
    o["notes"] = k.notes;
    o["duration"] = k.duration;
    o["hold"] = k.hold;
    keys.push_back(std::move(o));
  }
  // One keyframe per line: diffs of edited tours stay readable.
  std::string s = "{\"netlens_tour\": 1, \"keyframes\": [\n";
  for (size_t i = 0; i < keys.size(); ++i) s += "  " + keys[i].dump() + (i + 1 < keys.size() ? ",\n" : "\n");
  return s + "]}\n";
}

Tour tour_from_json(std::string_view text, const std::string& where) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    std::string m = e.what();
    if (size_t p = m.find("] "); m.rfind("[json.exception", 0) == 0 && p != std::string::npos) m = m.substr(p + 2);
    throw Error(ErrorKind::Input, where + ": not a tour (invalid JSON: " + m + ")");
  }
  if (!j.is_object()) throw Error(ErrorKind::Input, where + ": not a tour (expected a JSON object)");
  auto v = j.find("netlens_tour");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != 1)
    throw Error(ErrorKind::Input, where + ": not a tour (\"netlens_tour\": 1 is missing)");
  auto ks = j.find("keyframes");
  if (ks == j.end() || !ks->is_array()) throw Error(ErrorKind::Input, where + ": \"keyframes\" must be an array");
  if (ks->empty()) throw Error(ErrorKind::Input, where + ": the tour has no keyframes");
  Tour t;
  for (size_t i = 0; i < ks->size(); ++i) {
    const json& o = (*ks)[i];
    const std::string kw = where + ": keyframe " + std::to_string(i + 1);
    if (!o.is_object()) throw Error(ErrorKind::Input, kw + " must be a JSON object");
    Reader r{o, kw};
    Keyframe k;
    k.eye = r.vec3("eye");
    k.target = r.vec3("target");
    if (glm::length(k.eye - k.target) < 1e-6f) r.fail("eye", "must differ from \"target\"");
    k.fov_y_deg = r.finite_float("fov", r.number("fov", 40.0));
    if (k.fov_y_deg < 1.0f || k.fov_y_deg > 170.0f) r.fail("fov", "must be in 1..170 degrees");
    if (auto c = o.find("cut"); c != o.end() && !c->is_null()) {
      k.cut = true;
      k.cut_x = r.finite_float("cut", r.number("cut", 0.0));
    }
    const double turns = r.number("turns", 0.0);
    if (turns != std::floor(turns) || std::fabs(turns) > 100) r.fail("turns", "must be an integer in -100..100");
    k.turns = static_cast<int>(turns);
    const std::string e = r.string("ease", "smooth");
    if (e != "smooth" && e != "linear") r.fail("ease", "must be \"smooth\" or \"linear\"");
    k.ease = e == "linear" ? Ease::Linear : Ease::Smooth;
    k.layer = r.string("layer", "");
    k.select = r.string("select", "");
    k.values = r.string("values", "activation");
    if (k.values != "activation" && k.values != "gradient" && k.values != "attribution")
      r.fail("values", "must be \"activation\", \"gradient\" or \"attribution\"");
    k.caption = r.string("caption", "");
    k.notes = r.string("notes", "");
    k.duration = r.number("duration", 2.0);
    k.hold = r.number("hold", 2.0);
    if (k.duration < 0 || k.duration > 3600) r.fail("duration", "must be in 0..3600 seconds");
    if (k.hold < 0 || k.hold > 3600) r.fail("hold", "must be in 0..3600 seconds");
    t.keys.push_back(std::move(k));
  }
  if (tour_length(t) <= 0.0) throw Error(ErrorKind::Input, where + ": the tour lasts 0 seconds (every hold and duration is 0)");
  return t;
}

Tour read_tour(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::Io, "cannot read tour file '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return tour_from_json(ss.str(), path);
}

void write_tour(const Tour& t, const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  if (!f || !(f << tour_to_json(t)) || !f.flush()) throw Error(ErrorKind::Io, "cannot write tour file '" + path + "'");
}

// --- the default tour -----------------------------------------------------------------------------
namespace {

struct Stage {
  std::string name;
  size_t first = 0, last = 0;  // layer range, inclusive
};

std::string shape_text(const Shape& s) {
  std::string r;
  for (size_t i = s.size() > 1 ? 1 : 0; i < s.size(); ++i) r += (r.empty() ? "" : "x") + std::to_string(s[i]);
  return r.empty() ? "scalar" : r;
}

// The camera looking at box [mn, mx] from (yaw, pitch) with the whole box in view: for each corner
// with right/up/back offsets (x, y, z) from the centre, the eye distance d must satisfy
// |x| ≤ tan(fov_x/2)·(d − z) and |y| ≤ tan(fov_y/2)·(d − z).
Camera frame_stage(glm::vec3 mn, glm::vec3 mx, float aspect, float yaw, float pitch, float margin) {
  Camera c;
  c.target = 0.5f * (mn + mx);
  c.yaw_deg = yaw;
  c.pitch_deg = pitch;
  c.distance = 1.0f;
  const glm::vec3 eye = camera_eye(c);
  const glm::vec3 back = glm::normalize(eye - c.target);
  const glm::vec3 right = glm::normalize(glm::cross(glm::vec3(0, 1, 0), back));
  const glm::vec3 up = glm::cross(back, right);
  const float ty = std::tan(glm::radians(c.fov_y_deg) * 0.5f) / margin, tx = ty * aspect;
  float d = 1.0f;
  for (int i = 0; i < 8; ++i) {
    glm::vec3 p((i & 1) ? mx.x : mn.x, (i & 2) ? mx.y : mn.y, (i & 4) ? mx.z : mn.z);
    const glm::vec3 q = p - c.target;
    const float x = glm::dot(q, right), y = glm::dot(q, up), z = glm::dot(q, back);
    d = std::max({d, std::fabs(x) / tx + z, std::fabs(y) / ty + z});
  }
  c.distance = d;
  return c;
}

std::vector<Stage> find_stages(const Layout& l, const std::vector<std::string>& groups, size_t max_stages) {
  const size_t n = l.layers.size();
  std::vector<Stage> st;
  auto top = [&](size_t i) {
    const std::string& g = i < groups.size() ? groups[i] : std::string();
    return g.substr(0, g.find('/'));
  };
  bool any = false;
  for (size_t i = 0; i < n; ++i) any |= !top(i).empty();
  if (any) {
    for (size_t i = 0; i < n; ++i) {
      const std::string g = top(i);
      if (st.empty() || top(st.back().first) != g) st.push_back({g, i, i});
      else st.back().last = i;
    }
    for (size_t i = 0; i < st.size(); ++i)
      if (st[i].name.empty()) st[i].name = i == 0 ? "stem" : i + 1 == st.size() ? "head" : "between " + st[i - 1].name + " and " + top(st[i].last + 1);
  } else {
    const size_t parts = std::min<size_t>(4, n);
    for (size_t p = 0; p < parts; ++p)
      st.push_back({"part " + std::to_string(p + 1), p * n / parts, (p + 1) * n / parts - 1});
  }
  // Too many: merge the neighbouring pair with the fewest layers.
  while (st.size() > std::max<size_t>(1, max_stages)) {
    size_t best = 0, best_n = SIZE_MAX;
    for (size_t i = 0; i + 1 < st.size(); ++i) {
      const size_t c = st[i + 1].last - st[i].first + 1;
      if (c < best_n) best = i, best_n = c;
    }
    st[best].name += " + " + st[best + 1].name;
    st[best].last = st[best + 1].last;
    st.erase(st.begin() + static_cast<long>(best) + 1);
  }
  return st;
}

}  // namespace

Tour default_tour(const Layout& l, const std::vector<std::string>& groups, float aspect, const std::string& title,
                  size_t max_stages) {
  if (l.layers.empty()) throw Error(ErrorKind::Input, "default tour: the layout has no layers");
  Tour t;
  const Camera over = overview_camera(l, aspect);
  const std::vector<Stage> stages = find_stages(l, groups, max_stages);
  Keyframe k0 = keyframe_from_camera(over);
  k0.caption = title;
  k0.notes = std::to_string(l.layers.size()) + " layers in " + std::to_string(stages.size()) + " stages";
  k0.hold = 1.5;
  t.keys.push_back(k0);
  Keyframe orbit_k = k0;  // one full turn around the overview, back where it started
  orbit_k.turns = -1;
  orbit_k.duration = 8.0;
  orbit_k.hold = 0.5;
  orbit_k.caption = title + ": " + k0.notes;
  t.keys.push_back(orbit_k);
  for (size_t i = 0; i < stages.size(); ++i) {
    const Stage& s = stages[i];
    glm::vec3 mn(1e30f), mx(-1e30f);
    for (size_t j = s.first; j <= s.last; ++j) {
      mn = glm::min(mn, l.layers[j].origin);
      mx = glm::max(mx, l.layers[j].max());
    }
    // The overview's orientation turned a little towards the volumes' front faces and looking a
    // little more from above: the flights between stages are mostly moves and zooms, and the
    // stage's maps face the viewer. Short stages (a stem, a head) are seen more from the front.
    const float elong = (mx.x - mn.x) / std::max(1.0f, std::max(mx.y - mn.y, mx.z - mn.z));
    // A long stage (a full row of a wrapped layout spans the overview's width, so a side view could
    // not come closer than the overview) is seen obliquely from its start, looking along its flow,
    // which comes at it from upstream; a row drawn backwards (dir -1) is looked along from the other
    // side (yaw mirrored: 180 - yaw).
    float yaw = over.yaw_deg + 16.0f, pitch = std::max(over.pitch_deg, 10.0f) + 6.0f;
    if (elong > 2.5f) {
      yaw = -38.0f;
      pitch = 22.0f;
      if (l.layers[s.first].dir < 0) yaw = 180.0f - yaw;
    }
    Keyframe k = keyframe_from_camera(frame_stage(mn, mx + glm::vec3(0, 0.1f * (mx.y - mn.y), 0), aspect, yaw, pitch, 1.12f));
    const LayerVolume& out = l.layers[s.last];
    k.layer = out.tensor.name;
    const size_t count = s.last - s.first + 1;
    k.caption = s.name + ": " + std::to_string(count) + (count == 1 ? " layer" : " layers") + ", output " +
                shape_text(out.tensor.shape);
    k.notes = "stage " + std::to_string(i + 1) + " of " + std::to_string(stages.size()) + ": " +
              l.layers[s.first].tensor.name + " .. " + out.tensor.name;
    k.duration = 3.0;
    k.hold = 3.0;
    t.keys.push_back(std::move(k));
  }
  Keyframe end = k0;
  end.caption = title;
  end.duration = 3.0;
  end.hold = 2.0;
  t.keys.push_back(end);
  return t;
}

}  // namespace netlens::viz
