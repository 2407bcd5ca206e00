"""Lint sees every package folder: no exclusion in ruff's settings or in `.gitignore`
(which ruff respects) may match a folder of `keras_rbf/` or `tests/`.

Ruff applies an exclusion without a slash to every folder of that name: `"reports"`,
meant for the top-level output folder, once kept `keras_rbf/reports/` out of lint.
"""

import fnmatch
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the check needs no other

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = sorted(
    p.relative_to(ROOT)
    for top in ("keras_rbf", "tests")
    for p in [ROOT / top, *(ROOT / top).rglob("*")]
    if p.is_dir() and "__pycache__" not in p.parts
)


def _excludes(pattern: str, folder: Path) -> bool:
    """Would `pattern` (gitignore / ruff exclude syntax) exclude `folder`?"""
    pattern = pattern.rstrip("/")
    if pattern.startswith("/"):  # anchored at the root: matches that path only
        return fnmatch.fnmatch(folder.as_posix(), pattern[1:])
    if "/" in pattern:
        return fnmatch.fnmatch(folder.as_posix(), pattern)
    return any(fnmatch.fnmatch(part, pattern) for part in folder.parts)


def _ruff_excludes() -> list[str]:
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    return [*ruff.get("exclude", []), *ruff.get("extend-exclude", [])]


def _gitignore_folders() -> list[str]:
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "!"))]


def test_package_folders_are_found():
    assert Path("keras_rbf/reports") in PACKAGE_DIRS and Path("tests/reports") in PACKAGE_DIRS


@pytest.mark.parametrize("source", ["pyproject.toml", ".gitignore"])
def test_no_package_folder_is_excluded_from_lint(source):
    patterns = _ruff_excludes() if source == "pyproject.toml" else _gitignore_folders()
    excluded = {
        str(folder): pattern
        for folder in PACKAGE_DIRS
        for pattern in patterns
        if _excludes(pattern, folder)
    }
    assert excluded == {}, f"{source} hides these package folders from ruff"


def test_matcher_sees_the_old_mistake():
    # The exclusion this test guards against, and its anchored form, which is harmless.
    assert _excludes("reports", Path("keras_rbf/reports"))
    assert not _excludes("/reports/", Path("keras_rbf/reports"))
    assert _excludes("/reports/", Path("reports"))


def test_no_function_in_the_package_is_long_without_saying_why():
    """Functions over 60 lines carry a `# Why this function is long:` comment (issue 21):
    a long function is a choice to defend, not an accident."""
    import ast

    offenders = []
    for path in sorted((ROOT / "keras_rbf").rglob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                body = "\n".join(source.splitlines()[node.lineno - 1 : node.end_lineno])
                if length > 60 and "# Why this function is long:" not in body:
                    offenders.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})"
                    )
    assert not offenders, offenders
