"""Docs that stay true: every command line in the README and ``docs/`` parses, every relative link resolves.

1. Every ``python -m nni_autotsnet...`` line of ``README.md`` and ``docs/**/*.md`` (fenced code blocks and
   inline code; backslash-continued lines joined; shell prompts, comments, pipes and ``&`` cut off), and
   every ``python benchmarks/NAME.py`` line, is parsed by the command's own argparse parser: the test
   runs the command's real ``main(argv)`` with ``argparse.ArgumentParser.parse_args`` replaced by the real
   parse followed by a private exception, so nothing after the parse runs, and no command needs to know
   about the test. A subcommand (``data check``, ``latency profile``, ``config show``) reaches its own
   parser the same way. An unknown flag (an abbreviated one too), a bad choice, a value of the wrong
   type or an unknown subcommand fails the test, naming the file and the line.

   What a synopsis writes is read as a shell would not, on purpose, and only where it must be:

   * ``[...]`` (optional parts) lose their brackets, keeping what they hold; ``...`` (repetition) is
     dropped, except as the value of an option that takes one (``--arch ...``: an elided value);
   * ``a|b|c`` inside one word lists alternatives: each is parsed in turn (so each must be valid);
   * an upper-case placeholder (``N``, ``DIR``, ``ARCH.json``) given to an option whose type or choices
     cannot take it is replaced by a valid sample value (``1``, or the option's first choice); the option
     name is still checked;
   * required arguments are not required here: prose names a command with only the flags it is about
     (``python -m nni_autotsnet.export SEARCH_DIR --rank R``);
   * ``python -m nni_autotsnet.*`` (a wildcard, not a command) is skipped.

2. Every relative link and image (``[text](path)``, ``![alt](path)``, ``<img src=...>``) in the same files
   points to an existing file or folder; an anchor into a markdown file (``#anchor`` alone or
   ``page.md#anchor``) must match one of its headings (GitHub's slugs).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import itertools
import re
import shlex
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from nni_autotsnet.errors import CommandParser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Za-z0-9]+)?$")  # N, DIR, RUN_DIR, ARCH.json, TABLE.json
STOP = {"|", "||", "&", "&&", ";"}  # the command ends here (a pipe, a background job, a list)
COMMAND = re.compile(r"(?:^|[\s(`$])((?:\S*/)?python3?\s+(?:-m\s+nni_autotsnet[\w.*]*|benchmarks/[\w.]+\.py)(?=\s|$).*)")


# ------------------------------------------------------------------------------------------------
# Reading the markdown files
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    file: Path
    number: int
    text: str

    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.number}"


def split_markdown(path: Path) -> tuple[list[Line], list[Line]]:
    """The file's code-block lines (continuations joined) and its prose lines (code blocks left out)."""
    code: list[Line] = []
    prose: list[Line] = []
    fenced = False
    pending: Line | None = None
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(text):
            fenced = not fenced
            pending = None
            prose.append(Line(path, number, ""))  # keeps paragraphs apart
            continue
        if not fenced:
            prose.append(Line(path, number, text))
            continue
        if pending is not None:
            text = pending.text + " " + text.strip()
            number = pending.number
        if text.rstrip().endswith("\\"):
            pending = Line(path, number, text.rstrip()[:-1].rstrip())
            continue
        pending = None
        code.append(Line(path, number, text))
    return code, prose


def inline_code(prose: list[Line]) -> list[Line]:
    """Inline code spans of the prose, a span broken over lines joined into one (never across paragraphs)."""
    spans: list[Line] = []
    paragraph: list[Line] = []
    for line in [*prose, Line(prose[0].file if prose else ROOT, 0, "")]:
        if line.text.strip():
            paragraph.append(line)
            continue
        if paragraph:
            text = "\n".join(p.text for p in paragraph)
            starts = list(itertools.accumulate(len(p.text) + 1 for p in paragraph))
            for match in re.finditer(r"(`+)(.+?)\1", text, re.S):
                row = next(i for i, end in enumerate(starts) if match.start() < end)
                spans.append(Line(line.file, paragraph[row].number, match.group(2).replace("\n", " ").strip()))
        paragraph = []
    return spans


def command_lines() -> list[Line]:
    """Every command line of the docs, from ``python`` on."""
    found: list[Line] = []
    for path in DOCS:
        code, prose = split_markdown(path)
        for line in [*code, *inline_code(prose)]:
            match = COMMAND.search(line.text)
            if match:
                found.append(Line(line.file, line.number, match.group(1)))
    return found


