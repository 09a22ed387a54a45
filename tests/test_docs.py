"""Every code block of the README and the documentation runs as written, at tiny sizes where its directive says so
(`tests/docs_blocks.py`), so a page that drifts from the code fails; blocks that cannot run here (a Hub download,
a GPU cluster, hours of training) are skipped with their reason. Bash blocks run in a shell, Python blocks in a
fresh namespace, both in one working folder per page that sees the checkout's `corpora/` and `benchmarks/`."""

import os
import re
import subprocess
import sys

import pytest
from docs_blocks import ROOT, RUNNABLE, blocks, pages
from system_tools import require

from specformers import quickstart


def working_folder(tmp_path):
    for name in ("corpora", "benchmarks"):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    return tmp_path


def run_block(block, folder):
    code = block.runnable_code()
    if block.language == "bash":
        env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
               "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"{block.where} failed:\n{code}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    else:
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            exec(compile(code, block.where, "exec"), {"__name__": "__main__"})
        finally:
            os.chdir(cwd)


def blocks_to_run(page):
    return [b for b in blocks(page) if b.language in RUNNABLE and b.skip_reason is None]


def launches_several_processes(page):
    return any(re.search(r"accelerate launch|torchrun|--num_processes [2-9]", b.code) for b in blocks_to_run(page))


@pytest.mark.parametrize("page", [
    pytest.param(page, marks=[pytest.mark.several_processes] if launches_several_processes(page) else [])
    for page in pages() if blocks_to_run(page)])
def test_page_code_blocks_run(page, tmp_path):
    folder = working_folder(tmp_path)
    for block in blocks_to_run(page):
        if "corpora/make_corpus.py" in block.code:
            require("espeak-ng")  # the corpus builder's keyword voices
        run_block(block, folder)


def test_every_directive_is_well_formed():
    for page in pages():
        for block in blocks(page):
            block.skip_reason, block.runnable_code()
            assert not block.directives or block.language in RUNNABLE, f"{block.where}: directive on a non-run block"


def test_quickstart_block_lists_the_quickstart_steps():
    """The getting-started page shows the quickstart's commands one by one (skipped in the page test: the quickstart
    test runs them); they must be the ones `quickstart.steps` runs."""
    (block,) = [b for b in blocks("docs/getting-started.md") if "pretrain_asit" in b.code]
    shown = [" ".join(line.split()) for line in block.code.replace("\\\n", " ").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    expected = [" ".join(["python", "-m", module, *map(str, argv)])
                for _, module, argv in quickstart.steps("$C", "$O", 400, 1000, 0)]
    assert shown == expected


def test_links_outside_the_site_resolve():
    """mkdocs --strict checks the site's links; the pages read on their own (README.md, benchmarks/, corpora/) are
    checked here: every relative link names a file of the checkout."""
    for page in ("README.md", "benchmarks/README.md", "corpora/README.md", "corpora/kws_mini/README.md"):
        with open(os.path.join(ROOT, page)) as f:
            targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", f.read())
        for target in targets:
            if not target.startswith(("http://", "https://")):
                assert os.path.exists(os.path.join(ROOT, os.path.dirname(page), target)), f"{page}: {target}"
        assert page != "README.md" or len(targets) >= 15  # the README links every documentation page
