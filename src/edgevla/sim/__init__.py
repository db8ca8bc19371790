"""edgevla.sim — the MuJoCo tea-bag workcell, its clusters and the scripted expert.

MuJoCo picks its OpenGL backend when it is first imported, so the headless default (EGL,
Debian's Mesa) is set here, before any module of this package imports mujoco. Set MUJOCO_GL
yourself (e.g. `osmesa`, or `glfw` with a display) to choose another.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
