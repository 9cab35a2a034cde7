// Viewer scripts (`netlens view --script FILE`): reading and checking the commands, apart from the
// window that runs them, so that a bad line is one Error{Usage} before anything opens and the
// parser can be fuzzed without Vulkan (tests/fuzz/fuzz_viewer_script.cpp).
//
// A script is one command per line; '#' starts a comment; words are separated by white space;
// blank lines are skipped. Commands (app/viewer.cpp runs them):
//   frames N | settle | resize W H | iconify | restore | cursor X Y | click X Y | focus X Y |
//   key NAME | drag DX DY | scroll S | move RIGHT UP FORWARD SECONDS | save-camera FILE |
//   screenshot FILE | close | open PATH | lod max|mean | scale layer|global [LO HI] |
//   next | prev | pause | wait-input | wait-nodes N
// `key` presses a key as the window's key callback does (an error it causes, say a camera file
// that cannot be written, is one line and the script goes on); `open` runs the model on a file as
// the Input panel's Load does; next/prev/pause/wait-input need a live input (wait-input also waits
// for a progressive start's run to end); wait-nodes N waits until that run has executed N nodes (or
// has ended, or there is none). With a progressive start a script begins when the run has ended,
// unless its first command is wait-nodes (then at once: `wait-nodes 0` lets the first frame, the
// structure alone, be captured).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace netlens::viz {

struct ScriptCommand {
  int line = 0;                   // 1-based line in the script
  std::string name;               // the command word ("frames", "click", ...)
  std::vector<std::string> args;  // its arguments as written
  // The numeric arguments in order (every argument of frames/resize/cursor/click/focus/drag/
  // scroll/move, LO and HI of scale): finite and within the command's range, so that the viewer's
  // casts to int, int64 and float are always defined.
  std::vector<double> nums;
};

// Every line checked: the command name, its argument count, numbers, key names and keywords.
// Throws Error{Usage} "<where>:<line>: ..." naming the first bad line. What depends on the viewer's
// state (next/prev need a live input) is checked when the command runs.
std::vector<ScriptCommand> parse_script(std::string_view text, const std::string& where);
// parse_script on a file's contents (where = its path); Error{Io} when it cannot be read.
std::vector<ScriptCommand> read_script(const std::string& path);
// The key names the `key` command takes (tab f o home esc c p v h right left space n b g k t l pagedown pageup f2
// f11 e x).
const std::vector<std::string>& script_key_names();

}  // namespace netlens::viz