def arguments(line: Line) -> tuple[str, list[list[str]]]:
    """The command (module or script) and the argument lists to parse: one per alternative of ``a|b``."""
    try:
        words = shlex.split(line.text, comments=True)
    except ValueError as err:
        pytest.fail(f"{line.where()}: not a shell command line ({err}): {line.text}")
    words = list(itertools.takewhile(lambda w: w not in STOP and not re.match(r"^\d?[<>]", w), words))
    if words[1] == "-m":
        target, words = words[2], words[3:]
    else:
        target, words = words[1], words[2:]
    args: list[str] = []
    for word in words:
        # a synopsis's brackets ("[--weights]", "[--top", "N]"), not a value's ("key=[1, 2]")
        while word.startswith("["):
            word = word[1:]
        while word.endswith("]") and word.count("]") > word.count("["):
            word = word[:-1]
        if word.endswith("...") and word != "...":  # "PATH...": one or more
            word = word[:-3]
        if word:
            args.append(word)
    choices = [w.split("|") if "|" in w else [w] for w in args]
    variants = {tuple(c[0] for c in choices)}
    for i, alternatives in enumerate(choices):
        for alternative in alternatives[1:]:
            variants.add(tuple(alternative if j == i else c[0] for j, c in enumerate(choices)))
    return target, [list(v) for v in sorted(variants)]


# ------------------------------------------------------------------------------------------------
# Parsing with the command's own parser
# ------------------------------------------------------------------------------------------------
class _Parsed(BaseException):
    """The real parse succeeded; raised instead of running the command (a BaseException: no handler eats it)."""


class _Usage(BaseException):
    """The real parse failed: argparse's error message."""


def _parsers(parser: argparse.ArgumentParser, args: list[str]) -> list[argparse.ArgumentParser]:
    """The parser and the parser of the subcommand ``args`` names (e.g. ``latency profile``)."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = next((a for a in args if a in action.choices), None)
            if chosen is not None:
                found += _parsers(action.choices[chosen], args)
    return found


def _sample(action: argparse.Action, value: str) -> str:
    """``value``, or a valid stand-in when it is a placeholder the option's type or choices cannot take."""
    if not PLACEHOLDER.match(value) and value != "...":
        return value
    try:
        converted = action.type(value) if callable(action.type) else value
        if action.choices is None or converted in action.choices:
            return value
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        pass
    if action.choices is not None:
        return str(next(iter(action.choices)))
    return "1" if action.type in (int, float) else value


def _relaxed(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """Make nothing required (prose names partial command lines) and stand in for typed placeholders."""
    parsers = _parsers(parser, args)
    actions = [action for p in parsers for action in p._actions]
    for p in parsers:
        p.allow_abbrev = False  # the docs spell flags out: `--epoch` for `--epochs` would only work by luck
    for action in actions:
        action.required = False
    options = {s: a for a in actions for s in a.option_strings}
    out: list[str] = []
    for word in args:  # "...": an elided value after an option that takes one ("--arch ..."), else repetition
        takes_value = bool(out) and out[-1] in options and options[out[-1]].nargs != 0
        if word != "..." or takes_value:
            out.append(word)
    for i, word in enumerate(out):
        name, eq, value = word.partition("=")
        action = options.get(name)
        if action is None or action.nargs == 0:
            continue
        if eq:
            out[i] = f"{name}={_sample(action, value)}"
        elif action.nargs in (None, 1, "?") and i + 1 < len(out) and not out[i + 1].startswith("-"):
            out[i + 1] = _sample(action, out[i + 1])
    return out


@pytest.fixture
def parse_only(monkeypatch):
    """Replace argparse's entry points so that a command parses its arguments and stops there."""
    state = {"in_parse_args": 0, "depth": 0}
    parse_args = argparse.ArgumentParser.parse_args
    parse_known_args = argparse.ArgumentParser.parse_known_args

    def fake_parse_args(self, args=None, namespace=None):
        args = _relaxed(self, list(sys.argv[1:] if args is None else args))
        state["in_parse_args"] += 1
        try:
            namespace = parse_args(self, args, namespace)
        finally:
            state["in_parse_args"] -= 1
        raise _Parsed(namespace)

    def fake_parse_known_args(self, args=None, namespace=None):
        outer = state["depth"] == 0 and not state["in_parse_args"]
        if outer:  # a command that parses with parse_known_args itself
            args = _relaxed(self, list(sys.argv[1:] if args is None else args))
        state["depth"] += 1
        try:
            result = parse_known_args(self, args, namespace)
        finally:
            state["depth"] -= 1
        if outer:
            raise _Parsed(result)
        return result

    def fake_error(self, message):
        raise _Usage(f"{self.prog}: {message}")

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", fake_parse_args)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", fake_parse_known_args)
    monkeypatch.setattr(argparse.ArgumentParser, "error", fake_error)
    monkeypatch.setattr(CommandParser, "error", fake_error)
    monkeypatch.setattr(sys, "path", list(sys.path))  # benchmarks/ scripts put their folder first
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:  # sibling scripts imported by a script (bench_parsec, compare_tiny)
        if (ROOT / "benchmarks" / f"{name}.py").is_file():
            del sys.modules[name]


