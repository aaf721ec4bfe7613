"""examples/notebook.ipynb executed headless in a real Jupyter kernel (nbclient)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def widget_text(notebook: Any, model_id: str) -> str:
    """What the progress widget (an ipywidgets Output) shows at the end: its last frame."""
    state = notebook.metadata["widgets"][WIDGET_STATE]["state"][model_id]["state"]
    outputs = state.get("outputs", [])
    return outputs[-1].get("data", {}).get("text/plain", "") if outputs else ""


def test_notebook_downloads_with_a_progress_widget() -> None:
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        store_widget_state=True,
        resources={"metadata": {"path": str(EXAMPLES)}},
    ).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    download, summary = code[1], code[2]
    widgets = [o["data"][WIDGET_VIEW] for o in download.outputs if WIDGET_VIEW in o.get("data", {})]
    assert widgets, "no progress widget was displayed"
    final = widget_text(notebook, widgets[0]["model_id"])
    assert "41/41 files" in final, f"the widget stopped at a middle frame: {final!r}"
    assert "27.8/27.8 MiB" in final
    text = "".join(output.get("text", "") for output in summary.outputs)
    assert "41 of 41 files downloaded and verified" in text
