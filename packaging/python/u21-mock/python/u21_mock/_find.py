"""Finding an executable that a wheel installed, wherever pip put it.

A wheel built with maturin's ``bindings = "bin"`` installs its binary into the *scripts*
directory of whichever install scheme was used: the venv's ``bin/``, ``~/.local/bin`` for
``--user``, ``<prefix>/bin`` for ``--prefix``, ``<target>/bin`` for ``--target``. Only the
first of these is on ``sysconfig``'s default path, so each is tried in turn, starting from
where this package itself was installed (``Scripts`` instead of ``bin`` on Windows).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Callable, List, Optional


class BinaryNotFound(FileNotFoundError):
    """No executable of that name in any place tried; the message lists them."""


def _executable_name(name: str) -> str:
    return f"{name}.exe" if sys.platform == "win32" else name


def _user_scheme() -> str:
    if sys.platform == "win32":
        return "nt_user"
    if sys.platform == "darwin" and sys._framework:  # type: ignore[attr-defined]
        return "osx_framework_user"
    return "posix_user"


def _scripts_dirs(package_dir: Path) -> List[Path]:
    """Every scripts directory the binary may have been installed into: first those of the
    install that holds this package (so a `--target` or `--prefix` install never picks up
    another install's binary, perhaps of another version), then the interpreter's own."""
    places: List[Path] = []

    def add(path: Optional[str]) -> None:
        if path:
            places.append(Path(path))

    # A venv, `--user` or `pip install --prefix P`: the package is P/lib/pythonX.Y/site-packages/<pkg>
    # (P/Lib/site-packages/<pkg> on Windows) and the binary P/bin (P/Scripts).
    site = package_dir.parent
    if sys.platform == "win32":
        if site.name.lower() == "site-packages" and site.parent.name.lower() == "lib":
            places.append(site.parent.parent / "Scripts")
    elif site.name == "site-packages" and site.parent.name.startswith("python"):
        places.append(site.parent.parent.parent / "bin")
    # `pip install --target T`: the package is T/<pkg> and the binary T/bin.
    places.append(site / ("Scripts" if sys.platform == "win32" else "bin"))
    add(sysconfig.get_path("scripts"))
    add(sysconfig.get_path("scripts", vars={"base": sys.base_prefix}))
    try:
        add(sysconfig.get_path("scripts", scheme=_user_scheme()))
    except KeyError:
        pass
    unique: List[Path] = []
    for place in places:
        if place not in unique:
            unique.append(place)
    return unique


def find_executable(name: str, env_var: str, package_file: str) -> str:
    """The path of executable ``name``: the one ``env_var`` names, else the first found in the
    scripts directories of the install that holds ``package_file``'s package.

    Raises :class:`BinaryNotFound` listing every place tried.
    """
    override = os.environ.get(env_var)
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise BinaryNotFound(f"{env_var}={override} is not an executable file")
    executable = _executable_name(name)
    tried = []
    for directory in _scripts_dirs(Path(package_file).resolve().parent):
        candidate = directory / executable
        tried.append(str(candidate))
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    listing = "\n  ".join(tried)
    raise BinaryNotFound(
        f"cannot find the {name} executable; tried {env_var} (not set) and:\n  {listing}\n"
        f"Reinstall the package (pip install --force-reinstall), or set {env_var} to the binary."
    )


def run_found(name: str, find: Callable[[], str]) -> int:
    """``python -m <package> ARGS``: runs the executable ``find`` returns with ARGS, in this
    process's place where the platform allows (so signals and the exit code are its own)."""
    try:
        executable = find()
    except BinaryNotFound as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 127
    argv = [executable, *sys.argv[1:]]
    if sys.platform == "win32":
        return subprocess.call(argv)
    os.execv(executable, argv)
    return 127  # pragma: no cover - execv does not return
