"""The documentation runs: README's Python API example, every block of docs/sam-users.md, the package
docstring's example, and the guide's pdoc command, whose pages must hold the public docstrings.

Blocks run in a temporary folder holding assets/sample_scene.png, as a reader runs them from the
repository root. A line ``EXPR  # -> VALUE`` is checked: EXPR must equal VALUE.
"""

from __future__ import annotations

import html
import inspect
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import sam_edge
from sam_edge.runtime import errors

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GUIDE = REPO / "docs" / "sam-users.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
CHECKED_LINE = re.compile(r"^(?P<indent>\s*)(?P<expr>\S.*?)\s+# -> (?P<value>.+)$")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order."""
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(text)]


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section, up to the next level-2 heading."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else None]


def with_checks(code: str) -> str:
    """``EXPR  # -> VALUE`` lines become assertions (on the same line, so tracebacks point at the doc line)."""
    lines = []
    for line in code.splitlines():
        match = CHECKED_LINE.match(line)
        if match:
            expr, value = match["expr"], match["value"]
            line = (
                f"{match['indent']}_got = ({expr}); "
                f"assert _got == ({value}), {expr!r} + ' gave ' + repr(_got) + ', the doc says ' + {value!r}"
            )
        lines.append(line)
    return "\n".join(lines) + "\n"


def run_blocks(blocks: list[str], source: str) -> dict:
    namespace: dict = {"__name__": "__doc_example__"}
    for index, code in enumerate(blocks):
        exec(compile(with_checks(code), f"{source} block {index + 1}", "exec"), namespace)  # noqa: S102 - our docs
    return namespace


@pytest.fixture
def doc_folder(tmp_path, monkeypatch) -> Path:
    (tmp_path / "assets").mkdir()
    shutil.copy(REPO / "assets" / "sample_scene.png", tmp_path / "assets")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAM_EDGE_THREADS", "2")
    return tmp_path


def test_checked_lines_become_assertions():
    assert with_checks("x = 2\nx + 1   # -> 3\n") == (
        "x = 2\n_got = (x + 1); assert _got == (3), 'x + 1' + ' gave ' + repr(_got) + ', the doc says ' + '3'\n"
    )
    with pytest.raises(AssertionError, match="^x gave 2, the doc says 3$"):
        run_blocks(["x = 2\nx  # -> 3"], "check")


def test_readme_python_api_example_runs(doc_folder):
    blocks = fenced_blocks(section(README.read_text(), "Python API"))
    assert [language for language, _ in blocks] == ["python"]
    names = run_blocks([code for _, code in blocks], "README Python API")
    predictor, decoder_only = names["predictor"], names["decoder_only"]
    assert decoder_only.encoder is None and predictor.metadata.model_type == "nano"
    assert names["result"].masks.shape == (1, 480, 640) and names["result"].stability_scores.shape == (1,)
    assert names["small"].masks.shape == (3, 240, 320) and names["batch"].masks.shape == (2, 1, 480, 640)
    # decoded elsewhere from the saved file == decoded where it was encoded
    expected = predictor.predict(point_coords=[[208, 185]], point_labels=[1])
    np.testing.assert_array_equal(names["masks"], expected.masks)
    np.testing.assert_array_equal(names["scores"], expected.scores)
    assert (doc_folder / "scene.npz").is_file()


def test_every_block_of_the_guide_runs(doc_folder):
    blocks = fenced_blocks(GUIDE.read_text())
    assert {language for language, _ in blocks} == {"python", "bash"}  # nothing else that could go unrun
    python = [code for language, code in blocks if language == "python"]
    assert len(python) >= 10
    names = run_blocks(python, "docs/sam-users.md")
    predictor = names["predictor"]
    expected = predictor.predict(point_coords=[[208, 185]], point_labels=[1])
    np.testing.assert_array_equal(names["masks"], expected.masks)  # the decoder-only machine's masks
    np.testing.assert_array_equal(names["image_embedding"], predictor.features)
    assert names["batch"].masks.shape == (2, 3, 480, 640)


