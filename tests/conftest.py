"""Suite-wide setup: headless rendering for every test that touches the sim."""

import os

# MuJoCo picks its GL backend at import; EGL is Debian's headless Mesa (setup.sh installs it).
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
