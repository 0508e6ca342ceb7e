"""What a function runs with, as on Lambda: the interpreter its `Runtime` names, its layers, and the
packages of its `requirements.txt`.

- Interpreter: `pythonX.Y` runs under surge's own interpreter when that is X.Y, else the first of
  `pythonX.Y` on PATH, pyenv's (`$PYENV_ROOT/versions/X.Y*`), uv's (`uv python find X.Y`, nothing
  is downloaded). None found: a warning names the function, its Runtime and the interpreter used
  instead. A runtime that is not Python (nodejs, java, provided, ...) cannot run here: an error for
  that function only.
- Import path, in Lambda's order: the code folder (/var/task), the packages of its requirements.txt
  (`sam build` installs them beside the code), each layer's `python/lib/pythonX.Y/site-packages`
  and `python/` (Lambda's /opt layout), then the SDK the Lambda runtime ships (boto3).
- requirements.txt is installed like `sam build` does it, with uv (else pip) for that interpreter,
  into `<cache>/function-deps/<hash of the file and the interpreter version>`, reused across runs and
  never into surge's own environment. A package that cannot be installed is an error naming the
  function and the installer's message (which names the package).
- Differs from AWS: under surge's own interpreter a function also sees surge's packages (after its
  own); under another interpreter it sees only the above, with surge's boto3 as the SDK.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from infra.paths import cache_dir

_REPO_ROOT = Path(__file__).resolve().parents[2]  # holds `infra`, which the worker process imports
# The SDK Lambda's Python runtimes ship, and what it needs; all pure Python, so any 3.x imports them.
_SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
_INSTALL_TIMEOUT_S = 600


class FunctionSetupError(Exception):
    """The function cannot run locally; the message names the function and why."""


@dataclass(frozen=True)
class FunctionEnvironment:
    interpreter: str
    python_path: tuple[str, ...]  # after the code folder, in Lambda's order
    interpreter_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def python_version(runtime: str) -> tuple[int, int] | None:
    """ "python3.12" -> (3, 12); None for a runtime that is not Python."""
    if not runtime.startswith("python"):
        return None
    major, _, minor = runtime.removeprefix("python").partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


def find_interpreter(version: tuple[int, int]) -> str | None:
    if sys.version_info[:2] == version:
        return sys.executable
    name = f"python{version[0]}.{version[1]}"
    on_path = shutil.which(name)
    if on_path:
        return on_path
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for candidate in sorted(
        glob.glob(f"{pyenv_root}/versions/{version[0]}.{version[1]}*/bin/{name}"), reverse=True
    ):
        if os.access(candidate, os.X_OK):
            return candidate
    uv = _uv()
    if uv:
        found = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", f"{version[0]}.{version[1]}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        path = found.stdout.strip()
        if found.returncode == 0 and path and os.access(path, os.X_OK):
            return path
    return None


def prepare(
    function_id: str, runtime: str, code_dir: Path, layers: list[Path], *, cache: Path | None = None
) -> FunctionEnvironment:
    """Raises FunctionSetupError when the function cannot run here (not Python, a requirement that
    cannot be installed)."""
    version = python_version(runtime)
    if version is None:
        raise FunctionSetupError(
            f"{function_id}: Runtime {runtime} is not supported by the local runtime (Python runtimes only)"
        )
    warnings: list[str] = []
    interpreter = find_interpreter(version)
    if interpreter is None:
        interpreter = sys.executable
        here = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        warnings.append(
            f"{function_id}: Runtime {runtime} has no interpreter on this machine (PATH, pyenv, uv); "
            f"it runs under {here} ({interpreter})"
        )
        version = (sys.version_info[0], sys.version_info[1])
    root = cache or cache_dir()
    path: list[str] = []
    requirements = code_dir / "requirements.txt"
    if requirements.is_file():
        path.append(str(install_requirements(function_id, requirements, interpreter, version, root)))
    for layer in layers:
        site = layer / "python" / "lib" / f"python{version[0]}.{version[1]}" / "site-packages"
        path += [str(site)] if site.is_dir() else []
        path += [str(layer / "python")] if (layer / "python").is_dir() else []
    if interpreter == sys.executable:
        return FunctionEnvironment(interpreter, tuple(path), warnings=tuple(warnings))
    # Another interpreter: none of its own site-packages (-S), as Lambda's runtime has none of a
    # machine's; the worker needs surge's `infra` (worker.py imports no more), the function the SDK.
    path.append(str(_sdk_dir(root)))
    return FunctionEnvironment(
        interpreter, tuple(path), ("-S",), {"PYTHONPATH": str(_REPO_ROOT)}, tuple(warnings)
    )


def install_requirements(
    function_id: str, requirements: Path, interpreter: str, version: tuple[int, int], cache: Path
) -> Path:
    content = requirements.read_bytes()
    key = hashlib.sha256(content + f"\0python{version[0]}.{version[1]}".encode()).hexdigest()[:16]
    target = cache / "function-deps" / key
    if target.is_dir():
        return target  # installed by an earlier run
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    uv = _uv()
    if uv:
        command = [uv, "pip", "install", "--quiet", "--python", interpreter, "--target", str(staging)]
    else:
        command = [interpreter, "-m", "pip", "install", "--quiet", "--no-input", "--target", str(staging)]
    command += ["-r", str(requirements)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_S,
            check=False,
            cwd=requirements.parent,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise FunctionSetupError(f"{function_id}: installing {requirements} failed: {exc}") from exc
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        message = (done.stderr or done.stdout).strip()
        raise FunctionSetupError(f"{function_id}: cannot install {requirements}:\n{message}")
    try:
        staging.rename(target)  # atomic: a half-installed folder is never reused
    except OSError:  # another runtime installed the same requirements meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _sdk_dir(cache: Path) -> Path:
    """Links to surge's own boto3 and its pure-Python dependencies, without the rest of surge's
    environment: what Lambda's runtime provides besides the function's own packages."""
    sdk = cache / "lambda-sdk" / hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    if sdk.is_dir():
        return sdk
    staging = Path(tempfile.mkdtemp(prefix=".sdk-", dir=_mkdir(cache / "lambda-sdk")))
    for name in _SDK_PACKAGES:
        module = __import__(name)
        source = Path(module.__file__ or "")
        source = source.parent if source.name == "__init__.py" else source
        (staging / source.name).symlink_to(source)
    try:
        staging.rename(sdk)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return sdk


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _uv() -> str | None:
    """The uv surge pins (`make install` puts it in .surge/tools), else one on PATH."""
    pinned = _REPO_ROOT / ".surge" / "tools" / "bin" / "uv"
    return str(pinned) if pinned.is_file() else shutil.which("uv")