def main_of(target: str):
    """The ``main`` a command line runs: a module's, a package's ``__main__``'s, or a benchmark script's."""
    if target.endswith(".py"):
        path = ROOT / target
        if not path.is_file():
            pytest.fail(f"{target}: no such script")
        spec = importlib.util.spec_from_file_location(f"_docs_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.main
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError:
        pytest.fail(f"python -m {target}: no such module")
    if hasattr(module, "__path__"):  # a package runs its __main__.py, which may take main from a sibling
        source = Path(module.__path__[0]) / "__main__.py"
        if not source.is_file():
            pytest.fail(f"python -m {target}: the package has no __main__.py")
        tree = ast.parse(source.read_text())
        defines = any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
        sibling = next((n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 1
                        and any(a.name == "main" for a in n.names)), None)
        if not defines and sibling is None:
            pytest.fail(f"python -m {target}: its __main__.py has no main")
        module = importlib.import_module(f"{target}.__main__" if defines else f"{target}.{sibling}")
    return module.main


def parse(target: str, argv: list[str], monkeypatch) -> str | None:
    """None when ``argv`` parses, else what went wrong."""
    main = main_of(target)
    takes_argv = bool(inspect.signature(main).parameters)
    if not takes_argv:
        monkeypatch.setattr(sys, "argv", [target, *argv])
    try:
        status = main(argv) if takes_argv else main()
    except _Parsed:
        return None
    except _Usage as err:
        return str(err)
    if status == 0 and any(a in ("-h", "--help") for a in argv):
        return None
    return f"the command returned {status!r} before reaching its parser (an unknown subcommand?)"


COMMANDS = command_lines()


def test_the_docs_hold_commands():
    """The extraction finds what it should (a guard against a regex that silently matches nothing)."""
    targets = {arguments(line)[0] for line in COMMANDS}
    for module in ("nni_autotsnet.search", "nni_autotsnet.train", "nni_autotsnet.export", "nni_autotsnet.evaluate",
                   "nni_autotsnet.predict", "nni_autotsnet.data", "nni_autotsnet.latency", "nni_autotsnet.config"):
        assert module in targets, f"no `python -m {module}` line in the README or docs/"


@pytest.mark.parametrize("line", COMMANDS, ids=lambda line: line.where())
def test_command_line_parses(line, parse_only, monkeypatch):
    target, variants = arguments(line)
    if "*" in target:  # `python -m nni_autotsnet.*`: every command, not one
        return
    for argv in variants:
        problem = parse(target, argv, monkeypatch)
        assert problem is None, f"{line.where()}: `{line.text}`: {problem}"


def test_a_made_up_flag_fails(parse_only, monkeypatch):
    """The check above can fail: an unknown flag, a bad choice and an unknown subcommand are caught."""
    assert "unrecognized arguments: --no-such-flag" in parse("nni_autotsnet.search", ["--config", "x.yaml",
                                                                                     "--no-such-flag"], monkeypatch)
    assert "invalid choice" in parse("nni_autotsnet.predict", ["--checkpoint", "RUN", "v.mp4", "--backend", "tf"],
                                     monkeypatch)
    assert "before reaching its parser" in parse("nni_autotsnet.data", ["chek", "PATH"], monkeypatch)
    assert "unrecognized" in parse("nni_autotsnet.latency", ["profile", "--preset", "tiny", "--out", "T.json",
                                                             "--bogus"], monkeypatch)
    assert "unrecognized arguments: --epoch" in parse("benchmarks/generalise.py", ["--epoch", "30"], monkeypatch)
    assert parse("nni_autotsnet.data", ["check", "PATH", "--split-number", "N"], monkeypatch) is None
    line = Line(ROOT / "README.md", 1, "python -m nni_autotsnet.evaluate --checkpoint RUN [--views 1] [--bad X]")
    target, [argv] = arguments(line)
    assert argv == ["--checkpoint", "RUN", "--views", "1", "--bad", "X"]
    assert "unrecognized arguments: --bad X" in parse(target, argv, monkeypatch)


# ------------------------------------------------------------------------------------------------
# Links and images
# ------------------------------------------------------------------------------------------------
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
HTML = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.I)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    _, prose = split_markdown(path)
    for line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line.text)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    _, prose = split_markdown(path)
    for line in prose:
        text = re.sub(r"(`+).+?\1", "", line.text)  # inline code is not a link
        for pattern in (LINK, REFERENCE, HTML):
            found += [(line.number, m.group(1)) for m in pattern.finditer(text)]
    return found


LINKS = [(path, number, target) for path in DOCS for number, target in links(path)
         if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)]  # http:, https:, mailto: are not checked


def test_the_docs_hold_links():
    assert any(target.endswith(".png") for _, _, target in LINKS) and any("docs/" in t for _, _, t in LINKS)


@pytest.mark.parametrize("path,number,target", LINKS,
                         ids=[f"{p.relative_to(ROOT)}:{n}:{t}" for p, n, t in LINKS])
def test_relative_link_resolves(path, number, target):
    file, _, anchor = target.partition("#")
    where = f"{path.relative_to(ROOT)}:{number}: link {target!r}"
    resolved = (path.parent / file).resolve() if file else path
    assert resolved.exists(), f"{where}: {resolved.relative_to(ROOT) if ROOT in resolved.parents else resolved} " \
                              "does not exist"
    if anchor and resolved.suffix == ".md":
        assert anchor in anchors(resolved), f"{where}: no heading of {resolved.name} has the anchor #{anchor}"
