"""Pictures for notebooks (Render) and the viewer subprocess behind netlens.show()."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile

import numpy as np


class Render(np.ndarray):
    """An H x W x 3 uint8 image of the network (Model.render). A plain ndarray for NumPy; notebooks
    display it inline (_repr_png_ returns the PNG netlens wrote, unchanged). `.png` holds those bytes."""

    png: bytes = b""

    @staticmethod
    def from_png(png: bytes) -> "Render":
        from PIL import Image  # Debian's python3-pil
        with Image.open(io.BytesIO(png)) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
        r = rgb.view(Render)
        r.png = png
        return r

    def __array_finalize__(self, obj):
        # Slices and arithmetic give new pixels: their PNG is made from the array, not inherited.
        self.png = b""

    def _repr_png_(self):
        if self.png:
            return self.png
        if self.ndim != 3 or self.shape[2] != 3 or self.dtype != np.uint8:
            return None
        from PIL import Image
        buf = io.BytesIO()
        Image.fromarray(np.asarray(self)).save(buf, format="PNG")
        return buf.getvalue()

    def _repr_html_(self):
        import base64
        png = self._repr_png_()
        if png is None:
            return None
        return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" width="{self.shape[1]}"/>'


def netlens_cli() -> str:
    """The netlens CLI of this build (NETLENS_CLI overrides it)."""
    env = os.environ.get("NETLENS_CLI")
    if env:
        return env
    from ._paths import NETLENS_CLI
    return NETLENS_CLI


def show_files(source, inputs: dict, size, extra_args, wrapper=()) -> subprocess.Popen:
    """Starts `netlens view` on `source` (a model path, or the model's bytes written to a temporary
    file) and the inputs written as .npy files in a temporary folder; returns at once. The folder
    is left for the viewer (it reads the files after this returns) in the system's temp directory."""
    d = tempfile.mkdtemp(prefix="netlens-show-")
    if isinstance(source, (bytes, bytearray)):
        path = os.path.join(d, "model.onnx")
        with open(path, "wb") as f:
            f.write(source)
    else:
        path = os.fspath(source)
    args = [*wrapper, netlens_cli(), "view", path, "--size", f"{int(size[0])}x{int(size[1])}"]
    for i, (name, arr) in enumerate(inputs.items()):
        npy = os.path.join(d, f"input{i}.npy")
        np.save(npy, np.ascontiguousarray(arr))
        args += ["--input", f"{name}={npy}"]
    args += list(extra_args)
    # Its own session: closing the notebook's terminal does not kill the viewer, and the viewer's
    # output goes to a log file instead of the notebook cell.
    log_path = os.path.join(d, "view.log")
    with open(log_path, "wb") as log:
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, close_fds=True)
    p.log_path = log_path
    return p
