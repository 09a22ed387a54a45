"""The code blocks of the README and the documentation pages, and the `docs-test` directives that say how the test
suite runs them.

A directive is an HTML comment on the line(s) right before a fenced block (invisible on the rendered page):

    <!-- docs-test: skip -- why it cannot run here -->       not run; the reason is required
    <!-- docs-test: set --max_steps 2 --jobs 1 -->           each flag's value replaced, so the block runs at tiny size
    <!-- docs-test: replace checkpoint-400 => checkpoint-2 --> a literal replacement

`set` and `replace` must change something: a directive that no longer matches its block fails the test.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNABLE = ("python", "bash")
_DIRECTIVE = re.compile(r"^<!-- docs-test: (.*) -->$")
_FENCE = re.compile(r"^```(\S*)\s*$")


def pages() -> list[str]:
    """Every page whose blocks are run, relative to the repository root."""
    found = ["README.md", "benchmarks/README.md", "corpora/README.md", "corpora/kws_mini/README.md"]
    found += sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"),
                                                                 recursive=True))
    return found


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    directives: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        for directive in self.directives:
            if directive.startswith("skip"):
                reason = directive.partition("--")[2].strip()
                if not reason:
                    raise ValueError(f"{self.where}: a skip directive needs a reason (`skip -- why`)")
                return reason
        return None

    def runnable_code(self) -> str:
        """The code with the block's `set` and `replace` directives applied."""
        code = self.code
        for directive in self.directives:
            verb, _, rest = directive.partition(" ")
            if verb == "set":
                words = rest.split()
                for flag, value in zip(words[::2], words[1::2]):
                    code, count = re.subn(rf"(?<=\s){re.escape(flag)}(\s+)\S+", rf"{flag}\g<1>{value}", code)
                    if not count:
                        raise ValueError(f"{self.where}: `set {flag}` matches nothing in the block")
            elif verb == "replace":
                old, _, new = rest.partition(" => ")
                if old not in code:
                    raise ValueError(f"{self.where}: `replace {old}` matches nothing in the block")
                code = code.replace(old, new)
            elif verb != "skip":
                raise ValueError(f"{self.where}: unknown docs-test directive {directive!r}")
        return code


def blocks(page: str) -> list[Block]:
    """The fenced blocks of a page, each with the directives written right before it."""
    with open(os.path.join(ROOT, page)) as f:
        lines = f.read().splitlines()
    found, pending, i = [], [], 0
    while i < len(lines):
        directive, fence = _DIRECTIVE.match(lines[i].strip()), _FENCE.match(lines[i])
        if directive:
            pending.append(directive.group(1).strip())
        elif fence:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```"), None)
            if end is None:
                raise ValueError(f"{page}:{i + 1}: a code block is never closed")
            found.append(Block(page, i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n", pending))
            pending, i = [], end
        elif lines[i].startswith((" ", "\t")) and lines[i].lstrip().startswith("```"):
            raise ValueError(f"{page}:{i + 1}: put code fences at the start of the line, so that the test sees them")
        elif pending:
            raise ValueError(f"{page}:{i + 1}: a docs-test directive must come right before a code block")
        i += 1
    return found
