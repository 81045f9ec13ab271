"""RE2 patterns and rewrites (TF's regex_replace / regex_full_match) run with Python's `re`.

Python's `re` agrees with RE2 on the common subset; this module translates the differences
it can and refuses what RE2 would refuse, so a pattern never silently means something else:
  - `$` (without the m flag) matches only at the end, as RE2's, never before a final "\\n";
    RE2's `\\z` becomes Python's `\\Z`; POSIX classes `[[:alpha:]]` become ASCII ranges.
  - `\\d \\w \\s \\b` are ASCII-only, as RE2's (re.ASCII); a side effect: `(?i)` folds case
    only for ASCII letters, where RE2 folds all of Unicode.
  - RE2 has no lookaround `(?=` `(?!` `(?<=` `(?<!` and no backreferences `\\1`: refused
    (InvalidArgumentError), as TF refuses them. RE2's `\\pL` / `\\p{Greek}`, `\\C` and
    `\\Q...\\E` have no `re` form: refused too, naming the construct; so is RE2's U
    (ungreedy) flag (re's "unknown flag"). Python's `\\Z` is accepted, where RE2 has none.
  - A global replace never replaces an empty match right after the previous match (RE2's
    rule: `x*` in "abxd" gives "-a-b-d-", where Python's re.sub gives "-a-b--d-"); a
    pattern that cannot match "" runs on re.sub itself, where the two agree.
Text is matched as UTF-8 (RE2's default); bytes that are not UTF-8 each count as one
character (surrogate escapes) and come back unchanged.
"""

from __future__ import annotations

import functools
import re
import warnings

from xlaflow.errors import InvalidArgumentError

_POSIX = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
          "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
          "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ",
          "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f"}
_MULTILINE = re.compile(r"\(\?[imsU]*m[imsU]*[):]")


def _refuse(pattern, what):
    raise InvalidArgumentError(None, None, f"Invalid pattern: {pattern}, error: {what} is not "
                               "supported by RE2 (TF's regular expressions)")


def _translate(pattern):
    """The Python `re` source that means what RE2 reads in `pattern` (see the module doc)."""
    multiline = _MULTILINE.search(pattern) is not None
    out, i, n, in_class, class_open = [], 0, len(pattern), False, False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "pP":
                _refuse(pattern, f"the Unicode class \\{nxt} in Python's re; spell the "
                        "characters or ranges out")
            if nxt in "CQ":
                _refuse(pattern, f"\\{nxt} in Python's re")
            if not in_class and nxt in "123456789":
                _refuse(pattern, f"the backreference \\{nxt}")
            out.append("\\Z" if nxt == "z" and not in_class else c + nxt)
            i += 2
            continue
        if in_class:
            name = re.match(r"\[:(\^?)([a-z]+):\]", pattern[i:])
            if name and name.group(2) in _POSIX:
                if name.group(1):
                    _refuse(pattern, f"the negated POSIX class {name.group(0)} in Python's re")
                out.append(_POSIX[name.group(2)])
                i += name.end()
                continue
            if c == "]" and not class_open:
                in_class = False
            class_open = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class, class_open = True, True
            out.append(c)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            continue
        if c == "(" and pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            _refuse(pattern, "lookaround (?=, (?!, (?<=, (?<!")
        out.append("\\Z" if c == "$" and not multiline else c)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=256)
def compile_re2(pattern):
    """`pattern` (bytes, RE2 syntax) compiled by Python's re, cached as RE2 objects are."""
    text = pattern.decode("utf-8", "surrogateescape")
    source = _translate(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "possible nested set"
            return re.compile(source, re.ASCII)
    except re.error as error:
        raise InvalidArgumentError(None, None,
                                   f"Invalid pattern: {text}, error: {error}") from None


@functools.lru_cache(maxsize=256)
def parse_rewrite(rewrite, groups, pattern):
    """RE2's rewrite string as pieces: str (literal) or int (a group). `\\0`-`\\9` name
    groups, `\\\\` is a backslash; anything else after a backslash is an error, as RE2's."""
    text = rewrite.decode("utf-8", "surrogateescape")
    pieces, i = [], 0
    while i < len(text):
        j = text.find("\\", i)
        if j < 0:
            pieces.append(text[i:])
            break
        pieces.append(text[i:j])
        nxt = text[j + 1:j + 2]
        if nxt.isdigit() and nxt.isascii():
            if int(nxt) > groups:
                raise InvalidArgumentError(
                    None, None, f"Invalid rewrite pattern: {text} names group \\{nxt} but the "
                    f"pattern {pattern.decode('utf-8', 'replace')} has {groups} group(s)")
            pieces.append(int(nxt))
        elif nxt == "\\":
            pieces.append("\\")
        else:
            raise InvalidArgumentError(
                None, None, f"Invalid rewrite pattern: {text}: a backslash must be followed "
                "by a digit (a group) or another backslash")
        i = j + 2
    return tuple(p for p in pieces if p != "")


def _never_empty(regex):
    """Whether `regex` cannot match the empty string: then re.sub replaces exactly what
    RE2's GlobalReplace does, in C (the rules differ only around empty matches)."""
    try:
        from re import _parser  # Python's own parser: the pattern's minimum width
        return _parser.parse(regex.pattern, regex.flags).getwidth()[0] > 0
    except Exception:  # noqa: BLE001  (a private module: without it, take the slow path)
        return False


@functools.lru_cache(maxsize=256)
def replacer(regex, pieces):
    """A function of one bytes value that does RE2's replace of `regex` by `pieces`."""
    template = "".join(p.replace("\\", "\\\\") if isinstance(p, str) else f"\\g<{p}>"
                       for p in pieces)
    if _never_empty(regex):
        return lambda value: regex.sub(template, value.decode(
            "utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    return None


def _expand(match, pieces):
    return "".join(p if isinstance(p, str) else (match.group(p) or "") for p in pieces)


def replace(value, regex, pieces, replace_global):
    """`value` (bytes) with RE2::GlobalReplace's (or Replace's, the first match only)
    result of `regex` and the parsed rewrite `pieces`."""
    text = value.decode("utf-8", "surrogateescape")
    out, pos, last_end, count = [], 0, -1, 0
    while pos <= len(text):
        match = regex.search(text, pos)
        if match is None:
            break
        start, end = match.span()
        out.append(text[pos:start])
        if start == end and start == last_end:  # RE2: no empty match where the last ended
            if start < len(text):
                out.append(text[start])
            pos = start + 1
            continue
        out.append(_expand(match, pieces))
        pos = last_end = end
        count += 1
        if not replace_global:
            break
    if count == 0:
        return value
    out.append(text[pos:])
    return "".join(out).encode("utf-8", "surrogateescape")


def full_match(value, regex):
    """Whether all of `value` (bytes) matches `regex`, as RE2::FullMatch."""
    return regex.fullmatch(value.decode("utf-8", "surrogateescape")) is not None
