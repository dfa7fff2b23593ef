"""The Python snippets of the cloud service's compute-targets page, with only
their imports changed from ``azureml`` to ``portal_sdk``."""

import re
import textwrap
from pathlib import Path

PAGE_CANDIDATES = (
    Path(__file__).parent / "compute-targets-docs-page.md",
    Path("/work/shared/reference/compute-targets-docs-page.md"),
)
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
IMPORT = re.compile(r"^(\s*)(from|import)\s+azureml\b")
# The notebooks these snippets come from start with ``import azureml.core`` and
# ``from azureml.core import Workspace, Experiment, ScriptRunConfig`` (the page's
# snippets use those names without importing them); these are the same cells,
# imports changed. ``as azureml`` binds the name ``azureml.core.runconfig...`` uses.
NOTEBOOK_IMPORT = (
    "import portal_sdk as azureml\nfrom portal_sdk.core import Experiment, ScriptRunConfig, Workspace\n"
)


def page_text() -> str:
    for path in PAGE_CANDIDATES:
        if path.is_file():
            return path.read_text()
    raise FileNotFoundError("the docs page")


def code_blocks(text: str) -> list[str]:
    """Each python block, dedented. A block ends at its closing fence, or (the page
    leaves one open) at the first line indented less than its opening fence."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or match.group(2) not in ("python", "pyghon"):
            i += 1
            continue
        indent, body = len(match.group(1)), []
        i += 1
        while i < len(lines):
            line = lines[i]
            if FENCE.match(line) or (line.strip() and len(line) - len(line.lstrip()) < indent):
                break
            body.append(line)
            i += 1
        if i < len(lines) and FENCE.match(lines[i]) and not FENCE.match(lines[i]).group(2):
            i += 1  # its closing fence
        blocks.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return blocks


def port_imports(code: str) -> str:
    """Only the import lines change: azureml -> portal_sdk."""
    return "".join(
        line.replace("azureml", "portal_sdk", 1) if IMPORT.match(line) else line
        for line in code.splitlines(keepends=True)
    )


def snippet(containing: str) -> str:
    """The one block holding ``containing``, its imports ported."""
    found = [b for b in code_blocks(page_text()) if containing in b]
    assert len(found) == 1, f"{len(found)} blocks hold {containing!r}"
    return port_imports(found[0])
