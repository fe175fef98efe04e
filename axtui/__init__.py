"""axtui: an LLM routing gateway with an on-call console."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# A source checkout run without installing (PYTHONPATH=.) has fixtures/ and themes/ beside
# axtui/; an install maps them to axtui.fixtures and axtui.themes (setup.py). Map them here
# too, before any installed copy, so a checkout always reads its own files.
_ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
_MAPPED = {"axtui.fixtures": _os.path.join(_ROOT, "fixtures"),
           "axtui.themes": _os.path.join(_ROOT, "themes")}


class _SourceTreeFinder:
    @staticmethod
    def find_spec(fullname, path=None, target=None):
        folder = _MAPPED.get(fullname)
        if folder is None:
            return None
        from importlib.util import spec_from_file_location

        return spec_from_file_location(fullname, _os.path.join(folder, "__init__.py"),
                                       submodule_search_locations=[folder])


if _os.path.isfile(_os.path.join(_ROOT, "setup.py")) and all(
        _os.path.isfile(_os.path.join(d, "__init__.py")) for d in _MAPPED.values()):
    _sys.meta_path.insert(0, _SourceTreeFinder)
