#include "netlens/viz/camera.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <vector>

#include <glm/geometric.hpp>
#include <glm/gtc/matrix_transform.hpp>
#include <cstring>

#include "netlens/core.hpp"

namespace netlens::viz {

glm::vec3 camera_eye(const Camera& c) {
  float yaw = glm::radians(c.yaw_deg), pitch = glm::radians(c.pitch_deg);
  glm::vec3 dir(std::cos(pitch) * std::cos(yaw), std::sin(pitch), std::cos(pitch) * std::sin(yaw));
  // dir points from the eye towards the target; yaw 0 → eye at -X.
  return c.target - c.distance * glm::vec3(dir.x, -dir.y, dir.z);
}

glm::mat4 camera_view(const Camera& c) {
  glm::vec3 eye = camera_eye(c);
  glm::vec3 up(0, 1, 0);
  if (std::fabs(std::cos(glm::radians(c.pitch_deg))) < 1e-4f) up = glm::vec3(1, 0, 0);
  return glm::lookAt(eye, c.target, up);
}

glm::mat4 camera_proj(const Camera& c, float aspect, float radius) {
  float nearp = std::max(0.01f, (c.distance - radius) * 0.5f);
  nearp = std::max(nearp, c.distance * 1e-3f);
  float farp = c.distance + 2.0f * radius + 10.0f;
  const glm::vec4 t = c.tile;
  const bool tiled = t != glm::vec4(0.0f, 0.0f, 1.0f, 1.0f);
  // A tile's aspect is the tile's; the full frame's is aspect · (tile height / tile width).
  const float full_aspect = tiled ? aspect * t.w / t.z : aspect;
  glm::mat4 p = glm::perspectiveRH_ZO(glm::radians(c.fov_y_deg), full_aspect, nearp, farp);
  p[1][1] *= -1.0f;  // Vulkan's clip y points down
  if (tiled) {
    // Off-axis: the tile's rectangle of the full frame's NDC ([-1, 1], y down) mapped onto [-1, 1].
    const float cx = 2.0f * (t.x + 0.5f * t.z) - 1.0f, cy = 2.0f * (t.y + 0.5f * t.w) - 1.0f;
    glm::mat4 m(1.0f);
    m[0][0] = 1.0f / t.z;
    m[1][1] = 1.0f / t.w;
    m[3][0] = -cx / t.z;
    m[3][1] = -cy / t.w;
    p = m * p;
  }
  return p;
}

glm::mat4 camera_view_proj(const Camera& c, float aspect, float radius) {
  return camera_proj(c, aspect, radius) * camera_view(c);
}

float scene_radius(const Layout& l) { return 0.5f * glm::length(l.max - l.min) + 1.0f; }


namespace {
// Moves the target and sets the distance so that the box [mn, mx] fills the view (with a margin)
// and is centred on screen, keeping the orientation. Perspective makes this non-linear: a few
// rounds of "centre, then binary-search the distance" converge well enough for framing.
Camera frame_box(Camera c, glm::vec3 mn, glm::vec3 mx, float aspect, float margin) {
  Camera unit = c;
  unit.distance = 1.0f;
  glm::mat4 v = camera_view(unit);
  glm::vec3 right(v[0][0], v[1][0], v[2][0]), up(v[0][1], v[1][1], v[2][1]), back(v[0][2], v[1][2], v[2][2]);
  const float ty = std::tan(glm::radians(c.fov_y_deg) * 0.5f) / margin, tx = ty * aspect;
  auto spans = [&](float d, glm::vec4& out) {
    out = glm::vec4(1e30f, -1e30f, 1e30f, -1e30f);
    for (int i = 0; i < 8; ++i) {
      glm::vec3 p((i & 1) ? mx.x : mn.x, (i & 2) ? mx.y : mn.y, (i & 4) ? mx.z : mn.z);
      glm::vec3 q = p - c.target;
      float depth = d - glm::dot(q, back);
      if (depth <= 1e-4f) return false;
      float x = glm::dot(q, right) / depth, y = glm::dot(q, up) / depth;
      out = glm::vec4(std::min(out.x, x), std::max(out.y, x), std::min(out.z, y), std::max(out.w, y));
    }
    return true;
  };
  float r = 0.5f * glm::length(mx - mn) + 1e-3f;
  float d = c.distance > 0 ? c.distance : 3.0f * r;
  for (int round = 0; round < 4; ++round) {
    float lo = 1e-3f * r, hi = 200.0f * r;
    for (int it = 0; it < 60; ++it) {
      float mid = 0.5f * (lo + hi);
      glm::vec4 s;
      bool fits = spans(mid, s) && (s.y - s.x) * 0.5f <= tx && (s.w - s.z) * 0.5f <= ty;
      (fits ? hi : lo) = mid;
    }
    d = hi;
    glm::vec4 s;
    if (!spans(d, s)) break;
    c.target += right * (0.5f * (s.x + s.y) * d) + up * (0.5f * (s.z + s.w) * d);
  }
  c.distance = d;
  return c;
}
}  // namespace

namespace {
// Bounds of the network with outlier volumes trimmed: a layer far wider or taller than the typical
// one (PP-OCR rec's 40x6625 logits sheet) would otherwise set the framing and shrink the network
// to a corner. A volume whose Y or Z extent exceeds 8x the 75th percentile of all volumes' extents
// is clamped, around its centre, to 4x that percentile; X (the flow) is kept. Ordinary size
// differences (a 224x224 input before 56x56 maps) stay framed.
void robust_bounds(const Layout& l, glm::vec3& mn, glm::vec3& mx, float* wide = nullptr) {
  mn = l.min;
  mx = l.max;
  if (wide) *wide = 1.0f;
  if (l.layers.size() < 4) return;
  std::vector<float> ys, zs;
  for (const auto& v : l.layers) {
    ys.push_back(v.size.y);
    zs.push_back(v.size.z);
  }
  auto p75 = [](std::vector<float> x) {
    std::nth_element(x.begin(), x.begin() + static_cast<long>(x.size() * 3 / 4), x.end());
    return x[x.size() * 3 / 4];
  };
  const float cap_y = 4.0f * std::max(p75(ys), 1.0f), cap_z = 4.0f * std::max(p75(zs), 1.0f);
  if (wide) *wide = cap_z / cap_y;  // typical width:height of the volumes
  mn = glm::vec3(1e30f);
  mx = glm::vec3(-1e30f);
  for (const auto& v : l.layers) {
    glm::vec3 c = v.center(), h = 0.5f * v.size;
    if (h.y > cap_y) h.y = 0.5f * cap_y;
    if (h.z > cap_z) h.z = 0.5f * cap_z;
    mn = glm::min(mn, c - h);
    mx = glm::max(mx, c + h);
  }
}
}  // namespace

Camera overview_camera(const Layout& l, float aspect) {
  Camera c;
  glm::vec3 bmin, bmax;
  float wide = 1.0f;
  robust_bounds(l, bmin, bmax, &wide);
  c.target = 0.5f * (bmin + bmax);
  // From the side and a little above and in front: the flow reads left to right and the first
  // slab of every volume (its front face) stays visible.
  glm::vec3 ext = bmax - bmin;
  // Long networks (ResNet, MobileNet) are seen more from the side, so the flow spans the width.
  float elongation = ext.x / std::max(1.0f, std::max(ext.y, ext.z));
  float t = std::clamp((elongation - 3.0f) / 10.0f, 0.0f, 1.0f);
  c.yaw_deg = -58.0f - 17.0f * t;
  c.pitch_deg = 20.0f - 6.0f * t;
  bool wrapped = false;
  for (const auto& v : l.layers) wrapped |= v.row > 0;
  if (wrapped) {  // rows read like lines of text: look from the side, slightly from above
    c.yaw_deg = -76.0f;
    c.pitch_deg = 9.0f;
    // Wide, flat volumes (text-line CNNs) are seen edge-on from there: look more from above (the
    // layout spaces such rows further apart for this).
    if (wide > 2.0f) c.pitch_deg = 22.0f;
  }
  c.distance = 0.0f;
  // The margin leaves room for the labels above the volumes.
  return frame_box(c, bmin, bmax + glm::vec3(0.0f, 0.08f * ext.y, 0.0f), aspect, 1.08f);
}

Camera focus_camera(const Layout& l, int layer, float aspect) {
  const LayerVolume& v = l.layers.at(static_cast<size_t>(layer));
  Camera c;
  c.target = v.center();
  // Mostly from the front, a little from the side (+Z) and above: the front face reads well and
  // the slab stack shows its depth. Earlier layers lie between the eye and the volume, so they are
  // cut away (half the minimum gap between levels upstream of it); later layers stay behind it.
  c.yaw_deg = -16.0f;
  c.pitch_deg = 12.0f;
  c.distance = 0.0f;
  c = frame_box(c, v.origin, v.max(), aspect, 1.25f);
  c.cut = true;
  c.cut_x = v.origin.x - 3.0f * v.cell;
  return c;
}

Camera orbit(Camera c, float dyaw, float dpitch, float zoom) {
  c.yaw_deg = std::fmod(c.yaw_deg + dyaw, 360.0f);
  c.pitch_deg = std::clamp(c.pitch_deg + dpitch, -89.0f, 89.0f);
  c.distance *= zoom;
  return c;
}

Camera look_at(glm::vec3 eye, glm::vec3 target, float fov) {
  Camera c;
  c.target = target;
  glm::vec3 d = target - eye;
  c.distance = std::max(glm::length(d), 1e-3f);
  d /= c.distance;
  c.pitch_deg = glm::degrees(std::asin(std::clamp(-d.y, -1.0f, 1.0f)));
  c.yaw_deg = glm::degrees(std::atan2(d.z, d.x));
  c.fov_y_deg = fov;
  return c;
}

std::optional<glm::vec2> project_to_pixel(const glm::mat4& vp, glm::vec3 w, int width, int height) {
  glm::vec4 p = vp * glm::vec4(w, 1.0f);
  if (p.w <= 1e-6f) return std::nullopt;
  glm::vec2 ndc(p.x / p.w, p.y / p.w);
  return glm::vec2((ndc.x * 0.5f + 0.5f) * float(width), (ndc.y * 0.5f + 0.5f) * float(height));
}

// ---------------------------------------------------------------------------------------------
// A minimal JSON reader for the camera document: objects, arrays, numbers, strings, true/false/null.
namespace {

struct JsonValue {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  double num = 0;
  bool b = false;
  std::string str;
  std::vector<JsonValue> arr;
  std::map<std::string, JsonValue> obj;
};

class JsonParser {
 public:
  JsonParser(std::string_view s, const std::string& where) : s_(s), where_(where) {}
  JsonValue parse() {
    JsonValue v = value(0);
    ws();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error(ErrorKind::Input, where_ + ": invalid camera JSON: " + what + " at offset " + std::to_string(i_));
  }
  void ws() { while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_; }
  bool eat(char c) { ws(); if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; } return false; }
  JsonValue value(int depth) {
    if (depth > 32) fail("nesting too deep");
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    JsonValue v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = JsonValue::Object;
      if (eat('}')) return v;
      do {
        ws();
        if (i_ >= s_.size() || s_[i_] != '"') fail("expected a key");
        std::string k = string();
        if (!eat(':')) fail("expected ':'");
        v.obj[k] = value(depth + 1);
      } while (eat(','));
      if (!eat('}')) fail("expected '}'");
    } else if (c == '[') {
      ++i_;
      v.kind = JsonValue::Array;
      if (eat(']')) return v;
      do v.arr.push_back(value(depth + 1));
      while (eat(','));
      if (!eat(']')) fail("expected ']'");
    } else if (c == '"') {
      v.kind = JsonValue::String;
      v.str = string();
    } else if (s_.substr(i_, 4) == "true") { i_ += 4; v.kind = JsonValue::Bool; v.b = true; }
    else if (s_.substr(i_, 5) == "false") { i_ += 5; v.kind = JsonValue::Bool; }
    else if (s_.substr(i_, 4) == "null") { i_ += 4; }
    else {
      size_t start = i_;
      while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || std::strchr("+-.eE", s_[i_]))) ++i_;
      if (start == i_) fail("unexpected character");
      std::string num(s_.substr(start, i_ - start));
      char* end = nullptr;
      v.num = std::strtod(num.c_str(), &end);
      if (end != num.c_str() + num.size()) fail("bad number '" + num + "'");
      v.kind = JsonValue::Number;
    }
    return v;
  }
  std::string string() {
    ++i_;  // opening quote
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) fail("unterminated escape");
        char e = s_[i_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'u': if (i_ + 4 > s_.size()) fail("bad \\u escape"); out += '?'; i_ += 4; break;
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  std::string_view s_;
  std::string where_;
  size_t i_ = 0;
};

