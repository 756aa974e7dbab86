"""No function of the library is longer than :data:`MAX_BODY_LINES` without a stated reason.

Every function and method in ``tfdirectspec/**/*.py`` is parsed with :mod:`ast`. Its
length is that of its body without the docstring: from the first statement after the
docstring to the last line of the last statement. A function over the limit fails the
test unless it carries a marker comment ``# long: <reason>``, either on the line just
above its ``def`` (or above its first decorator) or as the first comment of its body,
*and* is listed in :data:`EXEMPT`, so that an exemption is a reviewed decision. A marker
on a function within the limit, or an exemption that no longer applies, fails too.

Functions that are long only by their docstring are within the limit; they carry a plain
comment saying so (``# Long by its docstring only: ...``), which this test ignores.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tfdirectspec

#: Most lines a function body (without its docstring) may have.
MAX_BODY_LINES = 60
#: The marker of an exempted function: ``# long: <reason>``.
MARKER = re.compile(r"#\s*long:\s*\S")
#: ``"<path under tfdirectspec/>:<qualified name>"`` -> why it stays long. None today.
EXEMPT: dict[str, str] = {}

PACKAGE = Path(tfdirectspec.__file__).parent


@dataclass(frozen=True)
class Function:
    key: str  # "path:qualname"
    line: int
    body_lines: int
    marked: bool


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of ``node``'s body without its docstring (0 for a docstring alone)."""
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def _comments(source: str) -> dict[int, str]:
    """Line number -> the comment on that line."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.start[0]: t.string for t in tokens if t.type == tokenize.COMMENT}


def _header_end(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The last line of the ``def`` header (its signature), as far as the AST tells."""
    parts = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
    parts += [a for a in (node.args.vararg, node.args.kwarg, node.returns) if a is not None]
    parts += [d for d in node.args.defaults + node.args.kw_defaults if d is not None]
    return max([node.lineno, *(p.end_lineno for p in parts)])


def is_marked(node: ast.FunctionDef | ast.AsyncFunctionDef, comments: dict[int, str]) -> bool:
    """Whether ``node`` has the marker above its ``def``/decorators or as its first body comment."""
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    if MARKER.match(comments.get(first - 1, "")):
        return True
    inside = sorted(n for n in comments if _header_end(node) < n <= node.end_lineno)
    return bool(inside) and bool(MARKER.match(comments[inside[0]]))


def functions_of(source: str, path: str) -> Iterator[Function]:
    """Every function and method defined in ``source`` (nested ones too)."""
    comments = _comments(source)

    def visit(node: ast.AST, prefix: str) -> Iterator[Function]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                yield Function(
                    f"{path}:{name}", child.lineno, body_lines(child), is_marked(child, comments)
                )
                yield from visit(child, f"{name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    yield from visit(ast.parse(source), "")


def library_functions() -> list[Function]:
    found = []
    for file in sorted(PACKAGE.rglob("*.py")):
        path = file.relative_to(PACKAGE).as_posix()
        found.extend(functions_of(file.read_text(encoding="utf-8"), path))
    return found


FUNCTIONS = library_functions()


def test_the_scan_finds_the_library() -> None:
    keys = {f.key for f in FUNCTIONS}
    assert "training/trainer.py:train" in keys
    assert "tuning/tuner.py:Tune.search" in keys
    assert len(FUNCTIONS) > 500


def test_no_function_is_over_the_limit_without_a_marker() -> None:
    long = [f for f in FUNCTIONS if f.body_lines > MAX_BODY_LINES and not f.marked]
    assert not long, (
        f"functions over {MAX_BODY_LINES} body lines (split them, or mark them "
        "'# long: <reason>' and list them in EXEMPT):\n"
        + "\n".join(f"  {f.key} (line {f.line}): {f.body_lines} lines" for f in long)
    )


def test_the_markers_are_exactly_the_listed_exemptions() -> None:
    marked = {f.key: f for f in FUNCTIONS if f.marked}
    assert set(marked) == set(EXEMPT), (
        f"marked: {sorted(marked)}; listed in EXEMPT: {sorted(EXEMPT)}"
    )
    within = [k for k, f in marked.items() if f.body_lines <= MAX_BODY_LINES]
    assert not within, f"marked '# long:' but within {MAX_BODY_LINES} lines: {within}"
    assert all(reason.strip() for reason in EXEMPT.values())


SAMPLE = '''
def short():
    """A docstring
    of three lines.
    """
    return 1


# long: a reason
@decorator
def above(x):
    a = 1
    b = 2
    return a + b


def inside(
    x,
) -> int:
    # long: another reason
    return x


class Holder:
    def method(self):
        def nested():
            pass

        return nested
'''


def test_the_counter_and_the_markers_on_a_sample() -> None:
    found = {f.key.split(":")[1]: f for f in functions_of(SAMPLE, "sample.py")}
    assert sorted(found) == [
        "Holder.method",
        "Holder.method.<locals>.nested",
        "above",
        "inside",
        "short",
    ]
    assert found["short"].body_lines == 1  # the docstring is not counted
    assert found["above"].body_lines == 3
    assert found["Holder.method"].body_lines == 4
    assert found["above"].marked and found["inside"].marked
    assert not found["short"].marked and not found["Holder.method"].marked
