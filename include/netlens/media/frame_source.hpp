// Input frames for live views: a folder of images, a video file, or a V4L2 camera, opened from one
// spec string and delivered as 8-bit RGB frames.
//
// Contract:
//  - open_source(spec): a directory → its .png/.jpg/.jpeg/.bmp files (case-insensitive), sorted by
//    file name, decoded with the io module's loader (the path `--input FILE.png` takes, so a folder
//    frame gives exactly the tensor of the same file given alone); "camera" / "camera:N" →
//    /dev/videoN through libavdevice's v4l2 input; any other existing file → a video through
//    libavformat/libavcodec (whatever Debian's FFmpeg reads), converted to RGB24 by libswscale.
//  - Errors are one line naming the path or device: Error{Io} for a missing path, an empty folder,
//    a file FFmpeg cannot open or decode; Error{Device} for a camera that does not exist or cannot
//    be opened. Folder images that fail to decode throw Error{Input} when reached.
//  - Never hangs: video files, named pipes and cameras read under timeouts (SourceOptions): opening
//    (probe included) may take at most open_timeout_s, and each later read waits at most
//    read_timeout_s for data; past either, Error{Io} (Error{Device} for a camera) with one line
//    ("...: no data for 5 s (the source stalled)"). A video that ends before the frame count its
//    container declares throws Error{Io} "...: truncated (N of M frames)" instead of ending quietly.
//  - A FrameSource is used by one thread at a time (not thread safe), except interrupt(), which any
//    thread may call: a read in progress (or any later one) then ends with Error "interrupted"
//    within about 50 ms. Owners call it before joining a thread that may be blocked in next().
//    Frames are values (copies).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netlens/core.hpp"
#include "netlens/io.hpp"

namespace netlens::media {

struct Frame {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width·height·3 bytes, row-major, top row first
  int64_t index = 0;         // folder: position in the sorted list; video/camera: decoded frame number
  std::string name;          // folder: file name; video/camera: "frame N"
  double timestamp = 0.0;    // seconds from the stream start (video/camera); 0 for folder images
};

enum class SourceKind { Folder, Video, Camera };

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual SourceKind kind() const = 0;
  // One line for the start-up message, e.g. "folder imgs/ (3 images)", "video a.mp4 (h264 320x240, 25 fps)".
  virtual std::string description() const = 0;
  // The next frame, or nullopt at the end (folder past its last image, video at end of file).
  // Folders: the first call gives image 0.
  virtual std::optional<Frame> next() = 0;
  // Random access (folders only; Error{Usage} for streams): the previous image (nullopt before the
  // first), and image `index` (Error{Usage} out of range). Both move the position next() counts from.
  virtual std::optional<Frame> prev();
  virtual Frame seek(int64_t index);
  virtual int64_t count() const { return -1; }  // images in a folder; -1 for streams
  // Nominal frames per second of a video/camera (0 when unknown or for folders).
  virtual double fps() const { return 0.0; }
  // Thread safe; see the contract. Folders read local files and need no interrupting.
  virtual void interrupt() {}
};

// Time limits of stream sources (videos, named pipes, cameras); folders ignore them.
struct SourceOptions {
  double open_timeout_s = 10.0;  // open + stream probing (a camera's start-up included)
  double read_timeout_s = 5.0;   // each read after that (a camera at 1 fps still delivers in time)
};

// See the contract above. Throws Error{Io|Device} with one line. A named pipe is read as a video stream.
std::unique_ptr<FrameSource> open_source(const std::string& spec, const SourceOptions& o = {});

// Whether `spec` means a live source rather than a single input file: a directory, "camera",
// "camera:N", a named pipe, or an existing file that is neither an image (.png/.jpg/.jpeg/.bmp) nor .npy.
bool is_live_spec(const std::string& spec);

// The model input tensor of a frame, with the preprocessing images get (io::preprocess_pixels).
Tensor frame_to_tensor(const Frame& f, const ImagePreprocess& pp);

}  // namespace netlens::media