// Finite as a float too: casting a double beyond FLT_MAX to float is undefined.
bool fits_float(double v) { return std::fabs(v) <= static_cast<double>(std::numeric_limits<float>::max()); }

std::string fmt(float v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", double(v));
  return b;
}

}  // namespace

std::string camera_to_json(const Camera& c) {
  return "{\"target\": [" + fmt(c.target.x) + ", " + fmt(c.target.y) + ", " + fmt(c.target.z) +
         "], \"distance\": " + fmt(c.distance) + ", \"yaw_deg\": " + fmt(c.yaw_deg) +
         ", \"pitch_deg\": " + fmt(c.pitch_deg) + ", \"fov_y_deg\": " + fmt(c.fov_y_deg) +
         ", \"cut_x\": " + (c.cut ? fmt(c.cut_x) : std::string("null")) + "}\n";
}

Camera camera_from_json(std::string_view json, const std::string& where) {
  JsonValue v = JsonParser(json, where).parse();
  auto bad = [&](const std::string& what) { throw Error(ErrorKind::Input, where + ": " + what); };
  if (v.kind != JsonValue::Object) bad("camera JSON must be an object");
  auto number = [&](const char* key, bool required, float def) -> float {
    auto it = v.obj.find(key);
    if (it == v.obj.end()) {
      if (required) bad(std::string("camera JSON lacks \"") + key + "\"");
      return def;
    }
    if (it->second.kind != JsonValue::Number || !fits_float(it->second.num))
      bad(std::string("camera \"") + key + "\" must be a finite number");
    return static_cast<float>(it->second.num);
  };
  Camera c;
  auto t = v.obj.find("target");
  if (t == v.obj.end()) bad("camera JSON lacks \"target\"");
  if (t->second.kind != JsonValue::Array || t->second.arr.size() != 3) bad("camera \"target\" must be [x, y, z]");
  for (int i = 0; i < 3; ++i) {
    const JsonValue& e = t->second.arr[static_cast<size_t>(i)];
    if (e.kind != JsonValue::Number || !fits_float(e.num)) bad("camera \"target\" must hold finite numbers");
    c.target[i] = static_cast<float>(e.num);
  }
  c.distance = number("distance", true, 0);
  c.yaw_deg = number("yaw_deg", false, c.yaw_deg);
  c.pitch_deg = number("pitch_deg", false, c.pitch_deg);
  c.fov_y_deg = number("fov_y_deg", false, c.fov_y_deg);
  if (auto it = v.obj.find("cut_x"); it != v.obj.end() && it->second.kind != JsonValue::Null) {
    c.cut = true;
    c.cut_x = number("cut_x", true, 0.0f);
  }
  if (!(c.distance > 0)) bad("camera \"distance\" must be positive");
  if (!(c.fov_y_deg > 1 && c.fov_y_deg < 170)) bad("camera \"fov_y_deg\" must be in (1, 170)");
  if (std::fabs(c.pitch_deg) > 89.9f) bad("camera \"pitch_deg\" must be within ±89.9");
  return c;
}

}  // namespace netlens::viz
