"""RE2 patterns and rewrites (TF's regex_replace / regex_full_match) run with Python's `re`.

Python's `re` agrees with RE2 on the common subset; this module translates the differences
it can and refuses what RE2 would refuse, so a pattern never silently means something else:
  - `$` (without the m flag) matches only at the end, as RE2's, never before a final "\\n";
    RE2's `\\z` becomes Python's `\\Z`; POSIX classes `[[:alpha:]]` become ASCII ranges;
    `\\x{hhhh}` and octal `\\12` become the code point; `\\s` is RE2's [\\t\\n\\f\\r ] (no
    \\v); a `{` that starts no `{n}`, `{n,}`, `{n,m}` is a literal (Python reads `{,n}`);
    a flag group `(?i)` lasts to the end of its enclosing group, as RE2's, anywhere.
  - `\\d \\w \\b` are ASCII-only, as RE2's (re.ASCII); a side effect: `(?i)` folds case
    only for ASCII letters, where RE2 folds all of Unicode.
  - What RE2 refuses is refused (InvalidArgumentError), as TF refuses it: lookaround,
    backreferences `\\1`, Python's own `(?#`, `(?>`, `(?(`, `(?P=`, flags other than
    i m s, `\\Z \\u \\U \\N`, possessive `*+`, repeats over 1000. RE2's `\\pL` /
    `\\p{Greek}`, `\\C`, `\\Q...\\E` and the U (ungreedy) flag have no `re` form: refused
    too, naming the construct.
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


_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")  # RE2's {n} {n,} {n,m}; any other { is literal
_GROUP = re.compile(r"\(\?(?:P<|([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)]))")
_RE2_SPACE = "\\t\\n\\f\\r "  # RE2's \s: no \v (Python's ASCII \s has it)


def _escape(pattern, i, in_class):
    """The Python form of the escape at pattern[i] ("\\" and what follows) and its length."""
    nxt = pattern[i + 1]
    if nxt in "pP":
        _refuse(pattern, f"the Unicode class \\{nxt} in Python's re; spell the characters "
                "or ranges out")
    if nxt in "CQ":
        _refuse(pattern, f"\\{nxt} in Python's re")
    if nxt in "ZuUN":  # Python's, not RE2's ("invalid escape sequence" there)
        _refuse(pattern, f"the escape \\{nxt} (RE2 spells the end of text \\z, a code "
                "point \\x{hhhh})")
    if nxt == "x" and pattern.startswith("{", i + 2):  # RE2's \x{hhhh}
        close = pattern.find("}", i + 3)
        digits = pattern[i + 3:close] if close > 0 else ""
        if not digits or len(digits) > 8 or any(c not in "0123456789abcdefABCDEF"
                                                for c in digits) \
                or int(digits, 16) > 0x10FFFF:
            _refuse(pattern, f"the escape {pattern[i:close + 1 or None]}")
        return f"\\U{int(digits, 16):08x}", close + 1 - i
    octal = re.match(r"[1-7][0-7]{1,2}", pattern[i + 1:])
    if octal:  # RE2: \12 is octal (Python would read a backreference)
        return f"\\U{int(octal.group(0), 8):08x}", 1 + octal.end()
    if nxt in "123456789" and not in_class:
        _refuse(pattern, f"the backreference \\{nxt}")
    if nxt == "z" and not in_class:
        return "\\Z", 2
    if nxt == "s":
        return (_RE2_SPACE if in_class else f"[{_RE2_SPACE}]"), 2
    if nxt == "S":  # in a class: Python's \S and \v, which together are RE2's \S
        return ("\\S\\v" if in_class else f"[^{_RE2_SPACE}]"), 2
    return pattern[i:i + 2], 2


def _translate(pattern):
    """The Python `re` source that means what RE2 reads in `pattern` (see the module doc)."""
    multiline = _MULTILINE.search(pattern) is not None
    out, i, n, in_class, class_open = [], 0, len(pattern), False, False
    scoped = [[]]  # per open group: the (?flags) set inside it, which last to its end
    repeated = ""  # the repetition just written ("*", "*?", ...): one more is an error
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            text, size = _escape(pattern, i, in_class)
            out.append(text)
            i += size
            repeated = ""
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
        if c in "*+?{":
            repeat = _REPEAT.match(pattern, i) if c == "{" else None
            if c == "{" and repeat is None:  # RE2: a literal (Python reads {,n} as 0..n)
                out.append("\\{")
                i += 1
                repeated = ""
                continue
            if repeat and max(int(repeat.group(1)), int(repeat.group(3) or 0)) > 1000:
                _refuse(pattern, f"the repeat count {repeat.group(0)} (RE2's most is 1000)")
            if repeated and not (c == "?" and not repeated.endswith("?")):
                _refuse(pattern, f"the repetition {repeated}{c} (possessive or doubled)")
            token = repeat.group(0) if repeat else c
            out.append(token)
            repeated = repeated + token if repeated else token
            i += len(token)
            continue
        repeated = ""
        if c == "[":
            in_class, class_open = True, True
            out.append(c)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            continue
        if c == "(" and pattern.startswith("(?", i):
            group = _GROUP.match(pattern, i)
            if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
                _refuse(pattern, "lookaround (?=, (?!, (?<=, (?<!")
            flags = group and (group.group(1) or "") + (group.group(2) or "")
            if group is None or (flags and set(flags) - set("imsU")):
                shown = group.group(0) if group else pattern[i:i + 3]
                _refuse(pattern, f"the group {shown} (RE2 knows (?:, (?P<name>, and the "
                        "flags i, m, s, U)")
            if flags and "U" in flags:
                _refuse(pattern, "the ungreedy flag U in Python's re; write the lazy "
                        "repetitions (*?, +?, ??) out")
            if group.group(3) == ")":  # (?i): on to the end of the enclosing group
                spec = group.group(0)[2:-1]
                out.append(f"(?{spec}:")
                scoped[-1].append(spec)
                i = group.end()
                continue
            out.append(group.group(0))
            scoped.append([])
            i = group.end()
            continue
        if c == "(":
            scoped.append([])
        elif c == "|":  # close the scoped flags, and open them again after the "|"
            out.append(")" * len(scoped[-1]) + "|" + "".join(f"(?{f}:" for f in scoped[-1]))
            i += 1
            continue
        elif c == ")" and len(scoped) > 1:
            out.append(")" * len(scoped.pop()))
        out.append("\\Z" if c == "$" and not multiline else c)
        i += 1
    out.append(")" * len(scoped[0]))
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