def package_docstring_example() -> str:
    """The indented block after the first ``::`` of sam_edge's docstring."""
    lines = []
    for line in sam_edge.__doc__.split("::\n", 1)[1].splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_package_docstring_example_runs(doc_folder):
    example = package_docstring_example()
    assert "SamPredictor()" in example
    names = run_blocks([example], "sam_edge docstring")
    assert names["masks"].shape == (3, 480, 640)


# The API reference

PUBLIC_MEMBERS = {
    "SamPredictor": [
        "set_image",
        "set_image_embedding",
        "predict",
        "predict_batch",
        "get_image_embedding",
        "image_embedding",
        "features",
        "is_image_set",
        "original_size",
        "input_size",
        "reset_image",
        "predict_torch",
    ],
    "Prediction": ["stability_scores", "prompt"],
    "ImageEmbedding": ["save", "load"],
    "SamEdgeError": [],
}
ERRORS = [
    "SamEdgeError",
    "InvalidInputError",
    "ModelFileError",
    "ModelMismatchError",
    "NoImageSetError",
    "InputFileError",
    "UnsupportedError",
]


class DocstringPages(HTMLParser):
    """Rendered docstring text of a pdoc page, by the id of the member it documents."""

    def __init__(self) -> None:
        super().__init__()
        self.docstrings: dict[str, str] = {}
        self._member = ""
        self._depth = 0  # > 0 while inside a docstring div
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self._depth:
            self._depth += tag == "div"
            return
        if re.fullmatch(r"[A-Za-z_][\w.]*", attributes.get("id") or ""):  # a member, not "L-42" or "Name-view-source"
            self._member = attributes["id"]
        if tag == "div" and "docstring" in (attributes.get("class") or "").split():
            self._depth, self._text = 1, []

    def handle_endtag(self, tag):
        if self._depth and tag == "div":
            self._depth -= 1
            if not self._depth:
                self.docstrings[self._member] = normalized("".join(self._text))

    def handle_data(self, data):
        if self._depth:
            self._text.append(data)


def normalized(text: str) -> str:
    return " ".join(html.unescape(text).replace("``", "").replace("`", "").split())


def first_paragraph(docstring: str) -> str:
    """The docstring's first paragraph as pdoc renders it (reST roles: :meth:`save` shows as save())."""
    text = inspect.cleandoc(docstring).split("\n\n")[0]
    text = re.sub(r":(?:meth|func):`([^`]+)`", r"\1()", text)
    return normalized(re.sub(r":\w+:`([^`]+)`", r"\1", text))


def docstrings_of(page: Path) -> dict[str, str]:
    parser = DocstringPages()
    parser.feed(page.read_text())
    return parser.docstrings


@pytest.fixture(scope="module")
def api_reference(tmp_path_factory) -> Path:
    """The reference built with the guide's own command line (its output folder moved to a temporary one)."""
    commands = [code.strip() for language, code in fenced_blocks(GUIDE.read_text()) if language == "bash"]
    assert len(commands) == 1 and "\n" not in commands[0], commands
    argv = shlex.split(commands[0])
    assert argv[:4] == [".venv/bin/python", "-m", "pdoc", "-o"], argv
    out = tmp_path_factory.mktemp("api")
    argv = [sys.executable, *argv[1:4], str(out), *argv[5:]]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_api_reference_pages_hold_the_public_docstrings(api_reference):
    docstrings = docstrings_of(api_reference / "sam_edge.html")
    assert first_paragraph(sam_edge.__doc__) in next(iter(docstrings.values()))  # the module's, first on the page
    for name, members in PUBLIC_MEMBERS.items():
        value = getattr(sam_edge, name)
        assert first_paragraph(value.__doc__) in docstrings[name], name
        for member in members:
            text = inspect.getattr_static(value, member).__doc__
            assert first_paragraph(text) in docstrings[f"{name}.{member}"], f"{name}.{member}"


def test_api_reference_documents_every_error(api_reference):
    docstrings = docstrings_of(api_reference / "sam_edge" / "runtime" / "errors.html")
    for name in ERRORS:
        assert first_paragraph(getattr(errors, name).__doc__) in docstrings[name], name
