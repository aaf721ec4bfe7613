"""examples/notebook.ipynb executed headless in a real Jupyter kernel (nbclient)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_notebook_downloads_with_a_progress_widget() -> None:
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    download, summary = code[1], code[2]
    assert any(
        "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        for output in download.outputs
    ), "no progress widget was displayed"
    text = "".join(output.get("text", "") for output in summary.outputs)
    assert "41 of 41 files downloaded and verified" in text
