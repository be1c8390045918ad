"""Build the optional C walk of lxml trees (survtrack/scrapers/_xmlwalk.pyx) in place.

`make env` runs it after the venv's sync: `python survtrack/scrapers/_xmlwalk_build.py`.
Nothing to do when the built module is newer than its source and than lxml's. A build that fails says why
and exits 0: xmlsafe.py then walks trees in Python, with the same results (and a warning).
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_xmlwalk.pyx"
BUILT = HERE / ("_xmlwalk" + sysconfig.get_config_var("EXT_SUFFIX"))


def build() -> Path:
    import lxml
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    extension = Extension(
        "_xmlwalk",
        [str(SOURCE)],
        include_dirs=lxml.get_include(),
        extra_compile_args=["-Wno-unused-function"],  # lxml's headers define helpers unused here
    )
    modules = cythonize([extension], language_level=3, quiet=True)
    with tempfile.TemporaryDirectory(prefix="xmlwalk-build-") as tmp:
        command = build_ext(Distribution({"ext_modules": modules}))
        command.build_temp, command.build_lib = tmp, str(HERE)
        command.ensure_finalized()
        command.run()
    return BUILT


def _up_to_date() -> bool:
    """Built after its source and after lxml was installed (the module is compiled against
    lxml's C API and libxml2's structures: a new lxml wants it built again)."""
    if not BUILT.exists():
        return False
    lxml = importlib.util.find_spec("lxml")
    sources = [SOURCE]
    if lxml is not None and lxml.origin:
        sources += Path(lxml.origin).parent.glob("etree.*")
    return BUILT.stat().st_mtime >= max(p.stat().st_mtime for p in sources)


def main() -> int:
    if _up_to_date():
        return 0
    try:
        print(f"built {build().relative_to(Path.cwd().resolve())}")
    except Exception as exc:  # noqa: BLE001 - any failure leaves the Python walk
        print(
            f"survtrack: the C walk of XML trees was not built ({type(exc).__name__}: {exc});"
            " the EIS parser uses the Python walk (same results, slower)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
