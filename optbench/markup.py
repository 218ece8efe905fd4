"""Text shown literally in Markdown: users' names (suites, problems, optimizers, schedules)
and table cells, with the characters Markdown and HTML would interpret escaped."""

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def markdown_literal(text) -> str:
    """``text`` as it reads: Markdown's ``\\ ` * _ [ ] | ~`` backslash-escaped, HTML's
    ``& < >`` as entities (a name with ``|`` no longer splits a table row)."""
    return "".join(_HTML.get(ch) or ("\\" + ch if ch in "\\`*_[]|~" else ch) for ch in str(text))
