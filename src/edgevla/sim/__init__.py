"""edgevla.sim — the MuJoCo tea-bag workcell, its clusters and the scripted expert.

MuJoCo picks its OpenGL backend when it is first imported, so the headless default is chosen
here, before any module of this package imports mujoco: EGL (Debian's Mesa) when its library
is present, else OSMesa (software, slower). Set MUJOCO_GL yourself (e.g. `glfw` with a display)
to choose another.
"""

import ctypes.util
import os


def _headless_backend() -> str:
    if ctypes.util.find_library("EGL"):
        return "egl"
    if ctypes.util.find_library("OSMesa"):
        return "osmesa"
    return "egl"  # neither found: EGL's error message says what to install


os.environ.setdefault("MUJOCO_GL", _headless_backend())
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
