"""The text grammar of a model description, and the values and errors it produces.

    spec   := [input] layer+            input := "input" "(" INT ("," INT)* ")"
    layer  := NAME [ "(" [arg ("," arg)*] ")" ]
    arg    := value | NAME "=" value     value := NUMBER | NAME | NAME "(" NUMBER ("," NUMBER)* ")"

This module knows the syntax only: which names are layers, and what a layer is, come from `layerlab.spec`
(the one model description), which calls `Parser.model` with its layer names and its layer builder.
A mistake is reported as a `SpecError` with the text and a pointer under the offending token.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import LayerlabError


class SpecError(LayerlabError, ValueError):
    """A model description that cannot be parsed or does not fit its input shape."""


@dataclass(frozen=True)
class Call:
    """A named value with arguments, such as the initialiser ``normal(0.01)``."""

    name: str
    args: tuple[float, ...] = ()

    def __str__(self) -> str:
        return self.name if not self.args else f"{self.name}({', '.join(format_value(a) for a in self.args)})"


def format_value(value: Any) -> str:
    """A value as the text form writes it (``true``, ``0.5``, ``3.0``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e16 else f"{value:.1f}"
    return str(value)


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """`` (did you mean 'relu'?)`` for the closest of ``names``, or an empty string."""
    close = difflib.get_close_matches(word, list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),=])"
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "punct", "end"
    text: str
    pos: int


class Parser:
    """A recursive-descent parser of the model grammar: tokenises ``text`` at once, then reads calls
    such as ``dense(128, init=he_normal)``; errors point at the offending characters."""

    def __init__(self, text: str):
        self.text = text
        self.tokens: list[_Token] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                self._fail(pos, 1, f"unexpected character {text[pos]!r}", "a layer name, a number, or one of ( ) , =")
            if m.lastgroup != "space":
                self.tokens.append(_Token(m.lastgroup, m.group(), pos))
            pos = m.end()
        self.tokens.append(_Token("end", "", len(text)))
        self.i = 0

    def _fail(self, pos: int, width: int, problem: str, expected: str) -> None:
        pointer = " " * pos + "^" * max(1, width)
        raise SpecError(f"{problem} at column {pos + 1}\n  {self.text}\n  {pointer}\n  expected {expected}")

    def _peek(self) -> _Token:
        return self.tokens[self.i]

    def _next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _expect(self, text: str, expected: str) -> _Token:
        tok = self._next()
        if tok.text != text:
            self._fail(tok.pos, len(tok.text), f"unexpected {_describe(tok)}", expected)
        return tok

    def model(
        self, names: Mapping[str, str], build: Callable[[str, list, dict], Any], usage: Callable[[str], str]
    ) -> tuple[tuple[int, ...] | None, list]:
        """``[input] layer+``: the input shape (None without ``input(...)``) and the built layers.

        ``names`` maps each accepted name to its canonical one, ``build(name, args, kwargs)`` makes a layer
        (raising `SpecError` for bad arguments) and ``usage(name)`` is its signature, shown as what was expected.
        """
        if self._peek().kind == "end":
            self._fail(0, 1, "empty model", "at least one layer, e.g. `dense(10)`")
        shape = None
        if self._peek().text == "input":
            shape = self._input()
        layers = []
        while self._peek().kind != "end":
            layers.append(self._item(names, build, usage))
        if not layers:
            self._fail(len(self.text), 1, "no layers after input(...)", "at least one layer")
        return shape, layers

    def _input(self) -> tuple[int, ...]:
        start = self._next()
        self._expect("(", "'(' after input, e.g. input(1, 28, 28)")
        dims = []
        while True:
            tok = self._next()
            if tok.kind != "number" or not re.fullmatch(r"\d+", tok.text) or int(tok.text) < 1:
                self._fail(
                    tok.pos, len(tok.text), f"unexpected {_describe(tok)} in input(...)", "a positive whole number"
                )
            dims.append(int(tok.text))
            sep = self._next()
            if sep.text == ")":
                break
            if sep.text != ",":
                self._fail(sep.pos, len(sep.text), f"unexpected {_describe(sep)}", "',' or ')'")
        if len(dims) not in (1, 3):
            self._fail(
                start.pos,
                self.tokens[self.i - 1].pos - start.pos + 1,
                "input(...) has the wrong number of sizes",
                "input(features) or input(channels, height, width)",
            )
        return tuple(dims)

    def _item(
        self, names: Mapping[str, str], build: Callable[[str, list, dict], Any], usage: Callable[[str], str]
    ) -> Any:
        tok, name, args, kwargs = self._call(names, "layer", "conv, dense, relu")
        try:
            return build(name, args, kwargs)
        except SpecError as e:
            end = self.tokens[self.i - 1]
            self._fail(tok.pos, end.pos + len(end.text) - tok.pos, str(e), usage(name))
            raise  # unreachable: _fail raises

    def _call(self, names: Mapping[str, str], what: str, examples: str) -> tuple[_Token, str, list, dict]:
        """NAME [ "(" args ")" ] with NAME one of ``names`` (mapped to its canonical name)."""
        tok = self._next()
        if tok.kind != "name":
            self._fail(tok.pos, len(tok.text), f"unexpected {_describe(tok)}", f"a {what} name such as {examples}")
        if tok.text not in names:
            self._fail(
                tok.pos,
                len(tok.text),
                f"unknown {what} {tok.text!r}{did_you_mean(tok.text, names)}",
                "one of: " + ", ".join(dict.fromkeys(names.values())),
            )
        name = names[tok.text]
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        if self._peek().text == "(":
            self._next()
            while self._peek().text != ")":
                arg_tok = self._peek()
                if arg_tok.kind == "name" and self.tokens[self.i + 1].text == "=":
                    self.i += 2
                    kwargs[arg_tok.text] = self._value()
                elif kwargs:
                    self._fail(
                        arg_tok.pos, len(arg_tok.text), "a positional argument after a keyword argument", "name=value"
                    )
                else:
                    args.append(self._value())
                sep = self._peek()
                if sep.text == ",":
                    self._next()
                elif sep.text != ")":
                    self._fail(sep.pos, len(sep.text), f"unexpected {_describe(sep)} in {name}(...)", "',' or ')'")
            self._next()
        return tok, name, args, kwargs

    def calls(self, names: Mapping[str, str], what: str, examples: str) -> list[tuple[str, list, dict]]:
        result = []
        while self._peek().kind != "end":
            _, name, args, kwargs = self._call(names, what, examples)
            result.append((name, args, kwargs))
        return result

    def _value(self) -> Any:
        tok = self._next()
        if tok.kind == "number":
            return float(tok.text) if re.search(r"[.eE]", tok.text) else int(tok.text)
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                return tok.text == "true"
            if self._peek().text == "(":
                self._next()
                numbers = []
                while self._peek().text != ")":
                    num = self._next()
                    if num.kind != "number":
                        self._fail(num.pos, len(num.text), f"unexpected {_describe(num)}", "a number")
                    numbers.append(float(num.text))
                    if self._peek().text == ",":
                        self._next()
                self._next()
                return Call(tok.text, tuple(numbers))
            return tok.text
        self._fail(tok.pos, len(tok.text), f"unexpected {_describe(tok)}", "a value (a number or a name)")
        raise AssertionError  # unreachable


def _describe(tok: _Token) -> str:
    return "end of text" if tok.kind == "end" else f"{tok.text!r}"
